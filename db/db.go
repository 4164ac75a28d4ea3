// Package db opens pier's SQL database — PostgreSQL (through pgx) in
// production, SQLite (pure Go, no cgo) as the embedded default — and applies
// the versioned schema migrations. Both dialects share one set of SQL
// statements written with "?" placeholders; Rebind adapts them.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL flavour of a database.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DB is an open database with its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Where is a printable description without secrets.
	Where string
	// OnRetry, if set, is called when WriteTx runs a transaction, or Exec
	// a statement, again after a conflict or a busy database (metrics).
	OnRetry func()
}

// Open connects to dsn — "postgres://…", "postgresql://…", "sqlite:PATH" or
// a plain file path (SQLite) — checks that it answers within the context's
// deadline, and applies pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	d, err := open(dsn)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := d.PingContext(pctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("database %s is unreachable: %w", d.Where, cleanErr(err))
	}
	if err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func open(dsn string) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("database URL: %v", redactURLError(err))
		}
		sdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("database URL: %w", err)
		}
		sdb.SetMaxOpenConns(32)
		sdb.SetMaxIdleConns(8)
		sdb.SetConnMaxIdleTime(5 * time.Minute)
		return &DB{DB: sdb, Dialect: Postgres, Where: "postgres://" + u.Host + u.Path}, nil
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return nil, fmt.Errorf("database URL: unknown scheme %q (want postgres:// or sqlite:PATH)", scheme)
	default:
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("database: empty SQLite path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("database directory: %w", err)
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Set("_txlock", "immediate")
		sdb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return &DB{DB: sdb, Dialect: SQLite, Where: "sqlite:" + path}, nil
	}
}

// redactURLError drops the URL (which may hold a password) from a parse error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// cleanErr keeps connection errors short and free of secrets.
func cleanErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	// pgx lists every address it tried on its own line: keep one line.
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

// Rebind rewrites "?" placeholders to "$1", "$2"… for PostgreSQL. Our SQL
// never has "?" inside string literals.
func (d *DB) Rebind(q string) string {
	if d.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Tx is a transaction whose statements use "?" placeholders.
type Tx struct {
	tx *sql.Tx
	db *DB
}

func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.Rebind(q), args...)
}

func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.Rebind(q), args...)
}

func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.Rebind(q), args...)
}

// Journal appends an audit record to the audit trail's inbox in this
// transaction, so that a change and its record commit together or not at
// all. The audit package sequences the inbox into its log.
func (t *Tx) Journal(ctx context.Context, record []byte) error {
	if len(record) == 0 {
		return nil
	}
	_, err := t.Exec(ctx, "INSERT INTO audit_queue (data) VALUES (?)", string(record))
	return err
}

// Exec runs one statement outside a transaction.
// A statement that meets a busy database or a conflict is run again as
// WriteTx runs a transaction: SQLite's busy timeout ends a wait for the
// write lock, not the queue of writers, which a burst of uploads can make
// longer.
func (d *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := d.retry(ctx, d.busy, func() (err error) {
		res, err = d.ExecContext(ctx, d.Rebind(q), args...)
		return err
	})
	return res, err
}

// Query runs one query outside a transaction.
func (d *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.QueryContext(ctx, d.Rebind(q), args...)
}

// QueryRow runs one single-row query outside a transaction.
func (d *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.QueryRowContext(ctx, d.Rebind(q), args...)
}

// WriteTx runs fn in a serializable transaction, retrying it when the
// database reports a conflict with a concurrent transaction. fn must be
// safe to run more than once. SQLite transactions take the write lock at
// BEGIN, so they never conflict; PostgreSQL runs them SERIALIZABLE.
func (d *DB) WriteTx(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{}
	if d.Dialect == Postgres {
		opts.Isolation = sql.LevelSerializable
	}
	return d.retry(ctx, d.retryable, func() error { return d.tryTx(ctx, opts, fn) })
}

// retry runs try until it succeeds, fails with an error again does not
// say may pass, or has failed 21 times, waiting a growing random backoff
// between attempts.
func (d *DB) retry(ctx context.Context, again func(error) bool, try func() error) error {
	for attempt := 0; ; attempt++ {
		err := try()
		if err == nil || !again(err) || attempt >= 20 {
			return err
		}
		if d.OnRetry != nil {
			d.OnRetry()
		}
		backoff := time.Duration(1+rand.IntN(5<<min(attempt, 5))) * time.Millisecond // #nosec G404 -- retry jitter, not a secret
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

func (d *DB) tryTx(ctx context.Context, opts *sql.TxOptions, fn func(*Tx) error) error {
	stx, err := d.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(&Tx{tx: stx, db: d}); err != nil {
		stx.Rollback()
		return err
	}
	return stx.Commit()
}

// retryable reports conflicts that a new attempt may not meet again.
func (d *DB) retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "23505": // serialization, deadlock, unique race
			return true
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

// busy reports a database too busy for a statement, or a conflict it may
// not meet again: retryable without the unique race, which a single
// statement meets again every time.
func (d *DB) busy(err error) bool {
	return d.retryable(err) && !IsUnique(err)
}

// IsUnique reports whether err is a unique-constraint violation.
func IsUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Placeholders returns "?,?,…" with n marks, for IN lists.
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
