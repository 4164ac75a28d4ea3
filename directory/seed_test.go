package directory_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"pier/db"
	"pier/directory"
	"pier/identity"
	"pier/internal/testenv"
)

// The test directory: organisational units for our company (hq, with a
// sales unit whose name is not ASCII) and a partner (acme), a unit no
// mapping knows, groups, and users with hostile values.
const (
	base      = "dc=example,dc=test"
	hqOU      = "ou=hq," + base
	salesOU   = "ou=Vertrieb Süd,ou=hq," + base
	acmeOU    = "ou=acme," + base
	contractr = "ou=contractors," + base
	groupsOU  = "ou=groups," + base
	ediGroup  = "cn=EDI (Partner)," + groupsOU
	staffDN   = "cn=staff," + groupsOU
)

// attr is one attribute value of an LDIF record.
type attr struct{ name, value string }

// ldif renders records, every value base64-encoded so that any byte
// (quotes, parentheses, non-ASCII, line breaks) survives.
func ldif(dn string, attrs ...attr) string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	var b strings.Builder
	b.WriteString("dn:: " + b64(dn) + "\n")
	for _, a := range attrs {
		b.WriteString(a.name + ":: " + b64(a.value) + "\n")
	}
	return b.String() + "\n"
}

func ou(dn string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(dn, "ou="), ",")
	return ldif(dn, attr{"objectClass", "organizationalUnit"}, attr{"ou", name})
}

// person is a user entry: uid, the OU it lives in and more attributes.
func person(uid, parent, cn string, more ...attr) string {
	attrs := []attr{{"objectClass", "inetOrgPerson"}, {"objectClass", "pierTestADUser"}, {"uid", uid}, {"cn", cn}, {"sn", "Test"}}
	if !slices.ContainsFunc(more, func(a attr) bool { return a.name == "userAccountControl" }) {
		attrs = append(attrs, attr{"userAccountControl", "512"}) // a normal account
	}
	return ldif("uid="+ldap.EscapeDN(uid)+","+parent, append(attrs, more...)...)
}

func dnOf(uid, parent string) string { return "uid=" + ldap.EscapeDN(uid) + "," + parent }

// password is the directory password of a test user.
func password(uid string) string { return "Dir-" + uid + "-passw0rd-long" }

// seed fills the directory: 25 regular users (10 at hq, 5 in sales, 10
// at acme), a disabled one, hostile ones, a login that a hand-made pier
// user has, a user in an unmapped unit, and two mapped groups and an
// unmapped one.
func seed(t testing.TB, s *testenv.Slapd) {
	var b strings.Builder
	for _, dn := range []string{hqOU, salesOU, acmeOU, contractr, groupsOU} {
		b.WriteString(ou(dn))
	}
	for i := 1; i <= 10; i++ {
		uid := fmt.Sprintf("h%02d", i)
		b.WriteString(person(uid, hqOU, "HQ User "+uid, attr{"mail", uid + "@example.test"}, attr{"title", "Engineer"},
			attr{"userPassword", password(uid)}))
	}
	for i := 1; i <= 5; i++ {
		uid := fmt.Sprintf("s%02d", i)
		b.WriteString(person(uid, salesOU, "Sales User "+uid, attr{"title", "Sales Manager"}))
	}
	for i := 1; i <= 10; i++ {
		uid := fmt.Sprintf("a%02d", i)
		b.WriteString(person(uid, acmeOU, "Acme User "+uid, attr{"mail", uid + "@acme.test"}))
	}
	b.WriteString(person("dis", acmeOU, "Disabled User", attr{"userAccountControl", "514"}))
	b.WriteString(person("obrien", hqOU, `Seán O'Brien (Sales) *`, attr{"mail", "o.brien@example.test"},
		attr{"userPassword", password("obrien")}))
	b.WriteString(person("zoe", salesOU, "Zoë Ångström 李雷"))
	b.WriteString(person("k+l", acmeOU, `Doe, "K" <L>`, attr{"userPassword", password("k+l")}))
	b.WriteString(person("evil*)(uid=*", acmeOU, "Evil"))
	b.WriteString(person("newline", acmeOU, "Bad\nName"))
	b.WriteString(person("handmade", hqOU, "Not Hand Made"))
	b.WriteString(person("temp", contractr, "Contractor"))
	var staff, edi []attr
	for i := 1; i <= 10; i++ {
		staff = append(staff, attr{"member", dnOf(fmt.Sprintf("h%02d", i), hqOU)})
	}
	staff = append(staff, attr{"member", dnOf("obrien", hqOU)}, attr{"member", dnOf("zoe", salesOU)})
	for i := 1; i <= 3; i++ {
		edi = append(edi, attr{"member", dnOf(fmt.Sprintf("a%02d", i), acmeOU)})
	}
	edi = append(edi, attr{"member", dnOf("k+l", acmeOU)})
	b.WriteString(ldif(staffDN, append([]attr{{"objectClass", "groupOfNames"}, {"cn", "staff"}}, staff...)...))
	b.WriteString(ldif(ediGroup, append([]attr{{"objectClass", "groupOfNames"}, {"cn", "EDI (Partner)"}}, edi...)...))
	b.WriteString(ldif("cn=unmapped,"+groupsOU, attr{"objectClass", "groupOfNames"}, attr{"cn", "unmapped"},
		attr{"member", dnOf("a04", acmeOU)}))
	s.LDIF(t, b.String())
}

// regular is how many entries of seed become users: 25 regular, the
// disabled one, obrien, zoe and k+l.
const regular = 29

// config is the sync configuration of the seeded directory: StartTLS
// with the test CA, a page smaller than both the directory and its size
// limit for searches without paging, OUs mapped to organisations,
// memberOf for groups, Active Directory's disabled flag.
func config(s *testenv.Slapd) directory.Config {
	c := directory.Default()
	c.URL, c.CAFile = s.URL, s.CAFile
	c.BindDN, c.BindPassword = s.ServiceDN, s.ServicePassword
	c.BaseDN, c.Filter = base, "(objectClass=inetOrgPerson)"
	c.PageSize = 4
	c.Timeout = 10 * time.Second
	c.OrgMap = map[string]string{"hq": "hq", "VERTRIEB SÜD": "hq-sales", "acme": "acme"}
	c.RoleAttr, c.RoleMap = "title", map[string]string{"Engineer": "engineer", "Sales Manager": "sales-manager"}
	c.GroupMap = map[string]string{"staff": "staff", ediGroup: "edi"}
	c.DisabledAttr, c.DisabledBits = "userAccountControl", 2
	return c
}

// pier is a store with the organisations and groups the mapping names,
// and a user made by hand.
type pier struct {
	db  *db.DB
	ids *identity.Store
}

func newPier(t *testing.T, prod bool) pier {
	t.Helper()
	ctx := context.Background()
	var d *db.DB
	if prod {
		d = testenv.Postgres(t)
	} else {
		var err error
		if d, err = db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "pier.db")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
	}
	p := pier{db: d, ids: identity.New(d)}
	for _, o := range []identity.Org{{Slug: "hq", Kind: identity.Internal}, {Slug: "hq-sales", Parent: "hq"}, {Slug: "acme"}} {
		if _, err := p.ids.AddOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"staff", "edi", "other"} {
		if _, err := p.ids.AddGroup(ctx, g, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.ids.AddUser(ctx, identity.User{Login: "handmade", Org: "acme", Name: "Made By Hand"}); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot renders every user (with source) and group, to compare.
func (p pier) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	users, err := p.ids.ListUsers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	groups, err := p.ids.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s|%s|%s|%s\n", u.Login, u.Name, u.Email, u.Org, u.Role, u.Status, u.Source, u.SourceDN, u.SourceState)
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "%s: %v\n", g.Name, g.Members)
	}
	return b.String()
}

func (p pier) user(t *testing.T, login string) identity.User {
	t.Helper()
	u, err := p.ids.GetUser(context.Background(), login)
	if err != nil {
		t.Fatalf("user %s: %v", login, err)
	}
	return u
}

// groups returns the groups a user is a direct member of.
func (p pier) groups(t *testing.T, login string) []string {
	t.Helper()
	groups, err := p.ids.ListGroups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range groups {
		for _, m := range g.Members {
			if m.Name == login {
				out = append(out, g.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// change finds a login's change in a report.
func change(t *testing.T, rep *directory.Report, login string) directory.Change {
	t.Helper()
	for _, c := range rep.Changes {
		if c.Login == login {
			return c
		}
	}
	t.Fatalf("no change for %q in the report", login)
	return directory.Change{}
}
