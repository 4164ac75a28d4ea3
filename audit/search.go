package audit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"pier/db"
)

// Query selects records. Zero fields select everything.
type Query struct {
	Actor  string   // exact login, "cli:root"...
	Orgs   []string // records by an actor of these organisations, or about their folders
	Path   string   // this path and everything below it
	Action string
	Since  time.Time
	Until  time.Time
	After  int64 // only records with a sequence number above (paging); -1: from the start
	Limit  int   // at most this many (default 1,000)
}

// Found is a record found by Search.
type Found struct {
	Seq    int64
	Record Record
	Pruned bool
}

// Search returns the records a query selects, oldest first. Every value
// reaches SQL through placeholders.
func (l *Log) Search(ctx context.Context, q Query) ([]Found, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	add("seq > ?", q.After)
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if len(q.Orgs) > 0 {
		in := db.Placeholders(len(q.Orgs))
		var a []any
		for range 2 {
			for _, o := range q.Orgs {
				a = append(a, o)
			}
		}
		add("(actor_org IN ("+in+") OR path_org IN ("+in+"))", a...)
	}
	if q.Path != "" && q.Path != "/" {
		p := strings.TrimSuffix(q.Path, "/")
		add("(path = ? OR (path >= ? AND path < ?))", p, p+"/", p+"0")
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if !q.Since.IsZero() {
		add("at >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("at < ?", q.Until.UnixNano())
	}
	limit := q.Limit
	if limit <= 0 || limit > 100_000 {
		limit = 1000
	}
	args = append(args, limit)
	rows, err := l.db.Query(ctx, "SELECT seq, data, pruned FROM audit_log WHERE "+strings.Join(where, " AND ")+" ORDER BY seq LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []Found
	for rows.Next() {
		var f Found
		var data *string
		var pruned int
		if err := rows.Scan(&f.Seq, &data, &pruned); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		f.Pruned = pruned == 1
		if data != nil {
			f.Record, _ = Decode([]byte(*data))
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// RunConfig says how often the sequencer works.
type RunConfig struct {
	Every      time.Duration // sequence the inbox this often
	Checkpoint time.Duration // sign a checkpoint this often, when the log grew
	Retention  time.Duration // prune records older than this; 0 keeps them
}

// DefaultRun: a record is in the log within a second, under a signed
// checkpoint within a minute, kept 13 months.
var DefaultRun = RunConfig{Every: time.Second, Checkpoint: time.Minute, Retention: 396 * 24 * time.Hour}

// Run sequences, signs and prunes until ctx ends. Every node may run it:
// the sequencing is serialised cluster-wide.
func (l *Log) Run(ctx context.Context, cfg RunConfig) {
	tick := time.NewTicker(cfg.Every)
	defer tick.Stop()
	lastCheckpoint, lastPrune := time.Time{}, time.Time{}
	for {
		select {
		case <-ctx.Done():
			// What the last moments added goes into the log, signed.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			l.drain(fctx)
			if l.keys.Signer != nil {
				l.Checkpoint(fctx)
			}
			cancel()
			return
		case <-tick.C:
		}
		l.drain(ctx)
		now := l.now()
		if l.keys.Signer != nil && now.Sub(lastCheckpoint) >= cfg.Checkpoint {
			if _, err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("audit checkpoint", "err", err)
			}
			lastCheckpoint = now
		}
		if cfg.Retention > 0 && now.Sub(lastPrune) >= time.Hour {
			if n, err := l.Prune(ctx, now.Add(-cfg.Retention)); err != nil && ctx.Err() == nil {
				l.log.Error("audit prune", "err", err)
			} else if n > 0 {
				l.log.Info("audit records pruned", "records", n, "older_than", cfg.Retention)
			}
			lastPrune = now
		}
	}
}

// drain sequences until the inbox is empty.
func (l *Log) drain(ctx context.Context) {
	for {
		n, err := l.Sequence(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Error("audit sequencing", "err", err)
			}
			return
		}
		if n < batch {
			return
		}
	}
}

// Flush sequences what the inbox holds now, so that a search finds the
// records of changes just made (the sequencer would within a second).
func (l *Log) Flush(ctx context.Context) error {
	for range 100 {
		n, err := l.Sequence(ctx)
		if err != nil || n < batch {
			return err
		}
	}
	return nil
}

// Recorder is what records events that belong to no change; *Log and Nop
// implement it.
type Recorder interface {
	Record(ctx context.Context, r Record) error
}

// Nop records nothing (tests that do not look at the audit trail).
type Nop struct{}

// Record does nothing.
func (Nop) Record(context.Context, Record) error { return nil }

// Logged records through rec and logs failures: an audit record that
// cannot be written is an error worth a log line, never a reason to fail
// the user's request afterwards.
func Logged(ctx context.Context, rec Recorder, log *slog.Logger, r Record) {
	if rec == nil {
		return
	}
	if err := rec.Record(ctx, r); err != nil {
		log.ErrorContext(ctx, "audit record lost", "action", r.Action, "actor", r.Actor, "err", err)
	}
}
