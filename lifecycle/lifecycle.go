// Package lifecycle runs the account lifecycle job: it suspends active
// accounts with no login for the number of days their organisation's
// policy sets (default 90; a never-used account counts from its creation
// or activation) and, where the policy says so, deletes accounts that
// many days after it suspended them for inactivity. One node runs it at a
// time: each run first takes a lease row in the database.
package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"pier/audit"
	"pier/authz"
	"pier/db"
	"pier/identity"
	"pier/secevent"
)

// Config sets when the job runs.
type Config struct {
	// Interval is how often a node tries to run the job; 0 stops it on
	// this node. The lease keeps the other nodes out for one Interval.
	Interval time.Duration
}

// DefaultConfig runs the job hourly.
func DefaultConfig() Config { return Config{Interval: time.Hour} }

// Validate checks the settings.
func (c Config) Validate() error {
	if c.Interval < 0 {
		return fmt.Errorf("--lifecycle-interval: must not be negative, not %v", c.Interval)
	}
	return nil
}

// Job suspends and deletes inactive accounts.
type Job struct {
	db       *db.DB
	ids      *identity.Store
	defaults identity.Policy
	events   secevent.Sink
	log      *slog.Logger
	holder   string
	now      func() time.Time
}

// New returns the job; defaults is the policy where no organisation sets
// one.
func New(d *db.DB, ids *identity.Store, defaults identity.Policy, events secevent.Sink, log *slog.Logger) *Job {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return &Job{db: d, ids: ids, defaults: defaults, events: events, log: log, now: time.Now,
		holder: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))}
}

// Report says what one run did.
type Report struct {
	Ran       bool     // false: another node holds the lease
	Suspended []string // logins
	Deleted   []string
}

// Run runs the job every Interval until ctx ends.
func (j *Job) Run(ctx context.Context, cfg Config) {
	if cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		if _, err := j.Once(ctx, cfg.Interval, false); err != nil && ctx.Err() == nil {
			j.log.Error("lifecycle", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once runs the job now if this node gets the lease for lease (0: only
// while it runs); with dryRun it reports what it would do and changes
// nothing.
func (j *Job) Once(ctx context.Context, lease time.Duration, dryRun bool) (Report, error) {
	now := j.now()
	ctx = audit.WithActor(ctx, "pier lifecycle") // the audit trail names who suspended and deleted
	if !dryRun {
		ok, err := j.take(ctx, now, max(lease, time.Minute))
		if err != nil || !ok {
			return Report{}, err
		}
	}
	r := Report{Ran: true}
	users, err := j.ids.ListUsers(ctx, "")
	if err != nil {
		return r, err
	}
	policies := map[string]identity.Policy{}
	for _, u := range users {
		p, ok := policies[u.Org]
		if !ok {
			if p, err = j.ids.EffectivePolicy(ctx, u.Org, j.defaults); err != nil {
				return r, err
			}
			policies[u.Org] = p
		}
		switch {
		case Due(u, p, now):
			if dryRun {
				r.Suspended = append(r.Suspended, u.Login)
			} else if done, err := j.suspend(ctx, u, p, now); err != nil {
				return r, err
			} else if done {
				r.Suspended = append(r.Suspended, u.Login)
			}
		case DeleteDue(u, p, now):
			if !dryRun {
				// Deleted only if still due as it is now: an account
				// reactivated or made anew since the list was read stays.
				err := j.ids.DeleteUserIf(ctx, u.Login, func(cur identity.User) error {
					if cur.ID != u.ID || !DeleteDue(cur, p, now) {
						return errChanged
					}
					return nil
				})
				if errors.Is(err, errChanged) || errors.Is(err, identity.ErrNotFound) {
					continue
				} else if err != nil {
					return r, err
				}
				j.events.Record(ctx, secevent.Event{Kind: secevent.Deleted, Login: u.Login,
					Reason: fmt.Sprintf("suspended for inactivity since %s, policy deletes after %d days", u.StatusSince.Format(time.DateOnly), p.DeleteDays)})
			}
			r.Deleted = append(r.Deleted, u.Login)
		}
	}
	return r, nil
}

// Due reports whether the policy suspends u at now for inactivity.
func Due(u identity.User, p identity.Policy, now time.Time) bool {
	return u.Status == authz.StatusActive && p.InactiveDays > 0 &&
		!now.Before(u.LastActive().AddDate(0, 0, p.InactiveDays))
}

// DeleteDue reports whether the policy deletes u at now: suspended for
// inactivity DeleteDays ago.
func DeleteDue(u identity.User, p identity.Policy, now time.Time) bool {
	return u.Status == authz.StatusSuspended && u.StatusReason == identity.ReasonInactive && p.DeleteDays > 0 &&
		!u.StatusSince.IsZero() && !now.Before(u.StatusSince.AddDate(0, 0, p.DeleteDays))
}

var errChanged = errors.New("changed meanwhile")

// suspend suspends u unless, read again in the transaction, it is no
// longer due (a login in between).
func (j *Job) suspend(ctx context.Context, u identity.User, p identity.Policy, now time.Time) (bool, error) {
	_, err := j.ids.UpdateUser(ctx, u.Login, func(cur *identity.User) error {
		if cur.ID != u.ID || !Due(*cur, p, now) {
			return errChanged
		}
		cur.Status, cur.StatusReason = authz.StatusSuspended, identity.ReasonInactive
		return nil
	})
	if errors.Is(err, errChanged) || errors.Is(err, identity.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	j.events.Record(ctx, secevent.Event{Kind: secevent.Suspended, Login: u.Login,
		Reason: fmt.Sprintf("no login since %s (policy: %d days)", u.LastActive().Format(time.DateOnly), p.InactiveDays)})
	return true, nil
}

// take gets the job's lease until now+d, if no other node holds it.
func (j *Job) take(ctx context.Context, now time.Time, d time.Duration) (bool, error) {
	res, err := j.db.Exec(ctx, "UPDATE leases SET holder = ?, until_at = ? WHERE name = 'lifecycle' AND (until_at <= ? OR holder = ?)",
		j.holder, now.Add(d).Unix(), now.Unix(), j.holder)
	if err != nil {
		return false, fmt.Errorf("lifecycle lease: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
