package lifecycle

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"pier/authz"
	"pier/db"
	"pier/identity"
	"pier/internal/testenv"
	"pier/secevent"
)

func backends(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	testenv.Databases(t, fn)
}

var defaults = identity.Policy{MFA: identity.MFAOff, MFAKeys: "no", InactiveDays: 90, DeleteDays: -1}

// TestInactivity: accounts without a login for their organisation's
// number of days are suspended (never-used ones count from creation),
// later deleted where the policy says so; a login or an activation
// restarts the count; pending and admin-suspended accounts are left alone.
func TestInactivity(t *testing.T) {
	backends(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		ids := identity.New(d)
		for _, o := range []identity.Org{{Slug: "hq", Kind: identity.Internal}, {Slug: "acme"}, {Slug: "acme-berlin", Parent: "acme"}} {
			if _, err := ids.AddOrg(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		// acme: 30 days, deleted 10 days after; acme-berlin inherits.
		if err := ids.SetOrgPolicy(ctx, "acme", identity.Policy{InactiveDays: 30, DeleteDays: 10}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []identity.User{{Login: "anna", Org: "hq"}, {Login: "edi", Org: "acme-berlin"}, {Login: "fresh", Org: "acme"},
			{Login: "new", Org: "acme", Status: authz.StatusPending}} {
			if _, err := ids.AddUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		j := New(d, ids, defaults, secevent.Discard{}, slog.New(slog.DiscardHandler))
		start := time.Now()
		at := func(days int) { j.now = func() time.Time { return start.AddDate(0, 0, days) } }
		run := func(days int) Report {
			t.Helper()
			at(days)
			r, err := j.Once(ctx, 0, false)
			if err != nil || !r.Ran {
				t.Fatalf("day %d: %+v %v", days, r, err)
			}
			return r
		}
		if r := run(29); len(r.Suspended)+len(r.Deleted) > 0 {
			t.Fatalf("day 29: %+v, want nothing", r)
		}
		if err := ids.RecordLogin(ctx, "fresh", start.AddDate(0, 0, 20)); err != nil {
			t.Fatal(err)
		}
		// Day 31: edi (acme-berlin inherits 30 days) never logged in.
		if r := run(31); !slices.Equal(r.Suspended, []string{"edi"}) {
			t.Fatalf("day 31 suspended %v, want [edi]", r.Suspended)
		}
		u, _ := ids.GetUser(ctx, "edi")
		if u.Status != authz.StatusSuspended || u.StatusReason != identity.ReasonInactive {
			t.Fatalf("edi: %s (%s)", u.Status, u.StatusReason)
		}
		if r := run(41); !slices.Equal(r.Deleted, []string{"edi"}) || len(r.Suspended) != 0 {
			t.Fatalf("day 41: %+v, want edi deleted (10 days after its suspension)", r)
		}
		if r := run(51); !slices.Equal(r.Suspended, []string{"fresh"}) {
			t.Fatalf("day 51: %+v, want fresh suspended (30 days after its login on day 20)", r)
		}
		// An administrator reopens fresh: the count starts again.
		if _, err := ids.SetStatus(ctx, "fresh", authz.StatusActive); err != nil {
			t.Fatal(err)
		}
		u, _ = ids.GetUser(ctx, "fresh")
		p := identity.Policy{InactiveDays: 30}
		if u.StatusReason != "" || time.Since(u.StatusSince) > time.Minute || Due(u, p, u.StatusSince.AddDate(0, 0, 29)) {
			t.Fatalf("reopened: since %v reason %q: due within 30 days of reopening, or not after", u.StatusSince, u.StatusReason)
		}
		if r := run(91); !slices.Equal(r.Suspended, []string{"anna", "fresh"}) {
			t.Fatalf("day 91: %v suspended, want anna (default 90 days) and fresh", r.Suspended)
		}
		if r := run(400); len(r.Deleted) != 1 || r.Deleted[0] != "fresh" {
			t.Fatalf("day 400: deleted %v, want fresh only (hq deletes never)", r.Deleted)
		}
		if u, _ := ids.GetUser(ctx, "new"); u.Status != authz.StatusPending {
			t.Fatalf("a pending account became %s", u.Status)
		}
	})
}

// TestLease: one node at a time runs the job.
func TestLease(t *testing.T) {
	backends(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		ids := identity.New(d)
		a := New(d, ids, defaults, secevent.Discard{}, slog.New(slog.DiscardHandler))
		b := New(d, ids, defaults, secevent.Discard{}, slog.New(slog.DiscardHandler))
		if r, err := a.Once(ctx, time.Hour, false); err != nil || !r.Ran {
			t.Fatalf("a: %+v %v", r, err)
		}
		if r, err := b.Once(ctx, time.Hour, false); err != nil || r.Ran {
			t.Fatalf("b ran while a holds the lease: %+v %v", r, err)
		}
		if r, _ := a.Once(ctx, time.Hour, false); !r.Ran {
			t.Fatal("a cannot renew its own lease")
		}
		b.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		if r, _ := b.Once(ctx, time.Hour, false); !r.Ran {
			t.Fatal("b cannot take an expired lease")
		}
	})
}
