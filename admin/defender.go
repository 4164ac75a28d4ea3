package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"pier/audit"
	"pier/defender"
	"pier/identity"
)

// WithDefender lets the service list and change the defender's bans.
func (s *Service) WithDefender(d *defender.Defender) *Service {
	s.defender = d
	return s
}

// DefenderView is what the defender holds now: bans in force, and the
// sources and accounts with recent failures, highest first.
type DefenderView struct {
	Bans     []BanView   `json:"bans"`
	Sources  []ScoreView `json:"sources"`
	Accounts []ScoreView `json:"accounts"`
}

// BanView is a ban in force.
type BanView struct {
	Source string `json:"source"` // an address, or an IPv6 /64
	Until  string `json:"until"`
	Count  int    `json:"count"` // bans of this source in a row
	Reason string `json:"reason"`
}

// ScoreView is a source's score, or an account's failures.
type ScoreView struct {
	Name     string `json:"name"`
	Score    int    `json:"score"`
	Failures int    `json:"failures"`
	Last     string `json:"last"`
	Guarded  bool   `json:"guarded,omitempty"` // an account that only known sources may try
}

// errNoDefender: the node has none (tests that build a bare service).
var errNoDefender = errors.New("no defender on this node")

// Defender lists the bans and scores, at most limit of each kind. Sources
// and accounts span every organisation, so only a super administrator or
// an unscoped auditor sees them.
func (s *Service) Defender(ctx context.Context, a Actor, limit int) (DefenderView, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return DefenderView{}, err
	}
	if !sc.all {
		return DefenderView{}, forbidden(a, "see the defender, whose sources and accounts span every organisation")
	}
	if s.defender == nil {
		return DefenderView{}, errNoDefender
	}
	bans, err := s.defender.Bans(ctx)
	if err != nil {
		return DefenderView{}, err
	}
	sources, accounts, err := s.defender.Scores(ctx, limit)
	if err != nil {
		return DefenderView{}, err
	}
	v := DefenderView{Bans: []BanView{}, Sources: []ScoreView{}, Accounts: []ScoreView{}}
	for _, b := range bans {
		v.Bans = append(v.Bans, BanView{Source: b.Source, Until: TimeText(b.Until), Count: b.Count, Reason: b.Reason})
	}
	for _, sc := range sources {
		v.Sources = append(v.Sources, ScoreView{Name: sc.Name, Score: sc.Score, Failures: sc.Failures, Last: TimeText(sc.Last)})
	}
	for _, sc := range accounts {
		v.Accounts = append(v.Accounts, ScoreView{Name: sc.Name, Score: sc.Score, Failures: sc.Failures, Last: TimeText(sc.Last),
			Guarded: s.defender.Guarded(sc.Failures)})
	}
	return v, nil
}

// Ban bans an address or IPv6 /64 for length (0: the next ban's usual
// length). Super administrators only; audited.
func (s *Service) Ban(ctx context.Context, a Actor, source string, length time.Duration, reason string) (BanView, error) {
	if err := superOnly(a, "ban sources"); err != nil {
		return BanView{}, err
	}
	if length < 0 {
		return BanView{}, &identity.FieldError{Field: "for", Msg: "a ban's length must not be negative"}
	}
	if s.defender == nil {
		return BanView{}, errNoDefender
	}
	b, err := s.defender.Ban(ctx, source, length, reason)
	if err != nil {
		return BanView{}, &identity.FieldError{Field: "source", Msg: err.Error()}
	}
	v := BanView{Source: b.Source, Until: TimeText(b.Until), Count: b.Count, Reason: b.Reason}
	return v, s.record(ctx, a, "defender.ban", "source "+b.Source, v)
}

// Unban lifts a source's ban and clears its score; ErrNotFound if it was
// not banned (its score is cleared all the same). Super administrators
// only; audited.
func (s *Service) Unban(ctx context.Context, a Actor, source string) error {
	if err := superOnly(a, "unban sources"); err != nil {
		return err
	}
	if s.defender == nil {
		return errNoDefender
	}
	found, err := s.defender.Unban(ctx, source)
	if err != nil {
		return &identity.FieldError{Field: "source", Msg: err.Error()}
	}
	if err := s.record(ctx, a, "defender.unban", "source "+source, nil); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("ban of %s: %w", source, ErrNotFound)
	}
	return nil
}

// record writes an administrative change that is not an identity change
// to the audit trail.
func (s *Service) record(ctx context.Context, a Actor, op, subject string, after any) error {
	if s.audit == nil {
		return nil
	}
	return s.audit.Record(ctx, audit.Record{Time: s.now(), Actor: a.Name, Action: audit.Admin, Op: op, Subject: subject,
		After: audit.Snapshot(after)})
}
