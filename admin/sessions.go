package admin

import (
	"context"
	"fmt"
	"time"

	"pier/audit"
	"pier/sessions"
)

// WithSessions lets the service list and end this node's live sessions.
func (s *Service) WithSessions(r *sessions.Registry) *Service {
	s.sessions = r
	return s
}

// ListSessions returns the live sessions of this node that the actor may
// see (an organisation administrator: their subtree's users'), of one
// login if login is not "".
func (s *Service) ListSessions(ctx context.Context, a Actor, login string) ([]sessions.Session, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return nil, err
	}
	return s.sessions.List(func(ss sessions.Session) bool {
		return sc.has(ss.Org) && (login == "" || ss.Login == login)
	}), nil
}

// EndSession closes a live session now: an SFTP connection is cut, a
// WebDAV transfer aborted. The audit trail records who ended it.
func (s *Service) EndSession(ctx context.Context, a Actor, id string) error {
	if err := canWrite(a, "end sessions"); err != nil {
		return err
	}
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return err
	}
	ss, err := s.sessions.Get(id)
	if err != nil || !sc.has(ss.Org) {
		return fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if err := s.sessions.End(id, "ended by "+a.Name); err != nil {
		return fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if s.audit != nil {
		return s.audit.Record(ctx, audit.Record{Time: time.Now(), Actor: a.Name, Action: audit.Admin, Op: "session.end",
			Subject: "user " + ss.Login, Org: ss.Org, Protocol: ss.Protocol, From: ss.From, Reason: "session " + id})
	}
	return nil
}
