package authfs

import (
	"context"
	"errors"
	"time"

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
}

// Upload is an authorised upload; Close publishes it.
type Upload struct {
	*storage.Upload
	ctx  context.Context
	s    *Session
	p    vpath.Path
	opts CreateOptions
}

// Close publishes the file. Nothing is published if the session's access
// was revoked while the bytes streamed, or another user locked the path.
func (u *Upload) Close() (storage.Entry, error) {
	if err := u.s.Alive(u.ctx); err != nil {
		u.Abort()
		return storage.Entry{}, &storage.PathError{Op: "close", Path: u.p.String(), Err: err}
	}
	if err := u.s.unlocked(u.ctx, "close", u.p, false); err != nil {
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
// needs overwrite. When the user may not overwrite, the upload is
// exclusive, so a file that appears meanwhile is not replaced. The largest
// size the grants allow is enforced while the bytes stream.
func (s *Session) Create(ctx context.Context, p vpath.Path, opts CreateOptions) (*Upload, error) {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return nil, err
	}
	t := s.target(e, ok)
	t.Size = opts.Size
	// One load of the facts serves the three questions below.
	f, grants, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	now := s.fs.now()
	d := authz.Decide(f, grants, authz.ActCreate, p, now, t)
	if err := s.verdict(ctx, "create", p, d); err != nil {
		// Refused only for the announced size: say so (HTTP 413).
		if t.Size > 0 && authz.Decide(f, grants, authz.ActCreate, p, now, authz.Target{Exists: ok}).Allowed {
			return nil, &storage.PathError{Op: "create", Path: p.String(), Err: storage.ErrTooLarge}
		}
		return nil, err
	}
	if opts.Precondition != nil {
		if err := opts.Precondition(e, ok && !e.IsDir()); err != nil {
			return nil, err
		}
	}
	if err := s.unlocked(ctx, "create", p, false); err != nil {
		return nil, err
	}
	overwrite := authz.Decide(f, grants, authz.ActCreate, p, now, authz.Target{Exists: true, Size: opts.Size})
	so := storage.CreateOptions{
		Exclusive: opts.Exclusive || !overwrite.Allowed,
		MaxSize:   d.MaxSize,
		ModTime:   opts.ModTime,
		By:        s.p.Login,
	}
	if pre := opts.Precondition; pre != nil {
		so.Guard = func(ctx context.Context, v storage.View) error {
			old, err := v.Stat(ctx, p)
			if err != nil && !errors.Is(err, storage.ErrNotExist) {
				return err
			}
			return pre(old, err == nil)
		}
	}
	u, err := s.fs.store.Create(ctx, p, so)
	if err != nil {
		return nil, err
	}
	return &Upload{Upload: u, ctx: ctx, s: s, p: p, opts: opts}, nil
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
	return s.fs.store.Mkdir(ctx, p, s.p.Login)
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
	return s.refused(ctx, s.fs.store.Remove(ctx, p, storage.RemoveOptions{Recursive: recursive, Guard: guard}))
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
	src, ok, err := s.lookup(ctx, from)
	if err != nil {
		return err
	}
	if !ok {
		// Decide as a stat so a hidden path stays hidden.
		if _, err := s.decide(ctx, "rename", authz.ActStat, from, authz.Target{}); err != nil {
			return err
		}
		return &storage.PathError{Op: "rename", Path: from.String(), Err: storage.ErrNotExist}
	}
	f, grants, err := s.load(ctx)
	if err != nil {
		return err
	}
	now := s.fs.now()
	// Decide once outside, on what the lookup saw, so that a hidden or
	// forbidden source answers before any lock is consulted.
	dst, dstOK, err := s.lookup(ctx, to)
	if err != nil {
		return err
	}
	replacesFile := dstOK && to != from && !dst.IsDir() && !src.IsDir()
	if err := s.verdict(ctx, "rename", from, authz.DecideRename(f, grants, from, to, now, s.target(src, true), replacesFile)); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "rename", from, true); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "rename", to, true); err != nil {
		return err
	}
	guard := func(ctx context.Context, v storage.View) error {
		src, err := v.Stat(ctx, from)
		if err != nil {
			return err
		}
		dst, err := v.Stat(ctx, to)
		if err != nil && !errors.Is(err, storage.ErrNotExist) {
			return err
		}
		dstOK := err == nil && to != from
		if d := authz.DecideRename(f, grants, from, to, now, s.target(src, true), dstOK && !dst.IsDir() && !src.IsDir()); !d.Allowed {
			return &denial{"rename", from, d}
		}
		if dstOK && (dst.IsDir() || src.IsDir()) {
			if err := s.replaceable(ctx, v, f, grants, dst, now); err != nil {
				return err
			}
		}
		if !src.IsDir() || to == from {
			return nil
		}
		return decideTree(ctx, v, "rename", f, grants, authz.TreeMove, from, to, now)
	}
	return s.refused(ctx, s.fs.store.Move(ctx, from, to, storage.MoveOptions{Replace: replace, Guard: guard}))
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
	return s.refused(ctx, s.fs.store.Copy(ctx, from, to, storage.MoveOptions{Replace: replace, Shallow: shallow, By: s.p.Login, Guard: guard}))
}

// SetModTime records the client's modification time of an entry.
func (s *Session) SetModTime(ctx context.Context, p vpath.Path, t time.Time) error {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	if _, err := s.decide(ctx, "settime", authz.ActSetTime, p, s.target(e, ok)); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "settime", p, false); err != nil {
		return err
	}
	return s.fs.store.SetModTime(ctx, p, t)
}

// PatchProps changes dead properties: a change of the entry's metadata,
// allowed like setting its time.
func (s *Session) PatchProps(ctx context.Context, p vpath.Path, set, remove []storage.Prop) error {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	if _, err := s.decide(ctx, "proppatch", authz.ActSetTime, p, s.target(e, ok)); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "proppatch", p, false); err != nil {
		return err
	}
	return s.fs.store.PatchProps(ctx, p, set, remove)
}
