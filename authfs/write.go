package authfs

import (
	"context"
	"errors"
	"time"

	"pier/audit"
	"pier/authz"
	"pier/storage"
	"pier/vpath"
)

// CreateOptions shape an upload through the authorising layer.
type CreateOptions struct {
	// Size is the announced size, when the protocol tells it (WebDAV's
	// Content-Length); 0 means unknown. Limits apply while streaming too.
	Size int64
	// ModTime is the client's modification time; zero means now.
	ModTime time.Time
	// Exclusive refuses to replace an existing file, also one published
	// while this upload runs (SFTP's O_EXCL).
	Exclusive bool
	// Precondition, if set, judges the file the upload would replace
	// (exists false: there is none): before the bytes flow and again in
	// the transaction that publishes them, so a file changed meanwhile is
	// never overwritten (WebDAV If-Match and friends). Its error is
	// returned as it is.
	Precondition func(old storage.Entry, exists bool) error
	// Settle makes the user's provisional lock on the path ordinary once
	// the upload is published (the client wrote under its lock token).
	Settle bool
	// Expect holds the hashes the client sent with the content
	// (storage.CreateOptions.Expect).
	Expect storage.Sums
}

// Upload is an authorised upload; Close publishes it.
type Upload struct {
	*storage.Upload
	ctx      context.Context
	s        *Session
	p        vpath.Path
	opts     CreateOptions
	conflict bool // may end as a conflict copy beside another's file
}

// Close publishes the file. Nothing is published if the session's access
// was revoked while the bytes streamed, or another user locked the path.
func (u *Upload) Close() (storage.Entry, error) {
	if err := u.s.Alive(u.ctx); err != nil {
		u.Abort()
		return storage.Entry{}, &storage.PathError{Op: "close", Path: u.p.String(), Err: err}
	}
	// A lock another holds on the name does not stop an upload that may
	// become a conflict copy beside it; a failure to read the locks does.
	if err := u.s.unlocked(u.ctx, "close", u.p, false); err != nil && !(u.conflict && errors.Is(err, ErrLocked)) {
		u.Abort()
		return storage.Entry{}, err
	}
	e, err := u.Upload.Close()
	if err != nil {
		return e, err
	}
	if u.opts.Settle && u.s.fs.locks != nil {
		if err := u.s.fs.locks.Settle(u.ctx, u.s.p.Login, u.p); err != nil {
			u.s.fs.log.WarnContext(u.ctx, "settle lock", "path", u.p.String(), "err", err)
		}
	}
	return e, nil
}

// Create starts an upload to p: a new file needs create, replacing one
// needs overwrite (or, for the user's own recent upload, create). When
// the user may not overwrite, the upload is exclusive, so a file that
// appears meanwhile is not replaced. In a drop box, a name another user's
// file holds is free to the uploader: the upload is kept beside that file
// as a conflict copy. The largest size the grants allow is enforced while
// the bytes stream.
func (s *Session) Create(ctx context.Context, p vpath.Path, opts CreateOptions) (*Upload, error) {
	// One load of the facts serves every question below.
	f, grants, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	// One read of the name and its folder serves the decision and the
	// store's own early checks.
	_, e, err := s.fs.store.StatIn(ctx, p)
	known := &storage.Known{Entry: e, Err: err}
	if err != nil && !errors.Is(err, storage.ErrNotExist) && !errors.Is(err, storage.ErrNotDir) {
		return nil, err
	}
	sn, err := s.seeEntry(ctx, f, grants, p, e, err == nil)
	if err != nil {
		return nil, err
	}
	t := s.target(sn.e, sn.exists)
	t.Size = opts.Size
	now := s.fs.now()
	d := authz.Decide(f, grants, authz.ActCreate, p, now, t)
	if err := s.verdict(ctx, "create", p, d); err != nil {
		// Refused only for the announced size: say so (HTTP 413).
		if t.Size > 0 && authz.Decide(f, grants, authz.ActCreate, p, now, authz.Target{Exists: sn.exists, OwnUpload: t.OwnUpload}).Allowed {
			return nil, &storage.PathError{Op: "create", Path: p.String(), Err: storage.ErrTooLarge}
		}
		return nil, err
	}
	if opts.Precondition != nil {
		if err := opts.Precondition(sn.e, sn.exists && !sn.e.IsDir()); err != nil {
			return nil, err
		}
	}
	at := p // where the bytes go: the name, or the user's own conflict copy
	if sn.exists {
		at = sn.e.Path
	}
	// Locks are checked again when the upload is published (Close); here
	// only to refuse early, so a node that saw no live lock at all within
	// the last second does not ask.
	if (!sn.taken || sn.exists) && s.fs.locks != nil && !s.fs.locks.Idle(ctx, now) {
		if err := s.unlocked(ctx, "create", at, false); err != nil {
			return nil, err
		}
	}
	overwrite := authz.Decide(f, grants, authz.ActCreate, p, now, authz.Target{Exists: true, Size: opts.Size, OwnUpload: t.OwnUpload})
	so := storage.CreateOptions{
		Exclusive: opts.Exclusive || !overwrite.Allowed || sn.taken && !sn.exists,
		Conflict:  s.hiddenFile(f, grants, now),
		MaxSize:   d.MaxSize,
		ModTime:   opts.ModTime,
		By:        s.p.Login,
		Expect:    opts.Expect,
		Note: s.note(f, audit.Record{Action: audit.Upload}, func(r *audit.Record, e storage.Entry) {
			r.Path, r.Size, r.SHA256, r.Millis = e.Path.String(), e.Size, e.SHA256, time.Since(now).Milliseconds()
			if e.Shadows != "" {
				r.Reason = "kept beside another user's file as a conflict copy of " + e.Shadows
			}
		}),
	}
	if pre := opts.Precondition; pre != nil {
		so.Guard = func(ctx context.Context, v storage.View) error {
			old, err := v.Stat(ctx, at)
			if err != nil && !errors.Is(err, storage.ErrNotExist) {
				return err
			}
			if at == p && err == nil && !s.own(old) && !authz.Decide(f, grants, authz.ActStat, p, now, s.target(old, true)).Visible {
				return pre(storage.Entry{}, false) // someone else's, hidden: free to this user
			}
			return pre(old, err == nil)
		}
	}
	if at == p {
		so.Known = known
	}
	u, err := s.fs.store.Create(ctx, at, so)
	if err != nil {
		return nil, err
	}
	return &Upload{Upload: u, ctx: ctx, s: s, p: at, opts: opts, conflict: sn.taken}, nil
}

// Mkdir creates a folder.
func (s *Session) Mkdir(ctx context.Context, p vpath.Path) error {
	_, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	if _, err := s.decide(ctx, "mkdir", authz.ActMkdir, p, authz.Target{Dir: true, Exists: ok}); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "mkdir", p, false); err != nil {
		return err
	}
	f, _, err := s.load(ctx)
	if err != nil {
		return err
	}
	return s.fs.store.Mkdir(ctx, p, storage.MkdirOptions{By: s.p.Login, Note: s.note(f, audit.Record{Action: audit.Mkdir, Path: p.String()}, nil)})
}

// Remove deletes a file or an empty folder; with recursive set, a folder
// and everything in it (WebDAV DELETE of a collection), provided the user
// may delete every entry below it: the subtree is decided inside the
// transaction that deletes it, so nothing the user may not touch goes.
func (s *Session) Remove(ctx context.Context, p vpath.Path, recursive bool) error {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	if _, err := s.decide(ctx, "remove", authz.ActDelete, p, s.target(e, ok)); err != nil {
		return err
	}
	if !ok {
		return &storage.PathError{Op: "remove", Path: p.String(), Err: storage.ErrNotExist}
	}
	if err := s.unlocked(ctx, "remove", p, true); err != nil {
		return err
	}
	f, grants, err := s.load(ctx)
	if err != nil {
		return err
	}
	now := s.fs.now()
	guard := func(ctx context.Context, v storage.View) error {
		e, err := v.Stat(ctx, p)
		if err != nil {
			return err
		}
		if d := authz.Decide(f, grants, authz.ActDelete, p, now, s.target(e, true)); !d.Allowed {
			return &denial{"remove", p, d}
		}
		if !e.IsDir() || !recursive {
			return nil
		}
		return decideTree(ctx, v, "remove", f, grants, authz.TreeDelete, p, vpath.Root(), now)
	}
	note := s.note(f, audit.Record{Action: audit.Delete, Path: p.String()}, func(r *audit.Record, e storage.Entry) {
		r.Size, r.SHA256 = e.Size, e.SHA256
	})
	return s.refused(ctx, s.fs.store.Remove(ctx, p, storage.RemoveOptions{Recursive: recursive, Guard: guard, Note: note}))
}

// Move renames a file or folder. It needs rename (or delete) on the old
// name and create (overwrite when replacing a file, mkdir for a folder) on
// the new one, for the entry and everything below it; a move never
// exposes content the user could not read before. What replace allows to
// replace goes in the same transaction; a folder replaced (WebDAV
// "Overwrite: T") needs delete on it and everything in it. The decision is
// made inside the transaction, on the target as it is then: a user who
// may create but not overwrite never replaces a file published between a
// check and the move.
func (s *Session) Move(ctx context.Context, from, to vpath.Path, replace storage.Replace) error {
	f, grants, err := s.load(ctx)
	if err != nil {
		return err
	}
	src, err := s.see(ctx, f, grants, from)
	if err != nil {
		return err
	}
	if !src.exists {
		// Decide as a stat so a hidden path stays hidden.
		if _, err := s.decide(ctx, "rename", authz.ActStat, from, authz.Target{}); err != nil {
			return err
		}
		return &storage.PathError{Op: "rename", Path: from.String(), Err: storage.ErrNotExist}
	}
	realFrom := src.e.Path // a conflict copy moves from where it really is
	now := s.fs.now()
	dst, err := s.see(ctx, f, grants, to)
	if err != nil {
		return err
	}
	// A drop box's rename onto a name someone else's file holds keeps its
	// file beside that one, as a conflict copy; so does one onto its own
	// conflict copy.
	conflict := dst.taken && !src.e.IsDir()
	hidden := s.hiddenFile(f, grants, now)
	dstT := func(dst storage.Entry, exists bool) authz.Target {
		if exists && (dst.IsDir() || src.e.IsDir()) {
			return authz.Target{}
		}
		return authz.Target{Exists: exists, OwnUpload: exists && s.own(dst)}
	}
	// Decide once outside, on what the lookup saw, so that a hidden or
	// forbidden source answers before any lock is consulted.
	if err := s.verdict(ctx, "rename", from, authz.DecideRename(f, grants, from, to, now, s.target(src.e, true), dstT(dst.e, dst.exists && !dst.taken))); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "rename", realFrom, true); err != nil {
		return err
	}
	if !conflict {
		if err := s.unlocked(ctx, "rename", to, true); err != nil {
			return err
		}
	}
	guard := func(ctx context.Context, v storage.View) error {
		se, err := v.Stat(ctx, realFrom)
		if err != nil {
			return err
		}
		de, err := v.Stat(ctx, to)
		if err != nil && !errors.Is(err, storage.ErrNotExist) {
			return err
		}
		dstOK := err == nil && to != realFrom
		if dstOK && !se.IsDir() && hidden(de) {
			dstOK = false // someone else's file, hidden: this move ends beside it
		}
		if d := authz.DecideRename(f, grants, from, to, now, s.target(se, true), dstT(de, dstOK)); !d.Allowed {
			return &denial{"rename", from, d}
		}
		if dstOK && (de.IsDir() || se.IsDir()) {
			if err := s.replaceable(ctx, v, f, grants, de, now); err != nil {
				return err
			}
		}
		if !se.IsDir() || to == realFrom {
			return nil
		}
		return decideTree(ctx, v, "rename", f, grants, authz.TreeMove, realFrom, to, now)
	}
	note := s.note(f, audit.Record{Action: audit.Rename, Path: realFrom.String()}, func(r *audit.Record, e storage.Entry) {
		r.To, r.Size, r.SHA256 = e.Path.String(), e.Size, e.SHA256
	})
	return s.refused(ctx, s.fs.store.Move(ctx, realFrom, to, storage.MoveOptions{Replace: replace, Conflict: hidden, By: s.p.Login, Guard: guard, Note: note}))
}

// hiddenFile answers storage.Conflict: a file the session may not see (a
// drop box's view of another user's upload) is never replaced nor
// revealed; what the session writes at its name is kept beside it.
func (s *Session) hiddenFile(f authz.Facts, grants []authz.Grant, now time.Time) storage.Conflict {
	return func(e storage.Entry) bool {
		return !e.IsDir() && !s.own(e) && !authz.Decide(f, grants, authz.ActStat, e.Path, now, s.target(e, true)).Visible
	}
}

// replaceable decides, inside a guard, whether an entry that a move or
// copy replaces may be deleted, with everything below it.
func (s *Session) replaceable(ctx context.Context, v storage.View, f authz.Facts, grants []authz.Grant, dst storage.Entry, now time.Time) error {
	if d := authz.Decide(f, grants, authz.ActDelete, dst.Path, now, s.target(dst, true)); !d.Allowed {
		return &denial{"replace", dst.Path, d}
	}
	if !dst.IsDir() {
		return nil
	}
	return decideTree(ctx, v, "replace", f, grants, authz.TreeDelete, dst.Path, vpath.Root(), now)
}

// Copy copies a file, or a folder with everything below it (shallow: the
// folder alone), without copying bytes. It needs read on every file copied
// (list on a folder copied with its content) and create (mkdir for
// folders) at the new place, overwrite to replace a file, delete to
// replace a folder; all decided inside the transaction that copies.
func (s *Session) Copy(ctx context.Context, from, to vpath.Path, replace storage.Replace, shallow bool) error {
	src, ok, err := s.lookup(ctx, from)
	if err != nil {
		return err
	}
	read := authz.ActRead
	if ok && src.IsDir() {
		read = authz.ActList
		if shallow {
			read = authz.ActStat
		}
	}
	if _, err := s.decide(ctx, "copy", read, from, s.target(src, ok)); err != nil {
		return err
	}
	if !ok {
		return &storage.PathError{Op: "copy", Path: from.String(), Err: storage.ErrNotExist}
	}
	if err := s.unlocked(ctx, "copy", to, true); err != nil {
		return err
	}
	f, grants, err := s.load(ctx)
	if err != nil {
		return err
	}
	now := s.fs.now()
	guard := func(ctx context.Context, v storage.View) error {
		src, err := v.Stat(ctx, from)
		if err != nil {
			return err
		}
		dst, err := v.Stat(ctx, to)
		if err != nil && !errors.Is(err, storage.ErrNotExist) {
			return err
		}
		dstOK := err == nil
		if d := authz.Decide(f, grants, read, from, now, s.target(src, true)); !d.Allowed {
			return &denial{"copy", from, d}
		}
		a, t := authz.ActCreate, authz.Target{Exists: dstOK && !dst.IsDir(), Size: src.Size}
		if src.IsDir() {
			a, t = authz.ActMkdir, authz.Target{Dir: true}
		}
		if d := authz.Decide(f, grants, a, to, now, t); !d.Allowed {
			return &denial{"copy", to, d}
		}
		if dstOK && (dst.IsDir() || src.IsDir()) {
			if err := s.replaceable(ctx, v, f, grants, dst, now); err != nil {
				return err
			}
		}
		if !src.IsDir() || shallow {
			return nil
		}
		return decideTree(ctx, v, "copy", f, grants, authz.TreeCopy, from, to, now)
	}
	note := s.note(f, audit.Record{Action: audit.Copy, Path: from.String(), To: to.String()}, func(r *audit.Record, e storage.Entry) {
		r.Size, r.SHA256 = e.Size, e.SHA256
	})
	return s.refused(ctx, s.fs.store.Copy(ctx, from, to, storage.MoveOptions{Replace: replace, Shallow: shallow, By: s.p.Login, Guard: guard, Note: note}))
}

// SetModTime records the client's modification time of an entry.
func (s *Session) SetModTime(ctx context.Context, p vpath.Path, t time.Time) error {
	at, err := s.decideSeen(ctx, "settime", authz.ActSetTime, p)
	if err != nil {
		return err
	}
	if err := s.unlocked(ctx, "settime", at, false); err != nil {
		return err
	}
	return s.fs.store.SetModTime(ctx, at, t)
}

// decideSeen decides an action on p as the session sees it, and returns
// where the entry it acts on really is (a drop box's conflict copy).
func (s *Session) decideSeen(ctx context.Context, op string, a authz.Action, p vpath.Path) (vpath.Path, error) {
	f, grants, err := s.load(ctx)
	if err != nil {
		return p, &storage.PathError{Op: op, Path: p.String(), Err: err}
	}
	sn, err := s.see(ctx, f, grants, p)
	if err != nil {
		return p, err
	}
	if err := s.verdict(ctx, op, p, authz.Decide(f, grants, a, p, s.fs.now(), s.target(sn.e, sn.exists))); err != nil {
		return p, err
	}
	if !sn.exists {
		return p, &storage.PathError{Op: op, Path: p.String(), Err: storage.ErrNotExist}
	}
	return sn.e.Path, nil
}

// PatchProps changes dead properties: a change of the entry's metadata,
// allowed like setting its time.
func (s *Session) PatchProps(ctx context.Context, p vpath.Path, set, remove []storage.Prop) error {
	at, err := s.decideSeen(ctx, "proppatch", authz.ActSetTime, p)
	if err != nil {
		return err
	}
	if err := s.unlocked(ctx, "proppatch", at, false); err != nil {
		return err
	}
	return s.fs.store.PatchProps(ctx, at, set, remove)
}
