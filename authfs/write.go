package authfs

import (
	"context"
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
}

// Upload is an authorised upload; Close publishes it.
type Upload struct {
	*storage.Upload
	ctx context.Context
	s   *Session
	p   vpath.Path
}

// Close publishes the file and remembers it as the session's own. A lock
// another user took while the bytes streamed stops the publish.
func (u *Upload) Close() (storage.Entry, error) {
	if err := u.s.unlocked(u.ctx, "close", u.p, false); err != nil {
		u.Abort()
		return storage.Entry{}, err
	}
	e, err := u.Upload.Close()
	if err == nil {
		u.s.setOwn(u.p, true)
	}
	return e, err
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
	t := target(e, ok)
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
	if err := s.unlocked(ctx, "create", p, false); err != nil {
		return nil, err
	}
	overwrite := authz.Decide(f, grants, authz.ActCreate, p, now, authz.Target{Exists: true, Size: opts.Size})
	u, err := s.fs.store.Create(ctx, p, storage.CreateOptions{
		Exclusive: opts.Exclusive || !overwrite.Allowed,
		MaxSize:   d.MaxSize,
		ModTime:   opts.ModTime,
		By:        s.login,
	})
	if err != nil {
		return nil, err
	}
	return &Upload{Upload: u, ctx: ctx, s: s, p: p}, nil
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
	return s.fs.store.Mkdir(ctx, p, s.login)
}

// Remove deletes a file or an empty folder; with recursive set, a folder
// and everything in it (WebDAV DELETE of a collection).
func (s *Session) Remove(ctx context.Context, p vpath.Path, recursive bool) error {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	if _, err := s.decide(ctx, "remove", authz.ActDelete, p, target(e, ok)); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "remove", p, true); err != nil {
		return err
	}
	if err := s.fs.store.Remove(ctx, p, storage.RemoveOptions{Recursive: recursive}); err != nil {
		return err
	}
	s.setOwn(p, false)
	return nil
}

// Rename moves a file or folder. It needs rename (or delete) on the old
// name and create (overwrite when replacing, mkdir for a folder) on the
// new one; a rename never exposes content the user could not read before.
// With replace unset an existing target is refused.
func (s *Session) Rename(ctx context.Context, from, to vpath.Path, replace bool) error {
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
	_, dstExists, err := s.lookup(ctx, to)
	if err != nil {
		return err
	}
	f, grants, err := s.load(ctx)
	if err != nil {
		return err
	}
	own := s.isOwn(from)
	d := authz.DecideRename(f, grants, from, to, s.fs.now(),
		authz.Target{Dir: src.IsDir(), Exists: true, Size: src.Size, OwnUpload: own}, dstExists)
	if err := s.verdict(ctx, "rename", from, d); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "rename", from, true); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "rename", to, true); err != nil {
		return err
	}
	if err := s.fs.store.Rename(ctx, from, to, replace); err != nil {
		return err
	}
	s.setOwn(from, false)
	s.setOwn(to, own)
	return nil
}

// SetModTime records the client's modification time of an entry.
func (s *Session) SetModTime(ctx context.Context, p vpath.Path, t time.Time) error {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	tg := target(e, ok)
	tg.OwnUpload = s.isOwn(p)
	if _, err := s.decide(ctx, "settime", authz.ActSetTime, p, tg); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "settime", p, false); err != nil {
		return err
	}
	return s.fs.store.SetModTime(ctx, p, t)
}

// DeadProps returns the dead properties of entries the caller obtained
// through this session (Stat or ReadDir), which already decided on them.
func (s *Session) DeadProps(ctx context.Context, ids []int64) (map[int64][]storage.Prop, error) {
	return s.fs.store.DeadProps(ctx, ids)
}

// PatchProps changes dead properties: a change of the entry's metadata,
// allowed like setting its time.
func (s *Session) PatchProps(ctx context.Context, p vpath.Path, set, remove []storage.Prop) error {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	tg := target(e, ok)
	tg.OwnUpload = s.isOwn(p)
	if _, err := s.decide(ctx, "proppatch", authz.ActSetTime, p, tg); err != nil {
		return err
	}
	if err := s.unlocked(ctx, "proppatch", p, false); err != nil {
		return err
	}
	return s.fs.store.PatchProps(ctx, p, set, remove)
}
