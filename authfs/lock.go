package authfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"pier/authz"
	"pier/locks"
	"pier/storage"
	"pier/vpath"
)

// unlocked refuses a change when another user's lock covers p (with
// below, also anything under p): a WebDAV lock holds for every protocol.
func (s *Session) unlocked(ctx context.Context, op string, p vpath.Path, below bool) error {
	if s.fs.locks == nil {
		return nil
	}
	blocked, err := s.fs.locks.Blocked(ctx, s.p.Login, p, below)
	if err != nil {
		return err
	}
	if blocked {
		return &storage.PathError{Op: op, Path: p.String(), Err: ErrLocked}
	}
	return nil
}

// checkLock decides whether the user may lock p. A lock blocks
// every other user's changes, so it needs the right to change the
// resource — overwrite for an existing file, create for a new one, mkdir
// for a folder.
func (s *Session) checkLock(ctx context.Context, p vpath.Path) (storage.Entry, bool, error) {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return e, ok, err
	}
	if ok && e.IsDir() {
		_, err = s.decide(ctx, "lock", authz.ActMkdir, p, authz.Target{Dir: true, Exists: true})
	} else {
		_, err = s.decide(ctx, "lock", authz.ActCreate, p, s.target(e, ok))
	}
	return e, ok, err
}

// LockRequest asks for a WebDAV lock.
type LockRequest struct {
	ZeroDepth bool          // the resource alone
	Shared    bool          // a shared lock
	OwnerXML  string        // the client's owner element
	Duration  time.Duration // asked for; <= 0: as long as allowed
}

// Lock takes a lock on p for the user. Locking a name that does not exist
// creates an empty file there (RFC 4918 9.10.4); such a lock is
// provisional until the user writes the file (see package locks). It
// reports whether it created the file. The lock's Expires says what was
// granted.
func (s *Session) Lock(ctx context.Context, p vpath.Path, r LockRequest) (locks.Lock, bool, error) {
	if s.fs.locks == nil {
		return locks.Lock{}, false, &storage.PathError{Op: "lock", Path: p.String(), Err: errors.ErrUnsupported}
	}
	_, exists, err := s.checkLock(ctx, p)
	if err != nil {
		return locks.Lock{}, false, err
	}
	now := s.fs.now()
	l, err := s.fs.locks.Create(ctx, s.p.Login, locks.Request{Root: p, ZeroDepth: r.ZeroDepth, Shared: r.Shared,
		OwnerXML: r.OwnerXML, Duration: r.Duration, Provisional: !exists}, now)
	if err != nil {
		return l, false, lockErr("lock", p, err)
	}
	if exists {
		return l, false, nil
	}
	up, err := s.Create(ctx, p, CreateOptions{Exclusive: true})
	if err == nil {
		_, err = up.Close()
	}
	switch {
	case err == nil:
		return l, true, nil
	case errors.Is(err, storage.ErrExist):
		return l, false, nil // someone was quicker: the lock stands on their file
	}
	s.fs.locks.Unlock(context.WithoutCancel(ctx), s.p.Login, l.Token, now)
	return locks.Lock{}, false, err
}

func lockErr(op string, p vpath.Path, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, locks.ErrLocked):
		err = ErrLocked
	case errors.Is(err, locks.ErrTooMany):
		err = fmt.Errorf("%w: %w", ErrTooManyLocks, err)
	case errors.Is(err, locks.ErrNoSuchLock):
		err = ErrNoSuchLock
	case errors.Is(err, locks.ErrNotOwner):
		err = fmt.Errorf("%w: %w", fs.ErrPermission, err)
	}
	return &storage.PathError{Op: op, Path: p.String(), Err: err}
}

// RefreshLock extends one of the user's locks that covers p, if the user
// still may change the locked resource, and returns it as granted.
func (s *Session) RefreshLock(ctx context.Context, p vpath.Path, token string, d time.Duration) (locks.Lock, error) {
	if s.fs.locks == nil {
		return locks.Lock{}, lockErr("refresh", p, locks.ErrNoSuchLock)
	}
	l, err := s.fs.locks.Get(ctx, token, s.fs.now())
	if err != nil {
		return l, lockErr("refresh", p, err)
	}
	if l.Login != s.p.Login || !l.Covers(p) {
		return locks.Lock{}, lockErr("refresh", p, locks.ErrNoSuchLock)
	}
	if _, _, err := s.checkLock(ctx, l.Root); err != nil {
		return locks.Lock{}, err
	}
	l, err = s.fs.locks.Refresh(ctx, s.p.Login, token, d, s.fs.now())
	if err != nil {
		return l, lockErr("refresh", p, err)
	}
	return l, nil
}

// Unlock releases one of the user's locks; p must lie in its scope. A
// user may release their lock even after losing the right to change the
// resource, but not after their access was revoked.
func (s *Session) Unlock(ctx context.Context, p vpath.Path, token string) error {
	if err := s.Alive(ctx); err != nil {
		return &storage.PathError{Op: "unlock", Path: p.String(), Err: err}
	}
	if s.fs.locks == nil {
		return lockErr("unlock", p, locks.ErrNoSuchLock)
	}
	l, err := s.fs.locks.Get(ctx, token, s.fs.now())
	if err != nil {
		return lockErr("unlock", p, err)
	}
	if !l.Covers(p) {
		return lockErr("unlock", p, locks.ErrNoSuchLock)
	}
	return lockErr("unlock", p, s.fs.locks.Unlock(ctx, s.p.Login, token, s.fs.now()))
}

// IfList is one list of a WebDAV If header (RFC 4918 10.4): it holds when
// all its conditions hold.
type IfList struct {
	// Resource is the list's tagged resource; zero Tagged means the
	// request's own resource.
	Tagged     bool
	Resource   vpath.Path
	Conditions []IfCondition
}

// IfCondition is a lock token or an entity tag, possibly negated.
type IfCondition struct {
	Not   bool
	Token string
	ETag  string // quoted, as sent
}

// Change names a resource a request changes, for ConfirmLocks.
type Change struct {
	Path  vpath.Path
	Below bool // the change reaches everything below Path (DELETE, MOVE)
}

// ConfirmLocks checks a WebDAV request against the locks on what it
// changes. Without an If header (header false) nothing it changes may be
// locked, by anyone. With one, some list must hold — a token holds when it
// is a live lock of this user covering the list's resource or a changed
// one, an entity tag when it is the resource's — else ErrPrecondition;
// and every lock on a changed resource must be one whose token the holding
// list submitted, else ErrLocked. self is the request's resource.
func (s *Session) ConfirmLocks(ctx context.Context, self vpath.Path, header bool, lists []IfList, changes []Change) error {
	if s.fs.locks == nil {
		return nil
	}
	now := s.fs.now()
	var held []locks.Lock
	if header {
		ok := false
		for _, l := range lists {
			var err error
			if held, ok, err = s.listHolds(ctx, self, l, changes, now); err != nil {
				return err
			} else if ok {
				break
			}
		}
		if !ok {
			return &storage.PathError{Op: "lock", Path: self.String(), Err: ErrPrecondition}
		}
	}
	for _, c := range changes {
		covering, err := s.fs.locks.Covering(ctx, c.Path, c.Below, now)
		if err != nil {
			return err
		}
		for _, l := range covering {
			if !slices.ContainsFunc(held, func(h locks.Lock) bool { return h.Token == l.Token }) {
				return &storage.PathError{Op: "lock", Path: c.Path.String(), Err: ErrLocked}
			}
		}
	}
	return nil
}

// listHolds evaluates one If list, returning the locks its tokens name.
func (s *Session) listHolds(ctx context.Context, self vpath.Path, l IfList, changes []Change, now time.Time) ([]locks.Lock, bool, error) {
	res := self
	if l.Tagged {
		res = l.Resource
	}
	var held []locks.Lock
	for _, c := range l.Conditions {
		holds := false
		switch {
		case c.Token != "":
			lk, err := s.fs.locks.Get(ctx, c.Token, now)
			if err != nil && !errors.Is(err, locks.ErrNoSuchLock) {
				return nil, false, err
			}
			holds = err == nil && lk.Login == s.p.Login && (lk.Covers(res) ||
				slices.ContainsFunc(changes, func(ch Change) bool { return lk.Covers(ch.Path) }))
			if holds && !c.Not {
				held = append(held, lk)
			}
		case c.ETag != "":
			e, err := s.Stat(ctx, res)
			holds = err == nil && e.ETag() != "" && e.ETag() == c.ETag
		}
		if holds == c.Not {
			return nil, false, nil
		}
	}
	return held, true, nil
}
