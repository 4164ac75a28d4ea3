package directory_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"pier/authz"
	"pier/directory"
	"pier/identity"
	"pier/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestSync runs the life of a directory against a real slapd, on SQLite
// and on PostgreSQL: a dry run writes nothing; the first sync creates;
// the second changes nothing; a changed attribute or membership updates;
// a removed user is suspended, not deleted, and comes back when the
// entry does; a disabled user is suspended and reactivated; a user an
// administrator suspended stays suspended; hostile entries fail alone.
func TestSync(t *testing.T) {
	s := testenv.StartSlapd(t)
	seed(t, s)
	for _, b := range []struct {
		name string
		prod bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(b.name, func(t *testing.T) { testSync(t, s, newPier(t, b.prod)) })
		// Put the directory back as seeded for the next backend.
		s.LDIF(t, "dn: "+dnOf("a05", acmeOU)+"\nchangetype: delete\n")
		s.LDIF(t, "dn: "+dnOf("h02", hqOU)+"\nchangetype: delete\n\ndn: "+dnOf("dis", acmeOU)+"\nchangetype: delete\n")
		s.LDIF(t, person("a05", acmeOU, "Acme User a05", attr{"mail", "a05@acme.test"})+
			person("h02", hqOU, "HQ User h02", attr{"mail", "h02@example.test"}, attr{"title", "Engineer"}, attr{"userPassword", password("h02")})+
			person("dis", acmeOU, "Disabled User", attr{"userAccountControl", "514"})+
			"dn: "+staffDN+"\nchangetype: modify\nadd: member\nmember: "+dnOf("h02", hqOU)+"\n\n"+
			"dn: "+dnOf("h01", hqOU)+"\nchangetype: modify\nreplace: mail\nmail: h01@example.test\n")
	}
}

func testSync(t *testing.T, s *testenv.Slapd, p pier) {
	ctx := context.Background()
	sy := directory.New(config(s), p.ids, p.db, quiet)

	before := p.snapshot(t)
	rep, err := sy.Sync(ctx, directory.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.snapshot(t) != before {
		t.Fatalf("a dry run wrote:\n%s", p.snapshot(t))
	}
	if rep.Created != regular || rep.Failed != 3 || rep.Skipped != 1 || rep.Entries != regular+4 {
		t.Fatalf("dry run: %s of %d entries, want %d created, 3 failed, 1 skipped", rep.Summary(), rep.Entries, regular)
	}

	rep, err = sy.Sync(ctx, directory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != regular || rep.Failed != 3 || rep.Skipped != 1 || rep.Updated+rep.Suspended+rep.Unchanged != 0 {
		t.Fatalf("first sync: %s", rep.Summary())
	}
	for login, want := range map[string]string{
		"evil*)(uid=*": "login: ", "newline": "name: ", "temp": `no organisation for OU "contractors"`,
	} {
		if c := change(t, rep, login); c.Result != directory.Failed || !strings.Contains(c.Reason, want) {
			t.Errorf("%s: %+v, want failed with %q", login, c, want)
		}
	}
	if c := change(t, rep, "handmade"); c.Result != directory.Skipped {
		t.Errorf("handmade: %+v", c)
	}
	if u := p.user(t, "handmade"); u.Source != "" || u.Name != "Made By Hand" || u.Org != "acme" {
		t.Errorf("the sync touched a user made by hand: %+v", u)
	}
	checkFirst(t, p)

	after := p.snapshot(t)
	rep, err = sy.Sync(ctx, directory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unchanged != regular || rep.Created+rep.Updated+rep.Suspended != 0 || p.snapshot(t) != after {
		t.Fatalf("second sync: %s, want %d unchanged", rep.Summary(), regular)
	}

	// A changed attribute and a membership taken away update.
	s.LDIF(t, "dn: "+dnOf("h01", hqOU)+"\nchangetype: modify\nreplace: mail\nmail: new-h01@example.test\n\n"+
		"dn: "+staffDN+"\nchangetype: modify\ndelete: member\nmember: "+dnOf("h02", hqOU)+"\n")
	rep = mustSync(t, sy, "0 created, 2 updated, 0 suspended, 27 unchanged")
	if c := change(t, rep, "h01"); c.Result != directory.Updated || !slices.Equal(c.Changes, []string{"email"}) {
		t.Errorf("h01: %+v", c)
	}
	if c := change(t, rep, "h02"); !slices.Equal(c.Changes, []string{"groups"}) || len(p.groups(t, "h02")) != 0 {
		t.Errorf("h02: %+v, groups %v", c, p.groups(t, "h02"))
	}
	if u := p.user(t, "h01"); u.Email != "new-h01@example.test" {
		t.Errorf("h01's e-mail: %q", u.Email)
	}

	// A removed user is suspended, not deleted; once.
	s.LDIF(t, "dn: "+dnOf("a05", acmeOU)+"\nchangetype: delete\n")
	rep = mustSync(t, sy, "0 created, 0 updated, 1 suspended, 28 unchanged")
	if c := change(t, rep, "a05"); c.Result != directory.Suspended || c.Reason != "not in the directory any more" {
		t.Errorf("a05: %+v", c)
	}
	if u := p.user(t, "a05"); u.Status != authz.StatusSuspended || u.SourceState != identity.SourceGone {
		t.Errorf("a05 after removal: %v %v", u.Status, u.SourceState)
	}
	mustSync(t, sy, "0 created, 0 updated, 0 suspended, 29 unchanged")

	// An administrator's suspension stands; the sync's own is undone.
	if _, err := p.ids.SetStatus(ctx, "h03", authz.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	s.LDIF(t, person("a05", acmeOU, "Acme User a05", attr{"mail", "a05@acme.test"})+
		"dn: "+dnOf("dis", acmeOU)+"\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 512\n")
	rep = mustSync(t, sy, "0 created, 2 updated, 0 suspended, 27 unchanged")
	for _, login := range []string{"a05", "dis"} {
		if c := change(t, rep, login); c.Reason != "enabled in the directory again" || p.user(t, login).Status != authz.StatusActive {
			t.Errorf("%s: %+v, status %v", login, c, p.user(t, login).Status)
		}
	}
	if u := p.user(t, "h03"); u.Status != authz.StatusSuspended {
		t.Errorf("the sync reactivated h03, whom an administrator suspended")
	}
	// Disabled in the directory: suspended.
	s.LDIF(t, "dn: "+dnOf("dis", acmeOU)+"\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 66050\n")
	rep = mustSync(t, sy, "0 created, 0 updated, 1 suspended, 28 unchanged")
	if c := change(t, rep, "dis"); c.Reason != "disabled in the directory" {
		t.Errorf("dis: %+v", c)
	}
}

// checkFirst checks the users the first sync made.
func checkFirst(t *testing.T, p pier) {
	t.Helper()
	for login, want := range map[string]struct{ org, role, status, name string }{
		"h01":    {"hq", "engineer", "active", "HQ User h01"},
		"s01":    {"hq-sales", "sales-manager", "active", "Sales User s01"},
		"a01":    {"acme", "", "active", "Acme User a01"},
		"dis":    {"acme", "", "suspended", "Disabled User"},
		"obrien": {"hq", "", "active", `Seán O'Brien (Sales) *`},
		"zoe":    {"hq-sales", "", "active", "Zoë Ångström 李雷"},
		"k+l":    {"acme", "", "active", `Doe, "K" <L>`},
	} {
		u := p.user(t, login)
		if u.Org != want.org || u.Role != want.role || u.Status.String() != want.status || u.Name != want.name ||
			u.Source != identity.SourceLDAP || u.SourceDN == "" {
			t.Errorf("%s: %+v, want %+v from the directory", login, u, want)
		}
	}
	for login, want := range map[string][]string{
		"h01": {"staff"}, "zoe": {"staff"}, "a01": {"edi"}, "k+l": {"edi"}, "a04": nil, "s01": nil,
	} {
		if got := p.groups(t, login); !slices.Equal(got, want) {
			t.Errorf("%s's groups: %v, want %v", login, got, want)
		}
	}
}

func mustSync(t *testing.T, sy *directory.Syncer, want string) *directory.Report {
	t.Helper()
	rep, err := sy.Sync(context.Background(), directory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Summary(), want) {
		t.Fatalf("sync: %s, want %s", rep.Summary(), want)
	}
	return rep
}

// TestSyncGroupEntries reads groups from group entries (member and
// uniqueMember, with its optional UID part) instead of memberOf, and the
// organisation from an attribute instead of the DN.
func TestSyncGroupEntries(t *testing.T) {
	s := testenv.StartSlapd(t)
	seed(t, s)
	s.LDIF(t, ldif("cn=Other,"+groupsOU, attr{"objectClass", "groupOfUniqueNames"}, attr{"cn", "Other"},
		attr{"uniqueMember", dnOf("a09", acmeOU) + "#'0101'B"}, attr{"uniqueMember", dnOf("s02", salesOU)}))
	c := config(s)
	c.GroupBaseDN, c.GroupAttr = groupsOU, ""
	c.GroupMap = map[string]string{staffDN: "staff", "edi (partner)": "edi", "other": "other"}
	c.OrgAttr, c.OrgMap, c.DefaultOrg = "title", map[string]string{"engineer": "hq", "Sales Manager": "hq-sales"}, "acme"
	p := newPier(t, false)
	rep, err := directory.New(c, p.ids, p.db, quiet).Sync(context.Background(), directory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// temp, in an unmapped OU, now has the default organisation.
	if rep.Created != regular+1 || rep.Failed != 2 {
		t.Fatalf("sync: %s", rep.Summary())
	}
	for login, want := range map[string]struct {
		org    string
		groups []string
	}{
		"h01": {"hq", []string{"staff"}}, "s02": {"hq-sales", []string{"other"}}, "a09": {"acme", []string{"other"}},
		"k+l": {"acme", []string{"edi"}}, "zoe": {"acme", []string{"staff"}}, "temp": {"acme", nil},
	} {
		if u, g := p.user(t, login), p.groups(t, login); u.Org != want.org || !slices.Equal(g, want.groups) {
			t.Errorf("%s: org %s, groups %v; want %+v", login, u.Org, g, want)
		}
	}
}

// TestScheduledSync: Run syncs at once, then once per interval between
// all the nodes (two syncers here), as `pier serve` does, and stops with
// its context.
func TestScheduledSync(t *testing.T) {
	testenv.NoLeaks(t)
	s := testenv.StartSlapd(t)
	seed(t, s)
	p := newPier(t, false)
	c := config(s)
	c.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for range 2 {
		go func() { directory.New(c, p.ids, p.db, quiet).Run(ctx); done <- struct{}{} }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.groups(t, "h01")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the other node looks too
	cancel()
	<-done
	<-done
	var syncs int
	if err := p.db.QueryRow(context.Background(), "SELECT COUNT(*) FROM audit_queue WHERE data LIKE '%directory.sync%'").Scan(&syncs); err != nil {
		t.Fatal(err)
	}
	if u := p.user(t, "h01"); u.Source != identity.SourceLDAP || syncs != 1 {
		t.Fatalf("after the scheduled sync: h01 %+v, %d syncs recorded, want 1", u, syncs)
	}
}
