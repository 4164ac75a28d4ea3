// Package identity stores who is who in pier: organisations (a tree),
// users with their credentials, groups and the grants of folder rights, in
// the same SQL database as the catalog (PostgreSQL or SQLite, through
// package db). It loads the facts that authz decides on, and caches them
// with prompt invalidation: every change bumps a generation counter that
// readers check at most once a second.
//
// Errors: a missing object wraps ErrNotFound, a duplicate ErrExists, a bad
// field is a *FieldError naming the field. Nothing is partially written: every
// change is one transaction.
package identity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"pier/audit"
	"pier/db"
)

// Errors wrapped by the store's methods.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
)

// FieldError names the field that made an input invalid.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func notFound(what, name string) error { return fmt.Errorf("%s %q: %w", what, name, ErrNotFound) }
func exists(what, name string) error   { return fmt.Errorf("%s %q: %w", what, name, ErrExists) }

var (
	slugRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	loginRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,63}$`)
	groupRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	roleRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// CanonicalLogin returns the stored form of a login: logins are
// case-insensitive, so "Alice" and "alice" are one user.
func CanonicalLogin(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func checkSlug(field, s string) error {
	if !slugRE.MatchString(s) {
		return fieldErr(field, "%q is not a valid slug: 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", clip(s))
	}
	return nil
}

func checkLogin(s string) error {
	if !loginRE.MatchString(s) {
		return fieldErr("login", "%q is not a valid login: 1 to 64 of a-z, 0-9, '.', '_', '@', '+', '-', starting with a letter or digit", clip(s))
	}
	return nil
}

func checkGroup(s string) error {
	if !groupRE.MatchString(s) {
		return fieldErr("group", "%q is not a valid group name: 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit", clip(s))
	}
	return nil
}

func checkRole(s string) error {
	if s != "" && !roleRE.MatchString(s) {
		return fieldErr("role", "%q is not a valid role: 1 to 64 of a-z, 0-9, '.', '_', '-'", clip(s))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Store keeps identities and grants in SQL.
type Store struct {
	db  *db.DB
	now func() time.Time

	mu       sync.Mutex
	gen      int64     // last generation read
	genRead  time.Time // when gen was read
	cache    map[string]cached
	cacheTTL time.Duration
}

// New returns a store over an open, migrated database.
func New(d *db.DB) *Store {
	return &Store{db: d, now: time.Now, cache: map[string]cached{}, cacheTTL: time.Second}
}

// change describes an administrative change for the audit trail: what
// was done to whom, and the object before and after (never a secret).
type change struct {
	op            string // "user.add"
	subject       string // "user acme-edi"
	before, after any
}

// write runs fn in a transaction, records the change in the audit trail in
// the same transaction (its actor from audit.WithActor), and bumps the
// generation, so every node's cached facts are reloaded within a second.
// fn may fill in c's before and after.
// Inside a Batch, fn runs in the batch's transaction.
func (s *Store) write(ctx context.Context, c *change, fn func(*db.Tx) error) error {
	record := func(tx *db.Tx) error {
		org := subjectOrg(ctx, tx, c.subject) // before: a deletion takes it away
		if err := fn(tx); err != nil {
			return err
		}
		if after := subjectOrg(ctx, tx, c.subject); after != "" {
			org = after // an addition makes it, a move changes it
		}
		actor := audit.ActorFrom(ctx)
		return tx.Journal(ctx, audit.Encode(audit.Record{Time: s.now(), Actor: actor, ActorOrg: userOrg(ctx, tx, actor),
			Action: audit.Admin, Op: c.op, Subject: c.subject, Org: org,
			Before: audit.Snapshot(c.before), After: audit.Snapshot(c.after)}))
	}
	if b, ok := ctx.Value(batchKey{}).(*batch); ok && b.store == s {
		return record(b.tx) // the batch bumps the generation once, at its end
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := record(tx); err != nil {
			return err
		}
		return bumpGeneration(ctx, tx)
	})
	if err == nil {
		s.mu.Lock()
		s.genRead = time.Time{} // this node sees its own change at once
		s.mu.Unlock()
	}
	return err
}

// bumpGeneration tells every node's cache that rights may have changed.
func bumpGeneration(ctx context.Context, tx *db.Tx) error {
	_, err := tx.Exec(ctx, "UPDATE settings SET value = value + 1 WHERE name = 'authz_generation'")
	return err
}

// storable reports whether a text can be stored, and so can name
// something stored: valid UTF-8 without NUL (which PostgreSQL refuses and
// SQLite would keep). A lookup by any other text finds nothing, on both
// databases alike, instead of failing.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// subjectOrg returns the organisation the subject of an administrative
// change ("user LOGIN", "group NAME", "grant ID"…) belongs to, for the
// audit trail's scoping; "" when it has none or is not there.
func subjectOrg(ctx context.Context, tx *db.Tx, subject string) string {
	kind, name, _ := strings.Cut(subject, " ")
	id, _ := strconv.ParseInt(name, 10, 64)
	var org string
	var err error
	switch kind {
	case "user":
		return userOrg(ctx, tx, name)
	case "org":
		return name
	case "group":
		err = tx.QueryRow(ctx, "SELECT owner_org FROM user_groups WHERE name = ?", name).Scan(&org)
	case "grant":
		var path string
		err = tx.QueryRow(ctx, "SELECT path FROM grants WHERE id = ?", id).Scan(&path)
		org, _, _ = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	case "token":
		err = tx.QueryRow(ctx, `SELECT o.slug FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN orgs o ON o.id = u.org_id
			WHERE t.id = ?`, id).Scan(&org)
	}
	if err != nil {
		return ""
	}
	return org
}

// userOrg returns a user's organisation, "" for no such user (an actor
// such as "cli:root").
func userOrg(ctx context.Context, tx *db.Tx, login string) string {
	if login == "" || strings.Contains(login, ":") {
		return ""
	}
	var org string
	if err := tx.QueryRow(ctx, "SELECT o.slug FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.login = ?",
		CanonicalLogin(login)).Scan(&org); err != nil {
		return ""
	}
	return org
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

func splitList(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}
