package identity_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"pier/authz"
	"pier/db"
	"pier/identity"
	"pier/vpath"
)

// TestUnreadableRestrictionsDenyEverything: a network or protocol
// restriction that does not parse (damaged in the database) must not read
// as "any": the loaded facts deny every action until it is set anew, and
// changes that do not concern it leave it as stored.
func TestUnreadableRestrictionsDenyEverything(t *testing.T) {
	backendsDB(t, func(t *testing.T, d *db.DB, s *identity.Store) {
		ctx := t.Context()
		model(t, s)
		cidrs := must[[]netip.Prefix](t)(identity.ParseCIDRs("192.0.2.0/24"))
		for _, login := range []string{"ida", "uma", "ulf"} {
			must[identity.User](t)(s.AddUser(ctx, identity.User{Login: login, Org: "hq-sales",
				CIDRs: cidrs, Protocols: []authz.Protocol{authz.SFTP}}))
		}
		sub := must[authz.Subject](t)(authz.ParseSubject("org:hq+sub"))
		must[authz.Grant](t)(s.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/hq"),
			Perms: authz.PermList | authz.PermRead | authz.PermCreate}, "test"))

		column := func(login, name string) string {
			t.Helper()
			var v string
			if err := d.QueryRow(ctx, "SELECT "+name+" FROM users WHERE login = ?", login).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		set := func(login, name, value string) {
			t.Helper()
			if _, err := d.Exec(ctx, "UPDATE users SET "+name+" = ? WHERE login = ?", value, login); err != nil {
				t.Fatal(err)
			}
		}
		set("uma", "cidrs", "192.0.2.0/24,10.0.0.0/33")
		set("ulf", "protocols", "sftp,ftp")

		type ask struct {
			act    authz.Action
			path   string
			target authz.Target
		}
		asks := []ask{
			{authz.ActList, "/", authz.Target{Dir: true}},
			{authz.ActList, "/hq", authz.Target{Dir: true}},
			{authz.ActRead, "/hq/price-list.pdf", authz.Target{Exists: true}},
			{authz.ActCreate, "/hq/new.pdf", authz.Target{}},
		}
		decide := func(login string, a ask) authz.Decision {
			t.Helper()
			f, gs := must2(t)(s.Facts(ctx, login))
			f.Protocol = authz.SFTP
			return authz.Decide(f, gs, a.act, vpath.MustParse(a.path), time.Now(), a.target)
		}
		denied := func(login, reason string) {
			t.Helper()
			for _, a := range asks {
				d := decide(login, a)
				if d.Allowed || d.Visible || !strings.Contains(d.Reason, reason) {
					t.Errorf("%s %s %s: allowed=%v visible=%v %q; want hidden, %q", login, a.act, a.path, d.Allowed, d.Visible, d.Reason, reason)
				}
			}
		}
		for _, a := range asks {
			if d := decide("ida", a); !d.Allowed {
				t.Fatalf("intact account ida %s %s: %s", a.act, a.path, d.Reason)
			}
		}
		denied("uma", "account uma: stored network restriction is unreadable")
		denied("ulf", "account ulf: stored protocol restriction is unreadable")

		if u := must[identity.User](t)(s.GetUser(ctx, "uma")); len(u.CIDRs) != 0 || !slices.Equal(u.Unreadable, []string{identity.RestrictNetwork}) {
			t.Fatalf("uma: CIDRs %v, Unreadable %v", u.CIDRs, u.Unreadable)
		}
		users := must[[]identity.User](t)(s.ListUsers(ctx, "hq-sales"))
		if len(users) != 3 || !slices.Equal(users[1].Unreadable, []string{identity.RestrictProtocol}) || !slices.Equal(users[2].Unreadable, []string{identity.RestrictNetwork}) || len(users[0].Unreadable) != 0 {
			t.Fatalf("ListUsers: %+v", users)
		}

		// A change that does not concern the restriction keeps it as stored:
		// written back as "any", it would open the account to every network.
		must[identity.User](t)(s.SetStatus(ctx, "uma", authz.StatusSuspended))
		u := must[identity.User](t)(s.SetStatus(ctx, "uma", authz.StatusActive))
		if got := column("uma", "cidrs"); got != "192.0.2.0/24,10.0.0.0/33" || !slices.Equal(u.Unreadable, []string{identity.RestrictNetwork}) {
			t.Fatalf("after suspend and activate: stored %q, Unreadable %v", got, u.Unreadable)
		}
		must[identity.User](t)(s.UpdateUser(ctx, "ulf", func(u *identity.User) error { u.Name = "Ulf"; return nil }))
		if got := column("ulf", "protocols"); got != "sftp,ftp" {
			t.Fatalf("after a name change: stored protocols %q", got)
		}
		denied("uma", "stored network restriction is unreadable")
		denied("ulf", "stored protocol restriction is unreadable")

		// Setting the restriction anew repairs the account.
		u = must[identity.User](t)(s.UpdateUser(ctx, "uma", func(u *identity.User) error { u.CIDRs = cidrs; return nil }))
		if got := column("uma", "cidrs"); got != "192.0.2.0/24" || len(u.Unreadable) != 0 {
			t.Fatalf("after repair: stored %q, Unreadable %v", got, u.Unreadable)
		}
		for _, a := range asks {
			if d := decide("uma", a); !d.Allowed {
				t.Errorf("repaired account uma %s %s: %s", a.act, a.path, d.Reason)
			}
		}
	})
}
