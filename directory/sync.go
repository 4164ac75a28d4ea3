// Package directory imports users from an LDAP directory or Active
// Directory (github.com/go-ldap/ldap/v3) and checks their passwords
// against it.
//
// A sync reads every selected entry first (paged, bounded by
// Config.MaxEntries, Config.TimeLimit and Config.Timeout), then plans the
// change of every user against pier as it is, then writes the whole plan
// in one transaction (identity.Store.Batch): a directory or database
// failure anywhere changes nothing. Users it creates are marked as
// directory-managed (identity.SourceLDAP); it never touches any other
// user. Users that vanished from the directory, or are disabled there,
// are suspended, never deleted, and a sync reactivates only those it
// suspended itself. Logins and every other field pass identity's checks,
// the same as `pier user add`.
package directory

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"pier/authz"
	"pier/db"
	"pier/identity"
	"pier/internal/untrusted"
)

// Report is the outcome of a sync, or with DryRun what it would do.
type Report struct {
	DryRun    bool          `json:"dry_run"`
	Entries   int           `json:"entries"` // directory entries read
	Changes   []Change      `json:"changes"`
	Created   int           `json:"created"`
	Updated   int           `json:"updated"`
	Suspended int           `json:"suspended"`
	Unchanged int           `json:"unchanged"`
	Skipped   int           `json:"skipped"`
	Failed    int           `json:"failed"`
	Took      time.Duration `json:"took_ns"`
}

func (r *Report) count() {
	for _, c := range r.Changes {
		switch c.Result {
		case Created:
			r.Created++
		case Updated:
			r.Updated++
		case Suspended:
			r.Suspended++
		case Unchanged:
			r.Unchanged++
		case Skipped:
			r.Skipped++
		case Failed:
			r.Failed++
		}
	}
}

// Summary is the report's counts on one line.
func (r *Report) Summary() string {
	return fmt.Sprintf("%d created, %d updated, %d suspended, %d unchanged, %d skipped, %d failed",
		r.Created, r.Updated, r.Suspended, r.Unchanged, r.Skipped, r.Failed)
}

// Actor is who the audit trail says made the changes of a scheduled sync.
const Actor = "system:directory-sync"

// ErrTooManySuspensions: a sync would suspend more users than
// Config.MaxSuspend allows; nothing was written.
var ErrTooManySuspensions = errors.New("too many suspensions")

// ErrBusy: another sync holds the lease.
var ErrBusy = errors.New("another directory sync is running")

// Syncer syncs one directory into one store.
type Syncer struct {
	cfg  Config
	ids  *identity.Store
	db   *db.DB
	log  *slog.Logger
	now  func() time.Time
	host string // names this process in the lease
}

// New returns a syncer; cfg must be valid and enabled.
func New(cfg Config, ids *identity.Store, d *db.DB, log *slog.Logger) *Syncer {
	host, _ := os.Hostname()
	var tag [4]byte
	rand.Read(tag[:])
	return &Syncer{cfg: cfg, ids: ids, db: d, log: log, now: time.Now,
		host: fmt.Sprintf("%s:%d:%x", host, os.Getpid(), tag)}
}

// Options change one sync.
type Options struct {
	DryRun bool // report, write nothing
	Force  bool // allow more suspensions than Config.MaxSuspend
}

// Sync reads the directory and brings pier's directory-managed users in
// line with it. With DryRun it writes nothing. Any error means nothing
// was written; the report is then what was planned, if anything.
func (s *Syncer) Sync(ctx context.Context, opt Options) (*Report, error) {
	if !opt.DryRun {
		ok, err := s.acquire(ctx, 0)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrBusy
		}
	}
	rep, err := s.sync(ctx, opt)
	if !opt.DryRun {
		s.release(ctx, rep, err)
	}
	return rep, err
}

func (s *Syncer) sync(ctx context.Context, opt Options) (*Report, error) {
	start := s.now()
	rep := &Report{DryRun: opt.DryRun, Changes: []Change{}}
	st, err := loadState(ctx, s.ids)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.checkTargets(st); err != nil {
		return nil, err
	}
	entries, err := s.cfg.read(ctx)
	if err != nil {
		return nil, err
	}
	rep.Entries = len(entries)
	rep.Changes = s.cfg.plan(st, entries)
	rep.count()
	rep.Took = s.now().Sub(start)
	if err := s.cfg.guard(rep, st.managed, opt.Force); err != nil {
		return rep, err
	}
	if opt.DryRun {
		return rep, nil
	}
	if err := s.apply(ctx, rep); err != nil {
		return rep, fmt.Errorf("directory sync: nothing was written: %w", err)
	}
	rep.Took = s.now().Sub(start)
	s.logReport(ctx, rep)
	return rep, nil
}

// guard refuses a sync that would suspend more than MaxSuspend users, or
// every directory-managed user: a wrong base DN, a wrong filter or a
// directory that lost its entries looks like that.
func (c *Config) guard(rep *Report, managed int, force bool) error {
	if force {
		return nil
	}
	limit := c.MaxSuspend
	if limit == 0 {
		limit = max(10, managed/10)
	}
	n := 0
	for _, ch := range rep.Changes {
		if ch.Result == Suspended {
			n++
		}
	}
	switch {
	case n > limit:
		return fmt.Errorf("%w: the sync would suspend %d of %d directory-managed users, more than %d (--ldap-max-suspend): check --ldap-base-dn and --ldap-filter, or sync with --force",
			ErrTooManySuspensions, n, managed, limit)
	case rep.Entries == 0 && managed > 0:
		return fmt.Errorf("%w: the directory gave no entries, which would suspend all %d directory-managed users: check --ldap-base-dn and --ldap-filter, or sync with --force",
			ErrTooManySuspensions, managed)
	}
	return nil
}

// apply writes the plan in one transaction, with a summary record.
func (s *Syncer) apply(ctx context.Context, rep *Report) error {
	return s.ids.Batch(ctx, func(ctx context.Context) error {
		for i := range rep.Changes {
			if err := s.applyOne(ctx, &rep.Changes[i]); err != nil {
				return fmt.Errorf("user %s: %w", rep.Changes[i].Login, err)
			}
		}
		return s.ids.Note(ctx, "directory.sync", "directory "+s.cfg.where(), map[string]int{
			"entries": rep.Entries, "created": rep.Created, "updated": rep.Updated, "suspended": rep.Suspended,
			"unchanged": rep.Unchanged, "skipped": rep.Skipped, "failed": rep.Failed})
	})
}

func (s *Syncer) applyOne(ctx context.Context, ch *Change) error {
	switch ch.Result {
	case Failed, Skipped:
		return nil
	case Created:
		if _, err := s.ids.AddUser(ctx, ch.user); err != nil {
			return err
		}
	default:
		if ch.writeUser {
			next := ch.user
			if _, err := s.ids.UpdateUser(ctx, ch.Login, func(u *identity.User) error {
				u.Name, u.Email, u.Org, u.Role, u.Status = next.Name, next.Email, next.Org, next.Role, next.Status
				return nil
			}); err != nil {
				return err
			}
		}
	}
	if ch.writeSource {
		if err := s.ids.SetSource(ctx, ch.Login, ch.src); err != nil {
			return err
		}
	}
	me := authz.Subject{Kind: authz.UserSubject, Name: ch.Login}
	for _, g := range ch.join {
		if err := s.ids.AddMember(ctx, g, me); err != nil {
			return err
		}
	}
	for _, g := range ch.leave {
		if err := s.ids.RemoveMember(ctx, g, me); err != nil {
			return err
		}
	}
	return nil
}

// logReport logs the summary, and every change that needs a look.
func (s *Syncer) logReport(ctx context.Context, rep *Report) {
	for _, ch := range rep.Changes {
		switch ch.Result {
		case Failed, Skipped:
			s.log.WarnContext(ctx, "directory sync: entry "+ch.Result, "login", untrusted.Text(ch.Login),
				"dn", untrusted.Text(ch.DN), "reason", untrusted.Text(ch.Reason))
		case Suspended:
			s.log.InfoContext(ctx, "directory sync: user suspended", "login", ch.Login, "reason", ch.Reason)
		}
	}
	s.log.InfoContext(ctx, "directory sync", "directory", s.cfg.where(), "entries", rep.Entries, "created", rep.Created,
		"updated", rep.Updated, "suspended", rep.Suspended, "unchanged", rep.Unchanged, "skipped", rep.Skipped,
		"failed", rep.Failed, "took", rep.Took.Round(time.Millisecond))
}
