package authfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"pier/audit"
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

// checkLock decides whether the user may (still) lock p, a lock's root as
// stored (so a drop box's own conflict copy, by its real name).
func (s *Session) checkLock(ctx context.Context, p vpath.Path) error {
	f, grants, err := s.load(ctx)
	if err != nil {
		return err
	}
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	return s.decideLock(ctx, f, grants, p, seen{e: e, exists: ok})
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
// granted. In a drop box, a name someone else's file holds is free to the
// user: the empty file is their conflict copy, and the lock is on it.
func (s *Session) Lock(ctx context.Context, p vpath.Path, r LockRequest) (locks.Lock, bool, error) {
	if s.fs.locks == nil {
		return locks.Lock{}, false, &storage.PathError{Op: "lock", Path: p.String(), Err: errors.ErrUnsupported}
	}
	f, grants, err := s.load(ctx)
	if err != nil {
		return locks.Lock{}, false, err
	}
	sn, err := s.see(ctx, f, grants, p)
	if err != nil {
		return locks.Lock{}, false, err
	}
	if err := s.decideLock(ctx, f, grants, p, sn); err != nil {
		return locks.Lock{}, false, err
	}
	now := s.fs.now()
	req := locks.Request{Root: p, ZeroDepth: r.ZeroDepth, Shared: r.Shared, OwnerXML: r.OwnerXML, Duration: r.Duration, Provisional: !sn.exists}
	note := func(root vpath.Path) []byte {
		return audit.Encode(s.rec(f, audit.Record{Action: audit.Lock, Path: root.String()}))
	}
	switch {
	case sn.exists:
		req.Root = sn.e.Path
	case sn.taken:
		// The empty conflict copy first: only then is its name known.
		e, err := s.createEmpty(ctx, p)
		if err != nil {
			return locks.Lock{}, false, err
		}
		req.Root, req.Note = e.Path, note(e.Path)
		l, err := s.fs.locks.Create(ctx, s.p.Login, req, now)
		if err != nil {
			s.fs.store.Remove(context.WithoutCancel(ctx), e.Path, storage.RemoveOptions{})
			return l, false, lockErr("lock", p, err)
		}
		l.Root = p
		return l, true, nil
	}
	req.Note = note(req.Root)
	l, err := s.fs.locks.Create(ctx, s.p.Login, req, now)
	if err != nil {
		return l, false, lockErr("lock", p, err)
	}
	l.Root = p
	if sn.exists {
		return l, false, nil
	}
	_, err = s.createEmpty(ctx, p)
	switch {
	case err == nil:
		return l, true, nil
	case errors.Is(err, storage.ErrExist):
		return l, false, nil // someone was quicker: the lock stands on their file
	}
	s.fs.locks.Unlock(context.WithoutCancel(ctx), s.p.Login, l.Token, now, nil)
	return locks.Lock{}, false, err
}

// createEmpty makes the empty file a lock on a new name creates.
func (s *Session) createEmpty(ctx context.Context, p vpath.Path) (storage.Entry, error) {
	up, err := s.Create(ctx, p, CreateOptions{Exclusive: true})
	if err != nil {
		return storage.Entry{}, err
	}
	return up.Close()
}

// decideLock decides whether the user may lock p: a lock blocks every
// other user's changes, so it needs the right to change the resource —
// overwrite for an existing file (create for their own upload), create for
// a new one, mkdir for a folder.
func (s *Session) decideLock(ctx context.Context, f authz.Facts, grants []authz.Grant, p vpath.Path, sn seen) error {
	now := s.fs.now()
	if sn.exists && sn.e.IsDir() {
		return s.verdict(ctx, "lock", p, authz.Decide(f, grants, authz.ActMkdir, p, now, authz.Target{Dir: true, Exists: true}))
	}
	return s.verdict(ctx, "lock", p, authz.Decide(f, grants, authz.ActCreate, p, now, s.target(sn.e, sn.exists)))
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
	if l.Login != s.p.Login || !l.Covers(p) && !s.coversSeen(ctx, l, p) {
		return locks.Lock{}, lockErr("refresh", p, locks.ErrNoSuchLock)
	}
	if err := s.checkLock(ctx, l.Root); err != nil {
		return locks.Lock{}, err
	}
	l, err = s.fs.locks.Refresh(ctx, s.p.Login, token, d, s.fs.now())
	if err != nil {
		return l, lockErr("refresh", p, err)
	}
	if l.Root != p && !l.Root.Within(p) && !p.Within(l.Root) {
		l.Root = p // a conflict copy's lock, shown under the name asked for
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
	if !l.Covers(p) && !s.coversSeen(ctx, l, p) {
		return lockErr("unlock", p, locks.ErrNoSuchLock)
	}
	f, _, err := s.load(ctx)
	if err != nil {
		return err
	}
	note := audit.Encode(s.rec(f, audit.Record{Action: audit.Unlock, Path: l.Root.String()}))
	return lockErr("unlock", p, s.fs.locks.Unlock(ctx, s.p.Login, token, s.fs.now(), note))
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
		if len(covering) > 0 && !c.Below {
			// A drop box changes the name as it sees it: locks on a
			// file hidden from it are none of its business.
			if at, ok, err := s.seenPath(ctx, c.Path); err != nil {
				return err
			} else if at != c.Path {
				covering = nil
				if ok {
					if covering, err = s.fs.locks.Covering(ctx, at, false, now); err != nil {
						return err
					}
				}
			}
		}
		for _, l := range covering {
			if !slices.ContainsFunc(held, func(h locks.Lock) bool { return h.Token == l.Token }) {
				return &storage.PathError{Op: "lock", Path: c.Path.String(), Err: ErrLocked}
			}
		}
	}
	return nil
}

// seenPath returns where the entry the session sees at p really is: p,
// or its own conflict copy; ok is false when p is a name the session
// sees as free although another user's file holds it.
func (s *Session) seenPath(ctx context.Context, p vpath.Path) (vpath.Path, bool, error) {
	f, grants, err := s.load(ctx)
	if err != nil {
		return p, false, err
	}
	sn, err := s.see(ctx, f, grants, p)
	if err != nil {
		return p, false, err
	}
	if !sn.taken {
		return p, true, nil
	}
	if !sn.exists {
		return vpath.Path{}, false, nil
	}
	return sn.e.Path, true, nil
}

// coversSeen reports whether lock l covers what the session sees at p
// (its own conflict copy of the name).
func (s *Session) coversSeen(ctx context.Context, l locks.Lock, p vpath.Path) bool {
	at, ok, err := s.seenPath(ctx, p)
	return err == nil && ok && at != p && l.Covers(at)
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
				slices.ContainsFunc(changes, func(ch Change) bool { return lk.Covers(ch.Path) }) || s.coversSeen(ctx, lk, res))
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
