// Package locks keeps WebDAV locks in the SQL database, so that every node
// and every protocol sees the same locks (x/net/webdav's in-memory lock
// system is per process). WebDAV reaches it through ForRequest, a
// webdav.LockSystem bound to one request's user and context; the
// authorising file system asks Blocked before SFTP (or any protocol)
// changes a path that someone else has locked.
//
// A lock token can be used only by the user who took it. A lock expires at
// its timeout; "infinite" locks are capped at MaxDuration.
package locks

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"pier/db"
	"pier/vpath"
)

// Limits.
const (
	MaxDuration = 24 * time.Hour
	MaxPerUser  = 1000
)

// ErrTooMany refuses a lock beyond MaxPerUser.
var ErrTooMany = errors.New("too many locks held by this user")

// Store keeps locks in SQL.
type Store struct {
	db *db.DB
}

// New returns a lock store over an open, migrated database.
func New(d *db.DB) *Store { return &Store{db: d} }

// Lock is one held lock.
type Lock struct {
	Token     string
	Root      string
	ZeroDepth bool
	Login     string
	OwnerXML  string
	Expires   time.Time
	Shared    bool
}

// covering returns the SQL condition and arguments selecting live locks
// that cover name: on name itself, infinite-depth locks on an ancestor,
// and (when below is set) any lock on a descendant.
func covering(name string, below bool, now time.Time) (string, []any) {
	p, err := vpath.Parse(name)
	if err != nil {
		return "1 = 0", nil
	}
	var anc []any
	for a := p; !a.IsRoot(); {
		a = a.Parent()
		anc = append(anc, a.String())
	}
	where := "(expires_at > ?) AND (root = ?"
	args := []any{now.UnixNano(), p.String()}
	if len(anc) > 0 {
		where += " OR (zero_depth = 0 AND root IN (" + db.Placeholders(len(anc)) + "))"
		args = append(args, anc...)
	}
	if below {
		lo, hi := p.String()+"/", p.String()+"0"
		if p.IsRoot() {
			lo, hi = "/", "0"
		}
		where += " OR (root >= ? AND root < ?)"
		args = append(args, lo, hi)
	}
	return where + ")", args
}

// Blocked reports whether someone other than login holds a lock covering
// p (and, with below, anything under p).
func (s *Store) Blocked(ctx context.Context, login string, p vpath.Path, below bool) (bool, error) {
	where, args := covering(p.String(), below, time.Now())
	var n int
	err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM locks WHERE login <> ? AND "+where, append([]any{login}, args...)...).Scan(&n)
	return n > 0, err
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return "opaquelocktoken:" + hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:6]) + "-" +
		hex.EncodeToString(b[6:8]) + "-" + hex.EncodeToString(b[8:10]) + "-" + hex.EncodeToString(b[10:])
}

func expiry(now time.Time, d time.Duration) int64 {
	if d < 0 || d > MaxDuration {
		d = MaxDuration
	}
	return now.Add(d).UnixNano()
}

// CreateShared takes a shared lock (x/net/webdav knows only exclusive
// ones): it conflicts with exclusive locks only.
func (s *Store) CreateShared(ctx context.Context, login string, d webdav.LockDetails, now time.Time) (string, error) {
	d.Root = clean(d.Root)
	return s.create(ctx, login, d, true, now)
}

// create takes a lock unless a live lock conflicts with it: any lock for
// an exclusive one, an exclusive lock for a shared one.
func (s *Store) create(ctx context.Context, login string, d webdav.LockDetails, shared bool, now time.Time) (string, error) {
	token := newToken()
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM locks WHERE expires_at <= ?", now.UnixNano()); err != nil {
			return err
		}
		where, args := covering(d.Root, !d.ZeroDepth, now)
		if shared {
			where += " AND shared = 0"
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM locks WHERE "+where, args...).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return webdav.ErrLocked
		}
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM locks WHERE login = ?", login).Scan(&n); err != nil {
			return err
		}
		if n >= MaxPerUser {
			return ErrTooMany
		}
		_, err := tx.Exec(ctx, `INSERT INTO locks (token, root, zero_depth, login, owner_xml, expires_at, created_at, shared)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, token, d.Root, boolInt(d.ZeroDepth), login, d.OwnerXML, expiry(now, d.Duration), now.UnixNano(), boolInt(shared))
		return err
	})
	return token, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Store) get(ctx context.Context, token string, now time.Time) (Lock, error) {
	var l Lock
	var zero int
	var exp int64
	err := s.db.QueryRow(ctx, "SELECT token, root, zero_depth, login, owner_xml, expires_at FROM locks WHERE token = ? AND expires_at > ?",
		token, now.UnixNano()).Scan(&l.Token, &l.Root, &zero, &l.Login, &l.OwnerXML, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return l, webdav.ErrNoSuchLock
	}
	l.ZeroDepth, l.Expires = zero == 1, time.Unix(0, exp)
	return l, err
}

// covers reports whether lock l applies to name.
func (l Lock) covers(name string) bool {
	return name == l.Root || !l.ZeroDepth && (l.Root == "/" || strings.HasPrefix(name, l.Root+"/"))
}

// ETagFunc returns the current ETag of a resource, "" if it has none.
type ETagFunc func(name string) string

// ForRequest returns the webdav.LockSystem for one request of one user.
// etag answers the ETag conditions of If headers; nil fails them.
func (s *Store) ForRequest(ctx context.Context, login string, etag ETagFunc) webdav.LockSystem {
	return &requestLS{s: s, ctx: ctx, login: login, etag: etag}
}

type requestLS struct {
	s     *Store
	ctx   context.Context
	login string
	etag  ETagFunc
}

// probe marks the temporary zero-depth locks x/net/webdav takes for a
// request that submits no lock token: they only check for conflicts.
const probe = "pier-probe:"

func (r *requestLS) Create(now time.Time, d webdav.LockDetails) (string, error) {
	d.Root = clean(d.Root)
	if d.Duration < 0 && d.ZeroDepth && d.OwnerXML == "" {
		where, args := covering(d.Root, false, now)
		var n int
		if err := r.s.db.QueryRow(r.ctx, "SELECT COUNT(*) FROM locks WHERE "+where, args...).Scan(&n); err != nil {
			return "", err
		}
		if n > 0 {
			return "", webdav.ErrLocked
		}
		return probe + newToken(), nil
	}
	return r.s.create(r.ctx, r.login, d, false, now)
}

// Confirm evaluates one list of an If header (RFC 4918 10.4): every
// condition must hold — a token must be the user's own live lock covering
// the resource, an ETag must be the resource's, Not inverts either — and
// each named resource that is locked must be covered by one of the user's
// submitted tokens.
func (r *requestLS) Confirm(now time.Time, name0, name1 string, conds ...webdav.Condition) (func(), error) {
	name0, name1 = cleanOpt(name0), cleanOpt(name1)
	var held []Lock
	for _, c := range conds {
		holds := false
		switch {
		case c.Token != "":
			l, err := r.s.get(r.ctx, c.Token, now)
			if err != nil && !errors.Is(err, webdav.ErrNoSuchLock) {
				return nil, err
			}
			holds = err == nil && l.Login == r.login && (l.covers(name0) || name1 != "" && l.covers(name1))
			if holds && !c.Not {
				held = append(held, l)
			}
		case c.ETag != "":
			holds = r.etag != nil && r.etag(name0) == c.ETag
		}
		if holds == c.Not {
			return nil, webdav.ErrConfirmationFailed
		}
	}
	for _, name := range []string{name0, name1} {
		if name == "" || slices.ContainsFunc(held, func(l Lock) bool { return l.covers(name) }) {
			continue
		}
		where, args := covering(name, false, now)
		var n int
		if err := r.s.db.QueryRow(r.ctx, "SELECT COUNT(*) FROM locks WHERE "+where, args...).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, webdav.ErrConfirmationFailed
		}
	}
	return func() {}, nil
}

func cleanOpt(name string) string {
	if name == "" {
		return ""
	}
	return clean(name)
}

func (r *requestLS) Refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, error) {
	l, err := r.s.get(r.ctx, token, now)
	if err != nil {
		return webdav.LockDetails{}, err
	}
	if l.Login != r.login {
		return webdav.LockDetails{}, webdav.ErrNoSuchLock
	}
	if _, err := r.s.db.Exec(r.ctx, "UPDATE locks SET expires_at = ? WHERE token = ?", expiry(now, d), token); err != nil {
		return webdav.LockDetails{}, fmt.Errorf("refresh lock: %w", err)
	}
	return webdav.LockDetails{Root: l.Root, Duration: d, OwnerXML: l.OwnerXML, ZeroDepth: l.ZeroDepth}, nil
}

func (r *requestLS) Unlock(now time.Time, token string) error {
	if strings.HasPrefix(token, probe) {
		return nil
	}
	l, err := r.s.get(r.ctx, token, now)
	if err != nil {
		return err
	}
	if l.Login != r.login {
		return webdav.ErrForbidden
	}
	_, err = r.s.db.Exec(r.ctx, "DELETE FROM locks WHERE token = ?", token)
	return err
}

// clean gives lock roots the form of vpath paths ("/a/b", "/").
func clean(name string) string {
	if p, err := vpath.Parse(name); err == nil {
		return p.String()
	}
	return name
}
