package directory_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"pier/directory"
	"pier/internal/testenv"
)

// TestSyncFailsClearly: an unreachable, misconfigured or oversized
// directory fails the sync with a message that says what is wrong, and
// nothing is written — not even when the error comes after pages were
// read, and above all no user is suspended because the directory could
// not be read.
func TestSyncFailsClearly(t *testing.T) {
	s := testenv.StartSlapd(t)
	seed(t, s)
	p := newPier(t, false)
	ctx := context.Background()
	if _, err := directory.New(config(s), p.ids, p.db, quiet).Sync(ctx, directory.Options{}); err != nil {
		t.Fatal(err)
	}
	before := p.snapshot(t)
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return "ldap://" + ln.Addr().String()
	}()
	for _, tc := range []struct {
		name  string
		edit  func(*directory.Config)
		want  string
		avail bool // the error is ErrUnavailable
	}{
		{"unreachable", func(c *directory.Config) { c.URL = closed }, "connection refused", true},
		{"wrong bind password", func(c *directory.Config) { c.BindPassword = "wrong" }, "Invalid Credentials", true},
		{"certificate not trusted", func(c *directory.Config) { c.CAFile = "" }, "StartTLS", true},
		{"ldaps, certificate not trusted", func(c *directory.Config) { c.URL, c.CAFile = s.LDAPSURL, "" }, "certificate", true},
		{"no such base DN", func(c *directory.Config) { c.BaseDN = "ou=nowhere," + base }, "No Such Object", true},
		{"more entries than allowed", func(c *directory.Config) { c.MaxEntries = 20 }, "more than 20 entries", false},
		{"group not in pier", func(c *directory.Config) { c.GroupMap["staff"] = "ghosts" }, `group "ghosts" not found`, false},
		{"organisation not in pier", func(c *directory.Config) { c.DefaultOrg = "nowhere" }, `organisation "nowhere" not found`, false},
		{"filter matches nobody", func(c *directory.Config) { c.Filter = "(uid=nobody-at-all)"; c.MaxSuspend = 100 }, "gave no entries", false},
		{"too many suspensions", func(c *directory.Config) { c.Filter = "(uid=h*)"; c.MaxSuspend = 5 }, "would suspend 18 of 29", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config(s)
			tc.edit(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("config: %v", err)
			}
			_, err := directory.New(c, p.ids, p.db, quiet).Sync(ctx, directory.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, directory.ErrUnavailable) != tc.avail {
				t.Fatalf("sync: %v, want an error with %q (unavailable: %v)", err, tc.want, tc.avail)
			}
			if strings.Contains(err.Error(), s.ServicePassword) {
				t.Fatalf("the error shows the bind password: %v", err)
			}
			if p.snapshot(t) != before {
				t.Fatalf("a failed sync wrote:\n%s", p.snapshot(t))
			}
		})
	}
	// Forced, a sync suspends as many as the directory says.
	c := config(s)
	c.Filter = "(uid=h*)"
	rep, err := directory.New(c, p.ids, p.db, quiet).Sync(ctx, directory.Options{Force: true})
	if err != nil || rep.Suspended != 18 { // all but the ten h users; dis was suspended already
		t.Fatalf("forced sync: %v, %+v", err, rep)
	}
	// A directory that is gone suspends nobody.
	before = p.snapshot(t)
	s.Kill(t)
	if _, err := directory.New(config(s), p.ids, p.db, quiet).Sync(ctx, directory.Options{}); !errors.Is(err, directory.ErrUnavailable) {
		t.Fatalf("sync with the directory down: %v", err)
	}
	if p.snapshot(t) != before {
		t.Fatal("a sync with the directory down wrote")
	}
}

// TestPagedSearch: the directory refuses more than SlapdSizeLimit entries
// to a search without paging, as Active Directory does beyond its
// MaxPageSize; the sync reads all of them a page at a time, with pages of
// 1 as well as of 4, and over ldaps:// as over StartTLS.
func TestPagedSearch(t *testing.T) {
	s := testenv.StartSlapd(t)
	seed(t, s)
	l, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind(s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatal(err)
	}
	_, err = l.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"uid"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("a search without paging: %v, want the size limit exceeded", err)
	}
	for _, tc := range []struct {
		url  string
		page int
	}{{s.URL, 1}, {s.URL, 4}, {s.LDAPSURL, 7}} {
		c := config(s)
		c.URL, c.PageSize = tc.url, tc.page
		p := newPier(t, false)
		rep, err := directory.New(c, p.ids, p.db, quiet).Sync(context.Background(), directory.Options{DryRun: true})
		if err != nil {
			t.Fatalf("%s, pages of %d: %v", tc.url, tc.page, err)
		}
		if rep.Entries != regular+4 || rep.Entries <= testenv.SlapdSizeLimit {
			t.Errorf("%s, pages of %d: %d entries, want %d", tc.url, tc.page, rep.Entries, regular+4)
		}
	}
}
