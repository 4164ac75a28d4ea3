package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"pier/audit/proof"
	"pier/db"
)

// Log is the audit log in the database.
type Log struct {
	db    *db.DB
	keys  Keys
	out   io.Writer // JSON lines of sequenced records; nil: none
	log   *slog.Logger
	now   func() time.Time
	outMu sync.Mutex // one JSON line at a time
}

// New returns the log over an open, migrated database. keys.Signer may be
// nil for a log that is only read and verified; out, if not nil, receives
// every sequenced record as one JSON line.
func New(d *db.DB, keys Keys, out io.Writer, log *slog.Logger) *Log {
	return &Log{db: d, keys: keys, out: out, log: log, now: time.Now}
}

// WithOutput returns the log writing every record it sequences to out as
// one JSON line.
func (l *Log) WithOutput(out io.Writer) *Log {
	return &Log{db: l.db, keys: l.keys, out: out, log: l.log, now: l.now}
}

// WithKeys returns the log checking (and signing) with other keys: to
// verify with a public key given by an auditor.
func (l *Log) WithKeys(k Keys) *Log {
	return &Log{db: l.db, keys: k, out: l.out, log: l.log, now: l.now}
}

// PublicKey is the key that checks the log's checkpoints, in note's text
// form: give it to auditors and partners.
func (l *Log) PublicKey() string { return l.keys.Public }

// Record appends a record that belongs to no change (a login, a download,
// a refusal) to the inbox. Records of changes go in the change's
// transaction instead (db.Tx.Journal with Encode).
func (l *Log) Record(ctx context.Context, r Record) error {
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	if _, err := l.db.Exec(ctx, "INSERT INTO audit_queue (data) VALUES (?)", string(Encode(r))); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// batch is how many inbox records one sequencing transaction takes.
const batch = 500

// advisoryKey serialises sequencers across PostgreSQL nodes.
const advisoryKey = 7231002

// Sequence moves up to one batch of records from the inbox into the log,
// giving each the next sequence number and storing the Merkle tree hashes
// it adds. It returns how many it moved. Only one sequencer runs at a
// time, cluster-wide.
func (l *Log) Sequence(ctx context.Context) (int, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer tx.Rollback()
	if l.db.Dialect == db.Postgres {
		if _, err := tx.ExecContext(ctx, l.db.Rebind("SELECT pg_advisory_xact_lock(?)"), advisoryKey); err != nil {
			return 0, fmt.Errorf("audit: %w", err)
		}
	}
	q := func(s string) string { return l.db.Rebind(s) }
	var size int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_log").Scan(&size); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	rows, err := tx.QueryContext(ctx, q("SELECT id, data FROM audit_queue ORDER BY id LIMIT ?"), batch)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	var in []queued
	for rows.Next() {
		var e queued
		var data string
		if err := rows.Scan(&e.id, &data); err != nil {
			rows.Close()
			return 0, fmt.Errorf("audit: %w", err)
		}
		e.data = []byte(data)
		in = append(in, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(in) == 0 {
		return 0, err
	}
	hr := &txHashes{ctx: ctx, tx: tx, q: q, mem: map[int64]tlog.Hash{}}
	// The batch's rows go in a few multi-row statements, not three per
	// record: the sequencer runs beside every upload.
	var hashRows, logRows, ids []any
	for i, e := range in {
		seq := size + int64(i)
		hashes, err := tlog.StoredHashes(seq, e.data, hr)
		if err != nil {
			return 0, fmt.Errorf("audit: hashes of record %d: %w", seq, err)
		}
		base := tlog.StoredHashIndex(0, seq)
		for j, h := range hashes {
			hr.mem[base+int64(j)] = h
			hashRows = append(hashRows, base+int64(j), h.String())
		}
		r, _ := Decode(e.data) // a record we cannot read is still logged, unindexed
		logRows = append(logRows, seq, r.Time.UnixNano(), r.Actor, r.ActorOrg, r.Action, r.Path, orgOf(r), r.Outcome, string(e.data))
		ids = append(ids, e.id)
	}
	if err := insertRows(ctx, tx, q, "audit_hashes (idx, hash)", 2, hashRows); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	if err := insertRows(ctx, tx, q, "audit_log (seq, at, actor, actor_org, action, path, path_org, outcome, data)", 9, logRows); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	if _, err := tx.ExecContext(ctx, q("DELETE FROM audit_queue WHERE id IN ("+db.Placeholders(len(ids))+")"), ids...); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	l.emit(size, in)
	return len(in), nil
}

// insertRows inserts rows of cols values each, flattened in args, into
// table (with its column list), up to 1,000 rows per statement (the
// databases bound the number of parameters).
func insertRows(ctx context.Context, tx *sql.Tx, q func(string) string, table string, cols int, args []any) error {
	row := "(" + db.Placeholders(cols) + ")"
	for len(args) > 0 {
		n := min(len(args)/cols, 1000)
		if _, err := tx.ExecContext(ctx, q("INSERT INTO "+table+" VALUES "+strings.TrimSuffix(strings.Repeat(row+",", n), ",")), args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

// queued is a record waiting in the inbox.
type queued struct {
	id   int64
	data []byte
}

// emit writes sequenced records as JSON lines: {"seq":N, ...the record}.
func (l *Log) emit(first int64, in []queued) {
	if l.out == nil {
		return
	}
	l.outMu.Lock()
	defer l.outMu.Unlock()
	var b strings.Builder
	for i, e := range in {
		b.Reset()
		b.WriteString(`{"seq":`)
		b.WriteString(strconv.FormatInt(first+int64(i), 10))
		if len(e.data) > 2 && e.data[0] == '{' {
			b.WriteByte(',')
			b.Write(e.data[1:])
		} else {
			b.WriteString("}")
		}
		b.WriteByte('\n')
		io.WriteString(l.out, b.String())
	}
}

// txHashes reads stored hashes inside the sequencing transaction, with
// the ones this batch computed in memory.
type txHashes struct {
	ctx context.Context
	tx  *sql.Tx
	q   func(string) string
	mem map[int64]tlog.Hash
}

func (r *txHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var need []any
	for _, idx := range indexes {
		if _, ok := r.mem[idx]; !ok {
			need = append(need, idx)
		}
	}
	if len(need) > 0 {
		rows, err := r.tx.QueryContext(r.ctx, r.q("SELECT idx, hash FROM audit_hashes WHERE idx IN ("+db.Placeholders(len(need))+")"), need...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var idx int64
			var s string
			if err := rows.Scan(&idx, &s); err != nil {
				rows.Close()
				return nil, err
			}
			h, err := tlog.ParseHash(s)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("stored hash %d: %w", idx, err)
			}
			r.mem[idx] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for i, idx := range indexes {
		h, ok := r.mem[idx]
		if !ok {
			return nil, fmt.Errorf("stored hash %d is missing", idx)
		}
		out[i] = h
	}
	return out, nil
}

// Checkpoint signs the tree as it is now, if it grew since the last
// checkpoint, and returns the signed note ("" when nothing changed).
func (l *Log) Checkpoint(ctx context.Context) (string, error) {
	if l.keys.Signer == nil {
		return "", errors.New("audit: no signing key")
	}
	var size, last int64
	if err := l.db.QueryRow(ctx, "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_log").Scan(&size); err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	if err := l.db.QueryRow(ctx, "SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints").Scan(&last); err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	if size == 0 || size == last {
		return "", nil
	}
	root, err := tlog.TreeHash(size, l.hashes(ctx))
	if err != nil {
		return "", fmt.Errorf("audit: tree hash: %w", err)
	}
	signed, err := note.Sign(&note.Note{Text: proof.CheckpointText(size, root)}, l.keys.Signer)
	if err != nil {
		return "", fmt.Errorf("audit: sign: %w", err)
	}
	_, err = l.db.Exec(ctx, "INSERT INTO audit_checkpoints (size, root, note, at) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
		size, root.String(), string(signed), l.now().UnixNano())
	if err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	return string(signed), nil
}

// hashes reads stored hashes from the database.
func (l *Log) hashes(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, idx := range indexes {
			var s string
			if err := l.db.QueryRow(ctx, "SELECT hash FROM audit_hashes WHERE idx = ?", idx).Scan(&s); err != nil {
				return nil, fmt.Errorf("stored hash %d: %w", idx, err)
			}
			h, err := tlog.ParseHash(s)
			if err != nil {
				return nil, fmt.Errorf("stored hash %d: %w", idx, err)
			}
			out[i] = h
		}
		return out, nil
	})
}

// Latest returns the newest signed checkpoint.
func (l *Log) Latest(ctx context.Context) (string, error) {
	var n string
	err := l.db.QueryRow(ctx, "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errors.New("audit: no checkpoint yet")
	}
	return n, err
}
