// Package locks keeps WebDAV locks in the SQL database, so that every node
// and every protocol sees the same locks (x/net/webdav's in-memory lock
// system is per process). The authorising file system (authfs) is its only
// user: it decides whether a user may take, refresh or release a lock, and
// asks Blocked before any protocol changes a path someone else has locked.
//
// A lock token can be used only by the user who took it. A lock expires at
// its timeout; "infinite" locks are capped at Limits.MaxDuration. A lock on
// a name that did not exist yet (WebDAV creates an empty resource for it)
// is provisional: it lives at most Limits.ProvisionalDuration, and a user
// holds at most Limits.MaxProvisional of them, so nobody can reserve
// future names for long; it becomes an ordinary lock once its owner has
// written the resource.
package locks

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"pier/db"
	"pier/vpath"
)

// Limits bound what one user can lock.
type Limits struct {
	MaxDuration         time.Duration // any lock
	MaxPerUser          int           // live locks of one user
	ProvisionalDuration time.Duration // a lock on a name that did not exist
	MaxProvisional      int           // live provisional locks of one user
}

// DefaultLimits are the limits of New.
var DefaultLimits = Limits{MaxDuration: 24 * time.Hour, MaxPerUser: 1000,
	ProvisionalDuration: 10 * time.Minute, MaxProvisional: 20}

// Errors of the store.
var (
	// ErrLocked refuses a lock that conflicts with a live one.
	ErrLocked = errors.New("locked")
	// ErrNoSuchLock: the token names no live lock of this user.
	ErrNoSuchLock = errors.New("no such lock")
	// ErrNotOwner refuses releasing another user's lock.
	ErrNotOwner = errors.New("the lock belongs to another user")
	// ErrTooMany refuses a lock beyond the user's limits.
	ErrTooMany = errors.New("too many locks held by this user")
)

// Store keeps locks in SQL.
type Store struct {
	db     *db.DB
	limits Limits
	idle   *idleCache // shared by the store's copies
}

// idleCache remembers whether no lock was live when last read.
type idleCache struct {
	mu   sync.Mutex
	none bool
	read time.Time
}

// IdleTTL is how long Idle trusts what it read.
const IdleTTL = time.Second

// New returns a lock store over an open, migrated database.
func New(d *db.DB) *Store { return &Store{db: d, limits: DefaultLimits, idle: &idleCache{}} }

// WithLimits returns the store with other limits.
func (s *Store) WithLimits(l Limits) *Store { return &Store{db: s.db, limits: l, idle: s.idle} }

// Limits returns the store's limits.
func (s *Store) Limits() Limits { return s.limits }

// Request asks for a lock.
type Request struct {
	Root        vpath.Path
	ZeroDepth   bool          // the resource alone, not what is below it
	Shared      bool          // conflicts with exclusive locks only
	OwnerXML    string        // the client's owner element, returned as it is
	Duration    time.Duration // asked for; <= 0 means as long as allowed
	Provisional bool          // the resource did not exist before the lock
	Note        []byte        // the lock's audit record, written with it (db.Tx.Journal)
}

// Lock is one held lock.
type Lock struct {
	Token       string
	Root        vpath.Path
	ZeroDepth   bool
	Shared      bool
	Login       string
	OwnerXML    string
	Expires     time.Time
	Provisional bool
}

// Covers reports whether the lock applies to p.
func (l Lock) Covers(p vpath.Path) bool {
	return p == l.Root || !l.ZeroDepth && p.Within(l.Root)
}

// Timeout is what is left of the lock at now, rounded up to a second.
func (l Lock) Timeout(now time.Time) time.Duration {
	return max(l.Expires.Sub(now).Round(time.Second), time.Second)
}

// covering returns the SQL condition and arguments selecting live locks
// that cover p: on p itself, infinite-depth locks on an ancestor, and
// (when below is set) any lock on a descendant.
func covering(p vpath.Path, below bool, now time.Time) (string, []any) {
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

const lockCols = "token, root, zero_depth, shared, login, owner_xml, expires_at, provisional"

func scanLock(sc interface{ Scan(...any) error }) (Lock, error) {
	var l Lock
	var root string
	var zero, shared, prov int
	var exp int64
	if err := sc.Scan(&l.Token, &root, &zero, &shared, &l.Login, &l.OwnerXML, &exp, &prov); err != nil {
		return l, err
	}
	p, err := vpath.Stored(root)
	if err != nil {
		return l, fmt.Errorf("lock %s holds a bad path: %w", l.Token, err)
	}
	l.Root, l.ZeroDepth, l.Shared, l.Expires, l.Provisional = p, zero == 1, shared == 1, time.Unix(0, exp), prov == 1
	return l, nil
}

// Covering returns the live locks covering p (with below, also those on
// anything under p), of every user.
func (s *Store) Covering(ctx context.Context, p vpath.Path, below bool, now time.Time) ([]Lock, error) {
	where, args := covering(p, below, now)
	rows, err := s.db.Query(ctx, "SELECT "+lockCols+" FROM locks WHERE "+where+" ORDER BY token", args...)
	if err != nil {
		return nil, fmt.Errorf("locks: %w", err)
	}
	defer rows.Close()
	var out []Lock
	for rows.Next() {
		l, err := scanLock(rows)
		if err != nil {
			return nil, fmt.Errorf("locks: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Idle reports whether no lock at all was live when the store last
// looked, at most IdleTTL ago (a lock this store took counts at once). It
// is a hint, for a check made again where it counts: an upload is
// checked for locks before it starts, to refuse it early, and again when
// it is published. A failure to read says "not idle".
func (s *Store) Idle(ctx context.Context, now time.Time) bool {
	c := s.idle
	c.mu.Lock()
	none, fresh := c.none, !c.read.IsZero() && now.Sub(c.read) < IdleTTL && !now.Before(c.read)
	c.mu.Unlock()
	if fresh {
		return none
	}
	var one int
	err := s.db.QueryRow(ctx, "SELECT 1 FROM locks WHERE expires_at > ? LIMIT 1", now.UnixNano()).Scan(&one)
	none = errors.Is(err, sql.ErrNoRows)
	if err != nil && !none {
		return false
	}
	c.mu.Lock()
	c.none, c.read = none, now
	c.mu.Unlock()
	return none
}

// Blocked reports whether someone other than login holds a lock covering
// p (and, with below, anything under p).
func (s *Store) Blocked(ctx context.Context, login string, p vpath.Path, below bool) (bool, error) {
	where, args := covering(p, below, time.Now())
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

// grant is the duration a lock gets: what was asked for, within the cap.
func (s *Store) grant(asked time.Duration, provisional bool) time.Duration {
	limit := s.limits.MaxDuration
	if provisional {
		limit = min(limit, s.limits.ProvisionalDuration)
	}
	if asked <= 0 || asked > limit {
		return limit
	}
	return asked
}

// Create takes a lock unless a live lock conflicts with it (any lock for
// an exclusive one, an exclusive lock for a shared one) or the user holds
// too many. The returned Lock says what was granted.
func (s *Store) Create(ctx context.Context, login string, r Request, now time.Time) (Lock, error) {
	l := Lock{Token: newToken(), Root: r.Root, ZeroDepth: r.ZeroDepth, Shared: r.Shared, Login: login,
		OwnerXML: r.OwnerXML, Expires: now.Add(s.grant(r.Duration, r.Provisional)), Provisional: r.Provisional}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM locks WHERE expires_at <= ?", now.UnixNano()); err != nil {
			return err
		}
		where, args := covering(r.Root, !r.ZeroDepth, now)
		if r.Shared {
			where += " AND shared = 0"
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM locks WHERE "+where, args...).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrLocked
		}
		var all, prov int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*), COALESCE(SUM(provisional), 0) FROM locks WHERE login = ?", login).Scan(&all, &prov); err != nil {
			return err
		}
		switch {
		case all >= s.limits.MaxPerUser:
			return fmt.Errorf("%w (%d)", ErrTooMany, s.limits.MaxPerUser)
		case r.Provisional && prov >= s.limits.MaxProvisional:
			return fmt.Errorf("%w on names that do not exist yet (%d)", ErrTooMany, s.limits.MaxProvisional)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO locks (token, root, zero_depth, login, owner_xml, expires_at, created_at, shared, provisional)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, l.Token, l.Root.String(), boolInt(l.ZeroDepth), login, l.OwnerXML,
			l.Expires.UnixNano(), now.UnixNano(), boolInt(l.Shared), boolInt(l.Provisional)); err != nil {
			return err
		}
		return tx.Journal(ctx, r.Note)
	})
	if err != nil {
		return Lock{}, err
	}
	s.idle.mu.Lock()
	s.idle.none = false
	s.idle.mu.Unlock()
	return l, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Get returns the live lock with this token, of any user.
func (s *Store) Get(ctx context.Context, token string, now time.Time) (Lock, error) {
	l, err := scanLock(s.db.QueryRow(ctx, "SELECT "+lockCols+" FROM locks WHERE token = ? AND expires_at > ?", token, now.UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNoSuchLock
	}
	return l, err
}

// Refresh extends a live lock of login's by d from now (capped as at
// creation) and returns it as granted.
func (s *Store) Refresh(ctx context.Context, login, token string, d time.Duration, now time.Time) (Lock, error) {
	l, err := s.Get(ctx, token, now)
	if err != nil {
		return l, err
	}
	if l.Login != login {
		return Lock{}, ErrNoSuchLock
	}
	l.Expires = now.Add(s.grant(d, l.Provisional))
	res, err := s.db.Exec(ctx, "UPDATE locks SET expires_at = ? WHERE token = ? AND expires_at > ?", l.Expires.UnixNano(), token, now.UnixNano())
	if err != nil {
		return Lock{}, fmt.Errorf("refresh lock: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Lock{}, ErrNoSuchLock
	}
	return l, nil
}

// Settle makes login's provisional locks on p ordinary: the resource they
// reserved now holds what its owner wrote.
func (s *Store) Settle(ctx context.Context, login string, p vpath.Path) error {
	_, err := s.db.Exec(ctx, "UPDATE locks SET provisional = 0 WHERE login = ? AND root = ? AND provisional = 1", login, p.String())
	return err
}

// Unlock releases a lock of login's, writing note (its audit record, if
// any) with the release.
func (s *Store) Unlock(ctx context.Context, login, token string, now time.Time, note []byte) error {
	l, err := s.Get(ctx, token, now)
	if err != nil {
		return err
	}
	if l.Login != login {
		return ErrNotOwner
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, "DELETE FROM locks WHERE token = ?", token)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNoSuchLock // released or expired meanwhile: no record of a release
		}
		return tx.Journal(ctx, note)
	})
}

// ParseToken reads a lock token as clients send it in a Lock-Token header:
// a Coded-URL "<opaquelocktoken:...>", or (the npm webdav client) the bare
// URI. It returns the token without brackets, or false.
func ParseToken(h string) (string, bool) {
	h = strings.TrimSpace(h)
	if strings.HasPrefix(h, "<") != strings.HasSuffix(h, ">") {
		return "", false
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "<"), ">")
	if h == "" || len(h) > 256 || strings.ContainsAny(h, "<> \t\r\n") {
		return "", false
	}
	return h, true
}
