package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"pier/db"
)

// Shared shows every node's sessions to every node, and lets any node end
// any of them, through the database: each node writes its list when it
// changed (every Interval at most) with a heartbeat, and ends within
// EndPoll the sessions another node asked it to end. A node whose
// heartbeat is older than Stale is taken for gone: its sessions are no
// longer listed, and its rows go.
type Shared struct {
	reg     *Registry
	db      *db.DB
	log     *slog.Logger
	now     func() time.Time
	written int64 // the registry's version last written; -1: none
}

// Timings of Shared.
const (
	Interval = 2 * time.Second
	EndPoll  = 500 * time.Millisecond
	Stale    = 3 * Interval
)

// ErrNodeSilent: the node holding a session did not take the request to
// end it within a few seconds.
var ErrNodeSilent = errors.New("the session's node did not answer: try again")

// NewShared shares reg's sessions through d.
func NewShared(reg *Registry, d *db.DB, log *slog.Logger) *Shared {
	return &Shared{reg: reg, db: d, log: log, now: time.Now, written: -1}
}

// Run shares the node's sessions and ends those other nodes ask to end,
// until ctx ends; then it removes the node's rows.
func (s *Shared) Run(ctx context.Context) {
	publish, ends := time.NewTicker(Interval), time.NewTicker(EndPoll)
	defer publish.Stop()
	defer ends.Stop()
	if err := s.Publish(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("sessions: cannot share", "err", err)
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			s.leave(context.WithoutCancel(ctx))
			return
		case <-publish.C:
			err = s.Publish(ctx)
		case <-ends.C:
			err = s.EndAsked(ctx)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sessions: cannot share", "err", err)
		}
	}
}

// Publish writes the node's heartbeat, and its sessions if they changed,
// and forgets nodes gone for long.
func (s *Shared) Publish(ctx context.Context) error {
	now, v, node := s.now(), s.reg.version.Load(), s.reg.node
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO live_nodes (node, seen_at) VALUES (?, ?)
			ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at`, node, now.UnixNano()); err != nil {
			return err
		}
		gone := now.Add(-10 * Stale).UnixNano()
		for _, q := range []string{
			"DELETE FROM live_sessions WHERE node IN (SELECT node FROM live_nodes WHERE seen_at < ?)",
			"DELETE FROM session_ends WHERE at < ?",
			"DELETE FROM live_nodes WHERE seen_at < ?",
		} {
			if _, err := tx.Exec(ctx, q, gone); err != nil {
				return err
			}
		}
		if v == s.written {
			return nil
		}
		if _, err := tx.Exec(ctx, "DELETE FROM live_sessions WHERE node = ?", node); err != nil {
			return err
		}
		for list := s.reg.List(nil); len(list) > 0; {
			n := min(len(list), 100)
			args := make([]any, 0, n*8)
			for _, ss := range list[:n] {
				args = append(args, ss.ID, node, ss.Login, ss.Org, ss.Protocol, ss.From, ss.Started.UnixNano(), ss.Detail)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO live_sessions (id, node, login, org, protocol, from_addr, started_at, detail) VALUES `+
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?),", n), ","), args...); err != nil {
				return err
			}
			list = list[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	s.written = v
	return nil
}

// EndAsked ends the node's sessions that another node asked to end.
func (s *Shared) EndAsked(ctx context.Context) error {
	rows, err := s.db.Query(ctx, "SELECT id, reason FROM session_ends WHERE node = ?", s.reg.node)
	if err != nil {
		return fmt.Errorf("end requests: %w", err)
	}
	var ids []any
	var reasons []string
	for rows.Next() {
		var id, reason string
		if err := rows.Scan(&id, &reason); err != nil {
			rows.Close()
			return fmt.Errorf("end requests: %w", err)
		}
		ids, reasons = append(ids, id), append(reasons, reason)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return err
	}
	for i, id := range ids {
		s.reg.End(id.(string), reasons[i]) // one already over is fine
	}
	_, err = s.db.Exec(ctx, "DELETE FROM session_ends WHERE id IN ("+db.Placeholders(len(ids))+")", ids...)
	return err
}

// Others returns the sessions of the other nodes alive, that keep keeps
// (nil keeps all), as those nodes last wrote them.
func (s *Shared) Others(ctx context.Context, keep func(Session) bool) ([]Session, error) {
	rows, err := s.db.Query(ctx, `SELECT s.id, s.login, s.org, s.protocol, s.from_addr, s.started_at, s.detail
		FROM live_sessions s JOIN live_nodes n ON n.node = s.node WHERE s.node <> ? AND n.seen_at >= ?`,
		s.reg.node, s.now().Add(-Stale).UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sessions of other nodes: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var ss Session
		var started int64
		if err := rows.Scan(&ss.ID, &ss.Login, &ss.Org, &ss.Protocol, &ss.From, &started, &ss.Detail); err != nil {
			return nil, fmt.Errorf("sessions of other nodes: %w", err)
		}
		ss.Started = time.Unix(0, started)
		if keep == nil || keep(ss) {
			out = append(out, ss)
		}
	}
	return out, rows.Err()
}

// Find returns another node's live session.
func (s *Shared) Find(ctx context.Context, id string) (Session, error) {
	list, err := s.Others(ctx, func(ss Session) bool { return ss.ID == id })
	if err != nil {
		return Session{}, err
	}
	if len(list) == 0 {
		return Session{}, ErrNotFound
	}
	return list[0], nil
}

// End asks the node holding another node's session id to end it, and
// waits until that node has taken the request (within EndPoll, unless it
// is busy or gone: then ErrNodeSilent after 5 s).
func (s *Shared) End(ctx context.Context, id, reason string) error {
	node, _, ok := strings.Cut(id, "-")
	if !ok || node == s.reg.node {
		return ErrNotFound
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO session_ends (id, node, reason, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, id, node, reason, s.now().UnixNano()); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var one int
		err := s.db.QueryRow(ctx, "SELECT 1 FROM session_ends WHERE id = ?", id).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("end session: %w", err)
		case time.Now().After(deadline):
			return ErrNodeSilent
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(EndPoll / 5):
		}
	}
}

// leave removes the node's rows when it stops.
func (s *Shared) leave(ctx context.Context) {
	for _, q := range []string{"DELETE FROM live_sessions WHERE node = ?", "DELETE FROM live_nodes WHERE node = ?"} {
		if _, err := s.db.Exec(ctx, q, s.reg.node); err != nil {
			s.log.Warn("sessions: cannot leave", "err", err)
		}
	}
}
