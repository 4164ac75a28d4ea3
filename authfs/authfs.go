// Package authfs is the one authorising file system: both front ends (SFTP
// and WebDAV) reach storage only through it, locks included. Every
// operation loads the requester's facts, asks authz before any side effect
// (folder actions for everything they touch, inside the transaction that
// makes the change), checks both names of a rename or copy, enforces
// file-name patterns and size limits while an upload streams, and filters
// listings. A path on which the requester has no right at all does not
// exist for them (fs.ErrNotExist); a path they can see but not act on
// gives fs.ErrPermission.
//
// A Session is bound to what its connection authenticated with — the
// account (not its login text), the source address and the SSH key — and
// every decision checks that binding, so revoking any of them ends the
// session's rights at its next request; front ends ask Alive to end
// transfers already running.
//
// Errors are *storage.PathError values wrapping fs.ErrNotExist,
// fs.ErrPermission, ErrLocked, ErrPrecondition or the storage errors;
// their text names only the path the client sent. Why a request was
// denied goes to the log.
package authfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"pier/audit"
	"pier/authz"
	"pier/locks"
	"pier/storage"
	"pier/vpath"
)

// FactsLoader loads what authz decides on; identity.Store implements it.
// For a login that names no account it returns an error wrapping
// authz.ErrNoAccount.
type FactsLoader interface {
	Facts(ctx context.Context, login string) (authz.Facts, []authz.Grant, error)
}

// Locks is where WebDAV locks live; locks.Store implements it.
type Locks interface {
	Blocked(ctx context.Context, login string, p vpath.Path, below bool) (bool, error)
	Idle(ctx context.Context, now time.Time) bool
	Covering(ctx context.Context, p vpath.Path, below bool, now time.Time) ([]locks.Lock, error)
	Get(ctx context.Context, token string, now time.Time) (locks.Lock, error)
	Create(ctx context.Context, login string, r locks.Request, now time.Time) (locks.Lock, error)
	Refresh(ctx context.Context, login, token string, d time.Duration, now time.Time) (locks.Lock, error)
	Settle(ctx context.Context, login string, p vpath.Path) error
	Unlock(ctx context.Context, login, token string, now time.Time, note []byte) error
}

var _ Locks = (*locks.Store)(nil)

// Errors beyond the fs and storage ones.
var (
	// ErrLocked refuses a change to a path someone has locked.
	ErrLocked = errors.New("locked")
	// ErrPrecondition: a condition the client set (If-Match, an If header
	// list) does not hold.
	ErrPrecondition = errors.New("precondition failed")
	// ErrTooManyLocks refuses a lock beyond the user's limits.
	ErrTooManyLocks = errors.New("too many locks")
	// ErrNoSuchLock: the token names no live lock of the user's.
	ErrNoSuchLock = errors.New("no such lock")
	// ErrRevoked: the session's account may no longer work (suspended,
	// deleted, expired, its key removed, its networks changed).
	ErrRevoked = errors.New("access revoked")
)

// Config holds the settings of the authorising file system.
type Config struct {
	// OwnUploadFor is how long after publishing a file its uploader may
	// still see, date and rename it with create alone (a drop box).
	OwnUploadFor time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{OwnUploadFor: time.Hour} }

// Validate checks the settings.
func (c Config) Validate() error {
	if c.OwnUploadFor < 0 {
		return errors.New("authfs: the own-upload window must not be negative")
	}
	return nil
}

// FS authorises access to a storage.FS.
type FS struct {
	cfg   Config
	store *storage.FS
	facts FactsLoader
	locks Locks          // nil: no locks
	audit audit.Recorder // nil: downloads and refusals are not recorded
	bar   Barrier        // nil: sources are not barred once admitted
	log   *slog.Logger
	now   func() time.Time
}

// New returns the authorising file system over store. locks may be nil.
func New(cfg Config, store *storage.FS, facts FactsLoader, locks Locks, log *slog.Logger) *FS {
	return &FS{cfg: cfg, store: store, facts: facts, locks: locks, log: log, now: time.Now}
}

// WithAudit returns the file system recording to rec what happens outside
// any change: downloads and refusals. Changes (uploads, deletions,
// renames, copies, folders, locks) are recorded in their own transactions
// whatever the recorder.
func (f *FS) WithAudit(rec audit.Recorder) *FS {
	g := *f
	g.audit = rec
	return &g
}

// Barrier says why the sessions from an address must end now, "" if they
// may go on: the defender, whose bans end the sessions already open from
// a banned source.
type Barrier interface {
	Barred(ctx context.Context, a netip.Addr) string
}

// WithBarrier returns the file system whose sessions end, at their next
// Alive, once b bars their source address.
func (f *FS) WithBarrier(b Barrier) *FS {
	g := *f
	g.bar = b
	return &g
}

// rec completes an audit record with who acts, from where, and when.
func (s *Session) rec(f authz.Facts, r audit.Record) audit.Record {
	r.Time, r.Actor, r.ActorOrg, r.Protocol = s.fs.now(), s.p.Login, f.Org, string(s.p.Protocol)
	if s.p.Bind.From.IsValid() {
		r.From = s.p.Bind.From.Unmap().String()
	}
	return r
}

// note makes the in-transaction audit record of a change.
func (s *Session) note(f authz.Facts, r audit.Record, fill func(*audit.Record, storage.Entry)) storage.Note {
	return func(e storage.Entry) []byte {
		r := s.rec(f, r)
		if fill != nil {
			fill(&r, e)
		}
		return audit.Encode(r)
	}
}

// Principal is who a session acts for: what its front end authenticated.
type Principal struct {
	Login    string
	Protocol authz.Protocol
	// Bind is what the connection authenticated with; the session's rights
	// end when any of it no longer holds.
	Bind authz.Session
}

// Session is one authenticated connection (SFTP) or request (WebDAV).
// It keeps no memory of what it did: what a user uploaded is read from
// the catalog, so it holds across connections and nodes.
type Session struct {
	fs *FS
	p  Principal
}

// Session starts a session for an authenticated principal.
func (f *FS) Session(p Principal) *Session { return &Session{fs: f, p: p} }

// Login is the session's user.
func (s *Session) Login() string { return s.p.Login }

// Org is the session's user's organisation now ("" if the account is
// gone or cannot be read).
func (s *Session) Org(ctx context.Context) string {
	f, _, err := s.load(ctx)
	if err != nil {
		return ""
	}
	return f.Org
}

// load returns the facts every decision of this session uses. A login
// that no longer names an account gets facts that deny everything.
func (s *Session) load(ctx context.Context) (authz.Facts, []authz.Grant, error) {
	f, grants, err := s.fs.facts.Facts(ctx, s.p.Login)
	if errors.Is(err, authz.ErrNoAccount) {
		f, grants, err = authz.Facts{Login: s.p.Login}, nil, nil
	} else if err != nil {
		return f, nil, err
	}
	f.Protocol, f.Session = s.p.Protocol, s.p.Bind
	return f, grants, nil
}

// Alive reports whether the session may still work: its account exists,
// is the one it logged in to, is active and unexpired, and its source
// address and key are still allowed (by the account and by the barrier). The error wraps ErrRevoked with the
// reason, or is a technical failure.
func (s *Session) Alive(ctx context.Context) error {
	f, _, err := s.load(ctx)
	if err != nil {
		return err
	}
	if ok, why := f.Usable(s.fs.now()); !ok {
		return fmt.Errorf("%w: %s", ErrRevoked, why)
	}
	if s.fs.bar != nil {
		if why := s.fs.bar.Barred(ctx, s.p.Bind.From); why != "" {
			return fmt.Errorf("%w: %s", ErrRevoked, why)
		}
	}
	return nil
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
	s.fs.log.InfoContext(ctx, "denied", "user", s.p.Login, "protocol", s.p.Protocol, "op", op, "path", p.String(), "reason", d.Reason)
	if s.fs.audit != nil {
		// The actor's organisation scopes the record for its administrators
		// (a refusal is rare: the facts are read again, from the cache).
		audit.Logged(ctx, s.fs.audit, s.fs.log, s.rec(authz.Facts{Org: s.Org(ctx)}, audit.Record{Action: audit.Denied, Outcome: audit.Refused,
			Path: p.String(), Reason: op + ": " + d.Reason}))
	}
	err := d.Err()
	if errors.Is(err, fs.ErrNotExist) {
		err = errHidden
	}
	return &storage.PathError{Op: op, Path: p.String(), Err: err}
}

// denial carries a refusal out of a guard, which may run more than once:
// it is logged once, when the change has given up.
type denial struct {
	op string
	p  vpath.Path
	d  authz.Decision
}

func (e *denial) Error() string { return e.op + " " + e.p.String() + ": " + e.d.Reason }

// refused turns a guard's denial into the error to return, logging it.
func (s *Session) refused(ctx context.Context, err error) error {
	var dn *denial
	if errors.As(err, &dn) {
		return s.verdict(ctx, dn.op, dn.p, dn.d)
	}
	return err
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

// own reports whether e is a file this session's user published recently
// enough to still count as their own upload (see authz.Target.OwnUpload).
func (s *Session) own(e storage.Entry) bool {
	return !e.IsDir() && e.CreatedBy == s.p.Login && !e.Published.IsZero() &&
		s.fs.now().Sub(e.Published) < s.fs.cfg.OwnUploadFor
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

// target describes an entry for a decision.
func (s *Session) target(e storage.Entry, exists bool) authz.Target {
	return authz.Target{Dir: exists && e.IsDir(), Exists: exists, Size: e.Size, OwnUpload: exists && s.own(e)}
}

// seen is the entry at a path as the session sees it.
type seen struct {
	e      storage.Entry // the entry the session acts on; Path is where it really is
	exists bool
	// taken says a file the session may not see holds the name (a drop
	// box): to the session the name is free, and what it writes there is
	// kept as a conflict copy beside that file (storage.ConflictName).
	taken bool
}

// see looks p up as the session sees it: a name held by a file hidden
// from the session (another uploader's, in a drop box) is free to it, or
// holds the session's own conflict copy of that name. Answers never tell a
// drop box whether someone else's file holds a name.
func (s *Session) see(ctx context.Context, f authz.Facts, grants []authz.Grant, p vpath.Path) (seen, error) {
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return seen{e: e, exists: ok}, err
	}
	return s.seeEntry(ctx, f, grants, p, e, ok)
}

// seeEntry is see of an entry already looked up (e, if ok).
func (s *Session) seeEntry(ctx context.Context, f authz.Facts, grants []authz.Grant, p vpath.Path, e storage.Entry, ok bool) (seen, error) {
	if !ok || e.IsDir() || s.own(e) {
		return seen{e: e, exists: ok}, nil
	}
	if authz.Decide(f, grants, authz.ActStat, p, s.fs.now(), s.target(e, true)).Visible {
		return seen{e: e, exists: true}, nil
	}
	sh, err := s.fs.store.Shadow(ctx, p, s.p.Login)
	switch {
	case err == nil && s.own(sh):
		return seen{e: sh, exists: true, taken: true}, nil
	case err != nil && !errors.Is(err, storage.ErrNotExist):
		return seen{}, err
	}
	return seen{e: storage.Entry{Path: p}, taken: true}, nil
}

// as presents an entry under the name the session asked for (a conflict
// copy under the name it was uploaded as).
func as(e storage.Entry, p vpath.Path) storage.Entry {
	e.Path = p
	return e
}

// Stat returns the entry at p if the user may see it.
func (s *Session) Stat(ctx context.Context, p vpath.Path) (storage.Entry, error) {
	f, grants, err := s.load(ctx)
	if err != nil {
		return storage.Entry{}, &storage.PathError{Op: "stat", Path: p.String(), Err: err}
	}
	sn, err := s.see(ctx, f, grants, p)
	if err != nil {
		return storage.Entry{}, err
	}
	if err := s.verdict(ctx, "stat", p, authz.Decide(f, grants, authz.ActStat, p, s.fs.now(), s.target(sn.e, sn.exists))); err != nil {
		return storage.Entry{}, err
	}
	if !sn.exists {
		return storage.Entry{}, &storage.PathError{Op: "stat", Path: p.String(), Err: fs.ErrNotExist}
	}
	return as(sn.e, p), nil
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
			own := s.own(e)
			if own && e.Shadows != "" && !lister.Full() {
				// A drop box lists its own conflict copy under the name
				// it uploaded.
				if p, err := dir.Child(e.Shadows); err == nil {
					e = as(e, p)
				}
			}
			if !lister.Show(e.Name(), e.IsDir(), own) || s.clutter(e) {
				continue
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// clutter reports whether a listing leaves e out: a macOS Finder
// metadata file (.DS_Store, or an AppleDouble "._NAME" holding another
// file's extended attributes) that another user wrote. Finder writes them
// wherever it goes and reads them back, so they are stored like any file
// (refusing them makes Finder's copies fail); but a partner's EDI system
// or a Windows user must not meet "._order.edi" in a listing. Their writer
// still lists them, so a sync tool does not upload them again and again;
// by name they stay reachable to anyone with the right.
func (s *Session) clutter(e storage.Entry) bool {
	name := e.Name()
	return !e.IsDir() && (name == ".DS_Store" || strings.HasPrefix(name, "._")) && e.CreatedBy != s.p.Login
}

// Check decides whether the user may do a on the entry at p as it is now,
// without doing it: front ends that must answer a refusal before a
// protocol error ask it.
func (s *Session) Check(ctx context.Context, a authz.Action, p vpath.Path) error {
	_, err := s.decideSeen(ctx, a.String(), a, p)
	return err
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
// A download is recorded before it starts; one that cannot be recorded
// does not start.
func (s *Session) Open(ctx context.Context, p vpath.Path) (*storage.File, error) {
	f, grants, err := s.load(ctx)
	if err != nil {
		return nil, &storage.PathError{Op: "open", Path: p.String(), Err: err}
	}
	e, ok, err := s.lookup(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := s.verdict(ctx, "open", p, authz.Decide(f, grants, authz.ActRead, p, s.fs.now(), s.target(e, ok))); err != nil {
		return nil, err
	}
	file, err := s.fs.store.Open(ctx, p)
	if err != nil || s.fs.audit == nil {
		return file, err
	}
	if err := s.fs.audit.Record(ctx, s.rec(f, audit.Record{Action: audit.Download, Path: p.String(), Size: file.Size, SHA256: file.SHA256})); err != nil {
		file.Close()
		return nil, &storage.PathError{Op: "open", Path: p.String(), Err: err}
	}
	return file, nil
}

// Sums returns a file with its hashes, for sync tools that compare files
// without downloading them. A hash tells what a file holds: it needs the
// right to read the file — or the file is the user's own recent upload,
// whose bytes they sent (rclone checks every delivery by its hash, into a
// drop box too), seen as Stat sees it. With compute set, SHA-1 and MD5 not
// recorded yet are computed now, reading the content once
// (storage.FS.Sums); without it the entry is as recorded.
func (s *Session) Sums(ctx context.Context, p vpath.Path, compute bool) (storage.Entry, error) {
	f, grants, err := s.load(ctx)
	if err != nil {
		return storage.Entry{}, &storage.PathError{Op: "hash", Path: p.String(), Err: err}
	}
	sn, err := s.see(ctx, f, grants, p)
	if err != nil {
		return storage.Entry{}, err
	}
	now, t := s.fs.now(), s.target(sn.e, sn.exists)
	a := authz.ActRead
	if t.Dir || t.OwnUpload {
		// A folder has no content to hash: say so to those who see it.
		a = authz.ActStat
	}
	if err := s.verdict(ctx, "hash", p, authz.Decide(f, grants, a, p, now, t)); err != nil {
		return storage.Entry{}, err
	}
	switch {
	case !sn.exists:
		return storage.Entry{}, &storage.PathError{Op: "hash", Path: p.String(), Err: fs.ErrNotExist}
	case t.Dir:
		return storage.Entry{}, &storage.PathError{Op: "hash", Path: p.String(), Err: storage.ErrIsDir}
	case !compute:
		return as(sn.e, p), nil
	}
	e, err := s.fs.store.Sums(ctx, sn.e.Path)
	return as(e, p), err
}

// DeadProps returns the dead properties of entries the caller obtained
// through this session (Stat or ReadDir), which already decided on them.
func (s *Session) DeadProps(ctx context.Context, ids []int64) (map[int64][]storage.Prop, error) {
	return s.fs.store.DeadProps(ctx, ids)
}

// walk adapts a transaction's view of a subtree to what authz.DecideTree
// reads, keeping the first error for the caller.
func walk(ctx context.Context, v storage.View, dir vpath.Path, errp *error) iter.Seq[authz.TreeEntry] {
	return func(yield func(authz.TreeEntry) bool) {
		for e, err := range v.Walk(ctx, dir) {
			if err != nil {
				*errp = err
				return
			}
			if !yield(authz.TreeEntry{Path: e.Path, Dir: e.IsDir()}) {
				return
			}
		}
	}
}

// decideTree decides a folder action for everything below dir, inside a
// guard.
func decideTree(ctx context.Context, v storage.View, op string, f authz.Facts, grants []authz.Grant, a authz.TreeAction, from, to vpath.Path, now time.Time) error {
	var werr error
	d := authz.DecideTree(f, grants, a, from, to, now, walk(ctx, v, from, &werr))
	if werr != nil {
		return werr
	}
	if !d.Allowed {
		return &denial{op, from, d}
	}
	return nil
}
