package authz

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePerms(t *testing.T) {
	good := []struct {
		in   string
		want Perm
		str  string
	}{
		{"list,read,create", PermList | PermRead | PermCreate, "list,read,create"},
		{"create, read ,LIST", PermList | PermRead | PermCreate, "list,read,create"},
		{"read,read", PermRead, "read"},
		{"none", PermNone, "none"},
		{"dropbox", PermCreate, "create"},
		{"readonly", PermList | PermRead, "list,read"},
		{"readonly,create", PermList | PermRead | PermCreate, "list,read,create"},
		{"readwrite", ReadWrite, "list,read,create,overwrite,mkdir"},
		{"full", Full, "list,read,create,overwrite,delete,rename,mkdir"},
		{"mkdir,rename,delete,overwrite", PermMkdir | PermRename | PermDelete | PermOverwrite, "overwrite,delete,rename,mkdir"},
	}
	for _, c := range good {
		p, err := ParsePerms(c.in)
		if err != nil || p != c.want || p.String() != c.str {
			t.Errorf("ParsePerms(%q) = %v (%s), %v; want %s", c.in, uint16(p), p, err, c.str)
		}
		if back, err := ParsePerms(p.String()); err != nil || back != p {
			t.Errorf("%q does not round-trip: %v, %v", p.String(), back, err)
		}
	}
	bad := []struct{ in, word string }{
		{"", "empty list"},
		{"   ", "empty list"},
		{"lst", `"lst"`},
		{"list,,read", "empty name"},
		{"list,", "empty name"},
		{"list;read", `"list;read"`},
		{"write", `"write"`},
		{"all", `"all"`},
		{"read,upload", `"upload"`},
		{"list\x00", `"list\x00"`},
	}
	for _, c := range bad {
		_, err := ParsePerms(c.in)
		if !errors.Is(err, ErrUnknownPerm) || !strings.Contains(err.Error(), c.word) {
			t.Errorf("ParsePerms(%q) error %v, want ErrUnknownPerm naming %s", c.in, err, c.word)
		}
	}
	if s := (PermRead | 1<<12).String(); s != "read,unknown(0x1000)" {
		t.Errorf("unknown bits print as %q", s)
	}
	if !Full.Has(ReadWrite) || ReadOnly.Has(PermCreate) || !ReadOnly.Any(PermRead|PermCreate) || DropBox.Any(ReadOnly) {
		t.Error("Has/Any disagree with the presets")
	}
}

func TestParseSubject(t *testing.T) {
	good := []struct {
		in   string
		want Subject
	}{
		{"user:alice", Subject{Kind: UserSubject, Name: "alice"}},
		{"user:alice@example.com", Subject{Kind: UserSubject, Name: "alice@example.com"}},
		{"user:Zoë Müller", Subject{Kind: UserSubject, Name: "Zoë Müller"}},
		{"group:staff", Subject{Kind: GroupSubject, Name: "staff"}},
		{"group:EDI partners", Subject{Kind: GroupSubject, Name: "EDI partners"}},
		{"org:acme", Subject{Kind: OrgSubject, Name: "acme"}},
		{"org:acme+sub", Subject{Kind: OrgSubject, Name: "acme", Sub: true}},
		{"org:acme-berlin.de_2", Subject{Kind: OrgSubject, Name: "acme-berlin.de_2"}},
		{"role:buyer@acme", Subject{Kind: RoleSubject, Name: "buyer", Org: "acme"}},
		{"role:buyer@acme+sub", Subject{Kind: RoleSubject, Name: "buyer", Org: "acme", Sub: true}},
		{"role:head of sales@hq", Subject{Kind: RoleSubject, Name: "head of sales", Org: "hq"}},
	}
	for _, c := range good {
		s, err := ParseSubject(c.in)
		if err != nil || s != c.want || s.String() != c.in {
			t.Errorf("ParseSubject(%q) = %+v (%s), %v; want %+v", c.in, s, s, err, c.want)
		}
	}
	bad := []struct{ in, why string }{
		{"", "no kind"},
		{"alice", "no kind"},
		{"admin:alice", "unknown kind"},
		{"User:alice", "unknown kind"},
		{"user:", "empty"},
		{"user: alice", "space"},
		{"user:alice\n", "space"},
		{"user:al\x07ice", "control"},
		{"user:\xff", "UTF-8"},
		{"user:" + strings.Repeat("a", 256), "longer than 255"},
		{"group:", "empty"},
		{"org:", "empty"},
		{"org:+sub", "empty"},
		{"org:Acme", "not allowed"},
		{"org:-acme", "not allowed"},
		{"org:acme+sub+sub", "not allowed"},
		{"org:ac me", "not allowed"},
		{"role:buyer", "needs an organisation"},
		{"role:@acme", "empty"},
		{"role:buyer@", "empty"},
		{"role:buyer@acme@hq", "not allowed"},
		{"role:buyer@ACME", "not allowed"},
		{"role:buyer@+sub", "empty"},
	}
	for _, c := range bad {
		_, err := ParseSubject(c.in)
		if !errors.Is(err, ErrBadSubject) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseSubject(%q) error %v, want ErrBadSubject saying %q", c.in, err, c.why)
		}
	}
	if s := (Subject{}).String(); s != "nobody" {
		t.Errorf("zero Subject prints %q", s)
	}
}

func TestSubjectMatches(t *testing.T) {
	bob := Facts{Login: "bob", Org: "acme-berlin", OrgAncestors: []string{"acme", "partners"}, Role: "buyer", Groups: []string{"staff", "edi"}}
	cases := []struct {
		subject string
		want    bool
	}{
		{"user:bob", true},
		{"user:Bob", false}, // exact: the loader supplies canonical logins
		{"group:edi", true},
		{"group:ops", false},
		{"org:acme-berlin", true},
		{"org:acme", false},
		{"org:acme+sub", true},
		{"org:partners+sub", true}, // any ancestor, not only the nearest
		{"org:globex+sub", false},
		{"role:buyer@acme-berlin", true},
		{"role:buyer@acme", false},
		{"role:buyer@acme+sub", true},
		{"role:seller@acme+sub", false},
	}
	for _, c := range cases {
		if got := subject(c.subject).Matches(&bob); got != c.want {
			t.Errorf("%s matches bob: %v, want %v", c.subject, got, c.want)
		}
	}
	var nobody Facts
	for _, s := range []Subject{{}, {Kind: UserSubject}, {Kind: GroupSubject}, {Kind: OrgSubject, Sub: true}, {Kind: RoleSubject}} {
		if s.Matches(&nobody) {
			t.Errorf("%+v matches empty facts", s)
		}
	}
}

func TestParseActionAndStatus(t *testing.T) {
	for a := ActStat; a < actCount; a++ {
		if got, err := ParseAction(a.String()); err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a.String(), got, err)
		}
	}
	for _, s := range []string{"", "none", "Create", "rename", "action(0)", "upload"} {
		if _, err := ParseAction(s); !errors.Is(err, ErrUnknownAction) {
			t.Errorf("ParseAction(%q) error %v", s, err)
		}
	}
	for st := StatusPending; st <= StatusExpired; st++ {
		if got, err := ParseStatus(st.String()); err != nil || got != st {
			t.Errorf("ParseStatus(%q) = %v, %v", st.String(), got, err)
		}
	}
	for _, s := range []string{"", "unknown", "Active", "locked"} {
		if _, err := ParseStatus(s); !errors.Is(err, ErrUnknownStatus) {
			t.Errorf("ParseStatus(%q) error %v", s, err)
		}
	}
}

func TestGrantValidate(t *testing.T) {
	ok := Grant{ID: 1, Subject: subject("group:staff"), Path: vp("/acme"), Perms: ReadOnly,
		Allow: []string{"*.edi", "[a-z]*.XML"}, Deny: []string{"*.exe"}, MaxSize: 10}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid grant: %v", err)
	}
	bad := []struct {
		name   string
		change func(*Grant)
		why    string
	}{
		{"no subject", func(g *Grant) { g.Subject = Subject{} }, "subject nobody"},
		{"bad subject", func(g *Grant) { g.Subject.Name = "sta\x00ff" }, "subject"},
		{"unknown bits", func(g *Grant) { g.Perms |= 1 << 9 }, "unknown permission bits"},
		{"malformed allow", func(g *Grant) { g.Allow = []string{"[a-"} }, "syntax error in pattern"},
		{"malformed deny", func(g *Grant) { g.Deny = []string{`*\`} }, "syntax error in pattern"},
		{"slash", func(g *Grant) { g.Allow = []string{"in/*.edi"} }, `contains "/"`},
		{"empty pattern", func(g *Grant) { g.Deny = []string{""} }, "empty"},
		{"negative size", func(g *Grant) { g.MaxSize = -1 }, "negative"},
	}
	for _, c := range bad {
		g := ok
		c.change(&g)
		err := g.Validate()
		if !errors.Is(err, ErrBadGrant) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: Validate() = %v, want ErrBadGrant saying %q", c.name, err, c.why)
		}
	}
}

// TestPatternsFailClosed: a malformed pattern that slipped past Validate
// never widens a grant.
func TestPatternsFailClosed(t *testing.T) {
	f := person("anna")
	for _, c := range []struct {
		allow, deny []string
		want        bool
	}{
		{nil, []string{"[a-"}, false},                 // a broken deny matches everything
		{[]string{"[a-"}, nil, false},                 // a broken allow matches nothing
		{[]string{"[a-", "*.pdf"}, nil, true},         // the next allow still counts
		{nil, []string{"x/*"}, false},                 // a deny with a slash matches everything
		{[]string{"*.PDF"}, []string{"*.pdf"}, false}, // deny before allow
	} {
		grants := []Grant{{ID: 1, Subject: subject("user:anna"), Path: vp("/x"), Perms: ReadOnly, Allow: c.allow, Deny: c.deny}}
		d := Decide(f, grants, ActRead, vp("/x/a.pdf"), testNow(), Target{Exists: true})
		if d.Allowed != c.want {
			t.Errorf("allow %q deny %q: allowed=%v, want %v (%s)", c.allow, c.deny, d.Allowed, c.want, d.Reason)
		}
	}
}
