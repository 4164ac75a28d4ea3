package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"pier/audit"
	"pier/sessions"
)

// WithSessions lets the service list and end this node's live sessions,
// and with shared (if not nil) every node's.
func (s *Service) WithSessions(r *sessions.Registry, shared *sessions.Shared) *Service {
	s.sessions, s.shared = r, shared
	return s
}

// ListSessions returns the live sessions of every node that the actor may
// see (an organisation administrator: their subtree's users'), of one
// login if login is not "". Other nodes' are as they last wrote them, at
// most sessions.Interval ago.
func (s *Service) ListSessions(ctx context.Context, a Actor, login string) ([]sessions.Session, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return nil, err
	}
	keep := func(ss sessions.Session) bool { return sc.has(ss.Org) && (login == "" || ss.Login == login) }
	list := s.sessions.List(keep)
	if s.shared != nil {
		others, err := s.shared.Others(ctx, keep)
		if err != nil {
			return nil, err
		}
		list = sessions.Sorted(list, others)
	}
	return list, nil
}

// EndSession closes a live session now, on whichever node holds it: an
// SFTP connection is cut, a WebDAV transfer aborted. The audit trail
// records who ended it.
func (s *Service) EndSession(ctx context.Context, a Actor, id string) error {
	if err := canWrite(a, "end sessions"); err != nil {
		return err
	}
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return err
	}
	why := "ended by " + a.Name
	var ss sessions.Session
	if s.shared == nil || s.sessions.Local(id) {
		ss, err = s.sessions.Get(id)
		if err != nil || !sc.has(ss.Org) {
			return fmt.Errorf("session %q: %w", id, ErrNotFound)
		}
		if err := s.sessions.End(id, why); err != nil {
			return fmt.Errorf("session %q: %w", id, ErrNotFound)
		}
	} else {
		ss, err = s.shared.Find(ctx, id)
		if errors.Is(err, sessions.ErrNotFound) || err == nil && !sc.has(ss.Org) {
			return fmt.Errorf("session %q: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		if err := s.shared.End(ctx, id, why); err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
	}
	if s.audit != nil {
		return s.audit.Record(ctx, audit.Record{Time: time.Now(), Actor: a.Name, Action: audit.Admin, Op: "session.end",
			Subject: "user " + ss.Login, Org: ss.Org, Protocol: ss.Protocol, From: ss.From, Reason: "session " + id})
	}
	return nil
}
