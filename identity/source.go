package identity

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"pier/db"
)

// SourceLDAP is the Source of accounts the directory sync manages.
const SourceLDAP = "ldap"

// SourceState is what the directory last said of an account's entry.
type SourceState string

// The states of a directory-managed account's entry.
const (
	SourcePresent  SourceState = "present"  // in the directory and enabled
	SourceDisabled SourceState = "disabled" // in the directory, disabled there
	SourceGone     SourceState = "gone"     // no longer in the directory
)

// Source says who manages an account. The zero value is pier's own
// administrators.
type Source struct {
	Kind  string // "" or SourceLDAP
	DN    string // the directory entry's distinguished name
	State SourceState
}

func (src Source) check() error {
	switch src.Kind {
	case "":
		if src.DN != "" || src.State != "" {
			return fieldErr("source", "an account pier manages has no directory entry")
		}
		return nil
	case SourceLDAP:
	default:
		return fieldErr("source", "%q: want %q or none", clip(src.Kind), SourceLDAP)
	}
	if src.DN == "" || len(src.DN) > 2048 || strings.ContainsAny(src.DN, "\x00\r\n") {
		return fieldErr("source", "the directory entry's DN is empty, longer than 2048 bytes or has line breaks")
	}
	switch src.State {
	case SourcePresent, SourceDisabled, SourceGone:
		return nil
	}
	return fieldErr("source", "unknown state %q", clip(string(src.State)))
}

// SetSource records who manages an account: the directory sync marks
// the accounts it creates, and touches no other.
func (s *Store) SetSource(ctx context.Context, login string, src Source) error {
	if err := src.check(); err != nil {
		return err
	}
	c := &change{op: "user.source", subject: "user " + CanonicalLogin(login), after: src}
	return s.write(ctx, c, func(tx *db.Tx) error {
		var old Source
		var state string
		err := tx.QueryRow(ctx, "SELECT source, source_dn, source_state FROM users WHERE login = ?", CanonicalLogin(login)).
			Scan(&old.Kind, &old.DN, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", login)
		} else if err != nil {
			return err
		}
		old.State, c.before = SourceState(state), old
		_, err = tx.Exec(ctx, "UPDATE users SET source = ?, source_dn = ?, source_state = ?, updated_at = ? WHERE login = ?",
			src.Kind, src.DN, string(src.State), s.now().Unix(), CanonicalLogin(login))
		return err
	})
}

// batchKey carries a batch's transaction in the context its changes get.
type batchKey struct{}

type batch struct {
	store *Store
	tx    *db.Tx
}

// Batch runs fn so that every change it makes through this store, with
// the context fn is given, is written in one transaction: all of them
// commit or none does. Each change keeps its own audit record. fn may be
// run more than once (a conflict with a concurrent transaction on
// PostgreSQL retries it), so it must only make changes, from a plan
// decided before. Reads through the store inside fn do not see the
// batch's own changes.
func (s *Store) Batch(ctx context.Context, fn func(context.Context) error) error {
	if b, ok := ctx.Value(batchKey{}).(*batch); ok && b.store == s {
		return fn(ctx) // already in one
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := fn(context.WithValue(ctx, batchKey{}, &batch{store: s, tx: tx})); err != nil {
			return err
		}
		return bumpGeneration(ctx, tx)
	})
	s.mu.Lock()
	s.genRead = time.Time{} // this node sees the batch's changes at once
	s.mu.Unlock()
	return err
}

// Note records an administrative event that changes no row by itself
// (the summary of a directory sync) in the audit trail; inside a Batch it
// commits with the batch's changes.
func (s *Store) Note(ctx context.Context, op, subject string, after any) error {
	return s.write(ctx, &change{op: op, subject: subject, after: after}, func(*db.Tx) error { return nil })
}
