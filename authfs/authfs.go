// Package authfs is the one authorising file system: both front ends (SFTP
// and WebDAV) reach storage only through it. Every operation loads the
// requester's facts, asks authz.Decide before any side effect, checks both
// names of a rename, enforces file-name patterns and size limits while an
// upload streams, and filters listings. A path on which the requester has
// no right at all does not exist for them (fs.ErrNotExist); a path they can
// see but not act on gives fs.ErrPermission.
//
// Errors are *storage.PathError values wrapping fs.ErrNotExist,
// fs.ErrPermission or the storage errors; their text names only the path
// the client sent. Why a request was denied goes to the log.
package authfs

import (
	"context"
	"errors"
	"io/fs"
	"iter"
	"log/slog"
	"sync"
	"time"

	"pier/authz"
	"pier/storage"
	"pier/vpath"
)

// FactsLoader loads what authz decides on; identity.Store implements it.
type FactsLoader interface {
	Facts(ctx context.Context, login string) (authz.Facts, []authz.Grant, error)
}

// Locks tells whether someone else holds a (WebDAV) lock on a path;
// locks.Store implements it. below extends the question to everything
// under the path.
type Locks interface {
	Blocked(ctx context.Context, login string, p vpath.Path, below bool) (bool, error)
}

// ErrLocked refuses a change to a path another user has locked.
var ErrLocked = errors.New("locked by another user")

// FS authorises access to a storage.FS.
type FS struct {
	store *storage.FS
	facts FactsLoader
	locks Locks // nil: no locks
	log   *slog.Logger
	now   func() time.Time
}

// New returns the authorising file system over store. locks may be nil.
func New(store *storage.FS, facts FactsLoader, locks Locks, log *slog.Logger) *FS {
	return &FS{store: store, facts: facts, locks: locks, log: log, now: time.Now}
}

// unlocked refuses a change when another user's lock covers p.
func (s *Session) unlocked(ctx context.Context, op string, p vpath.Path, below bool) error {
	if s.fs.locks == nil {
		return nil
	}
	blocked, err := s.fs.locks.Blocked(ctx, s.login, p, below)
	if err != nil {
		return err
	}
	if blocked {
		return &storage.PathError{Op: op, Path: p.String(), Err: ErrLocked}
	}
	return nil
}

// Session is one user working through one protocol. It remembers the files
// the user uploaded in it, which a drop box may still rename and date.
type Session struct {
	fs    *FS
	login string
	proto authz.Protocol

	mu  sync.Mutex
	own map[vpath.Path]bool
}

// Session starts a session for an authenticated user.
func (f *FS) Session(login string, proto authz.Protocol) *Session {
	return &Session{fs: f, login: login, proto: proto, own: map[vpath.Path]bool{}}
}

// Login is the session's user.
func (s *Session) Login() string { return s.login }

func (s *Session) load(ctx context.Context) (authz.Facts, []authz.Grant, error) {
	f, grants, err := s.fs.facts.Facts(ctx, s.login)
	if err != nil {
		return f, nil, err
	}
	f.Protocol = s.proto
	return f, grants, nil
}

// decide loads the facts and decides; a denial becomes the error to return.
func (s *Session) decide(ctx context.Context, op string, a authz.Action, p vpath.Path, t authz.Target) (authz.Decision, error) {
	f, grants, err := s.load(ctx)
	if err != nil {
		return authz.Decision{}, &storage.PathError{Op: op, Path: p.String(), Err: err}
	}
	d := authz.Decide(f, grants, a, p, s.fs.now(), t)
	return d, s.verdict(ctx, op, p, d)
}

func (s *Session) verdict(ctx context.Context, op string, p vpath.Path, d authz.Decision) error {
	if d.Allowed {
		return nil
	}
	s.fs.log.InfoContext(ctx, "denied", "user", s.login, "protocol", s.proto, "op", op, "path", p.String(), "reason", d.Reason)
	err := d.Err()
	if errors.Is(err, fs.ErrNotExist) {
		err = errHidden
	}
	return &storage.PathError{Op: op, Path: p.String(), Err: err}
}

// hidden is the not-found of a path the user has no right on. It reads
// and matches exactly like fs.ErrNotExist; front ends that must tell it
// from a missing parent folder (WebDAV: 404, not 409) ask IsHidden.
type hidden struct{}

func (hidden) Error() string        { return fs.ErrNotExist.Error() }
func (hidden) Is(target error) bool { return target == fs.ErrNotExist }

var errHidden error = hidden{}

// IsHidden reports whether err says the path does not exist for the user
// because they have no right on it.
func IsHidden(err error) bool { return errors.As(err, new(hidden)) }

func (s *Session) isOwn(p vpath.Path) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.own[p]
}

func (s *Session) setOwn(p vpath.Path, own bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if own {
		s.own[p] = true
	} else {
		delete(s.own, p)
	}
}

// lookup reads the catalog without deciding anything: callers decide on
// what it found before they reveal it.
func (s *Session) lookup(ctx context.Context, p vpath.Path) (storage.Entry, bool, error) {
	e, err := s.fs.store.Stat(ctx, p)
	switch {
	case err == nil:
		return e, true, nil
	case errors.Is(err, storage.ErrNotExist):
		return e, false, nil
	}
	return e, false, err
}

func target(e storage.Entry, exists bool) authz.Target {
	return authz.Target{Dir: exists && e.IsDir(), Exists: exists, Size: e.Size}
}

// Stat returns the entry at p if the user may see it.
func (s *Session) Stat(ctx context.Context, p vpath.Path) (storage.Entry, error) {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return e, err
	}
	if _, err := s.decide(ctx, "stat", authz.ActStat, p, target(e, ok)); err != nil {
		return storage.Entry{}, err
	}
	if !ok {
		return e, &storage.PathError{Op: "stat", Path: p.String(), Err: fs.ErrNotExist}
	}
	return e, nil
}

// ReadDir yields the entries of dir that the user may see, page by page
// from the catalog.
func (s *Session) ReadDir(ctx context.Context, dir vpath.Path) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		e, ok, err := s.lookup(ctx, dir)
		if err == nil {
			_, err = s.decide(ctx, "list", authz.ActList, dir, authz.Target{Dir: true, Exists: ok})
		}
		if err == nil && !ok {
			err = &storage.PathError{Op: "list", Path: dir.String(), Err: fs.ErrNotExist}
		}
		if err == nil && !e.IsDir() {
			err = &storage.PathError{Op: "list", Path: dir.String(), Err: storage.ErrNotDir}
		}
		if err != nil {
			yield(storage.Entry{}, err)
			return
		}
		f, grants, err := s.load(ctx)
		if err != nil {
			yield(storage.Entry{}, err)
			return
		}
		lister := authz.Filter(f, grants, dir, s.fs.now())
		for e, err := range s.fs.store.ReadDir(ctx, dir) {
			if err != nil {
				yield(e, err)
				return
			}
			if lister.Show(e.Name(), e.IsDir()) && !yield(e, nil) {
				return
			}
		}
	}
}

// CheckList decides whether the user may list dir, without reading it.
func (s *Session) CheckList(ctx context.Context, dir vpath.Path) error {
	_, ok, err := s.lookup(ctx, dir)
	if err != nil {
		return err
	}
	_, err = s.decide(ctx, "list", authz.ActList, dir, authz.Target{Dir: true, Exists: ok})
	return err
}

// Open opens a file for reading.
func (s *Session) Open(ctx context.Context, p vpath.Path) (*storage.File, error) {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return nil, err
	}
	if _, err := s.decide(ctx, "open", authz.ActRead, p, target(e, ok)); err != nil {
		return nil, err
	}
	return s.fs.store.Open(ctx, p)
}

// CheckLock decides whether the user may lock p. A lock blocks every other
// user's changes, so it needs the right to change the resource: overwrite
// for an existing file, create for a new one, mkdir for a folder.
func (s *Session) CheckLock(ctx context.Context, p vpath.Path) error {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	if ok && e.IsDir() {
		_, err = s.decide(ctx, "lock", authz.ActMkdir, p, authz.Target{Dir: true, Exists: true})
		return err
	}
	_, err = s.decide(ctx, "lock", authz.ActCreate, p, authz.Target{Exists: ok})
	return err
}
