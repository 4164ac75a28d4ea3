package authz

import (
	"slices"
	"strings"
	"testing"
)

// tree is the namespace the listing tests list: folder → children, folders
// ending in "/".
func tree() map[string][]string {
	return map[string][]string{
		"/":               {"acme/", "globex/", "hq/", "shared/", "readme.txt"},
		"/acme":           {"archive/", "buyers/", "catalog/", "inbound/", "outbound/", "quarantine/", "shared/", "secret.txt"},
		"/acme/inbound":   {"order1.edi", "sub/"},
		"/acme/outbound":  {"po1.edi", "archive/"},
		"/globex":         {"inbound/", "outbound/"},
		"/globex/inbound": {"2026/", "ORDER2.XML", "notes.txt", "order.edi"},
		"/shared":         {"uploads/"},
		"/shared/uploads": {"Run.BAT", "manual.pdf", "setup.exe"},
	}
}

func TestFilter(t *testing.T) {
	cases := []struct {
		who, dir string
		want     []string // the children shown, in the order of tree()
	}{
		{"acme-edi", "/", []string{"acme/", "shared/"}},
		{"acme-edi", "/acme", []string{"inbound/", "outbound/", "shared/"}},
		{"acme-edi", "/acme/inbound", nil}, // a drop box lists nothing
		{"acme-edi", "/acme/outbound", []string{"po1.edi", "archive/"}},
		{"acme-edi", "/globex", nil},
		{"acme-edi", "/shared/uploads", []string{"manual.pdf"}}, // deny *.exe *.bat, any case
		{"anna", "/", []string{"acme/", "globex/", "hq/"}},
		{"anna", "/acme", tree()["/acme"]},
		{"bob", "/acme", []string{"catalog/", "shared/"}}, // not buyers/: role without +sub
		{"carla", "/acme", []string{"buyers/", "catalog/", "shared/"}},
		{"globex-edi", "/", []string{"globex/", "shared/"}},
		{"globex-edi", "/globex", []string{"inbound/"}},
		{"globex-edi", "/globex/inbound", []string{"2026/", "ORDER2.XML", "order.edi"}},
		{"sweeper", "/acme", []string{"archive/", "inbound/", "quarantine/"}},
		{"sweeper", "/acme/inbound", nil}, // rename and delete, but no list
		{"sam", "/", nil},                 // suspended
		{"uma", "/acme", nil},             // a stored restriction unreadable
		{"acme-edi-over-webdav", "/", nil},
	}
	grants := policyGrants()
	for _, c := range cases {
		t.Run(c.who+" "+c.dir, func(t *testing.T) {
			f, dir := person(c.who), vp(c.dir)
			l := Filter(f, grants, dir, testNow())
			var got []string
			for _, child := range tree()[c.dir] {
				name, isDir := strings.CutSuffix(child, "/")
				if !l.Show(name, isDir, false) {
					continue
				}
				got = append(got, child)
				// A listing never shows more than stat would.
				p, err := dir.Child(name)
				if err != nil {
					t.Fatal(err)
				}
				if d := Decide(f, grants, ActStat, p, testNow(), Target{Dir: isDir, Exists: true}); !d.Allowed {
					t.Errorf("listing shows %s, but stat is denied: %s", p, d.Reason)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("listing of %s shows %q, want %q", c.dir, got, c.want)
			}
			list := Decide(f, grants, ActList, dir, testNow(), Target{Dir: true, Exists: true})
			if len(got) > 0 && !list.Allowed {
				t.Errorf("listing shows entries, but list is denied: %s", list.Reason)
			}
		})
	}
}

// A drop box lists the requester's own recent uploads, and only those
// its grants admit.
func TestFilterDropBox(t *testing.T) {
	l := Filter(person("acme-edi"), policyGrants(), vp("/acme/inbound"), testNow())
	for _, c := range []struct {
		name     string
		dir, own bool
		shown    bool
	}{
		{"mine.edi", false, true, true},
		{"theirs.edi", false, false, false},
		{"sub", true, false, false},
	} {
		if got := l.Show(c.name, c.dir, c.own); got != c.shown {
			t.Errorf("Show(%q, dir %v, own %v) = %v", c.name, c.dir, c.own, got)
		}
		child, _ := vp("/acme/inbound").Child(c.name)
		st := Decide(person("acme-edi"), policyGrants(), ActStat, child, testNow(), Target{Dir: c.dir, Exists: true, OwnUpload: c.own})
		if c.shown && !st.Allowed {
			t.Errorf("%s listed but stat denies: %s", c.name, st.Reason)
		}
	}
	g := Filter(person("globex-edi"), []Grant{{ID: 1, Subject: subject("user:globex-edi"), Path: vp("/globex/inbound"), Perms: DropBox, Allow: []string{"*.edi"}}}, vp("/globex/inbound"), testNow())
	if !g.Show("a.edi.filepart", false, true) || g.Show("a.exe", false, true) {
		t.Error("a drop box with patterns lists its own uploads by the names they judge")
	}
}

func TestFilterZeroAndOddNames(t *testing.T) {
	var l Lister
	if l.Show("acme", true, false) || l.Show("x", false, true) {
		t.Error("the zero Lister shows entries")
	}
	l = Filter(person("anna"), policyGrants(), vp("/acme"), testNow())
	for _, name := range []string{"", ".", "..", "a/b"} {
		if l.Show(name, true, false) || l.Show(name, false, true) {
			t.Errorf("Show(%q) = true", name)
		}
	}
}

func TestView(t *testing.T) {
	cases := []struct {
		who  string
		want []string
	}{
		{"acme-edi", []string{
			"/acme/inbound: create (grant 1)",
			"/acme/outbound: list,read (grant 2)",
			"/acme/shared: list,read (grant 6)",
			"/shared/uploads: list,create (grant 11); grant 11 (list,create): deny *.exe *.bat",
		}},
		{"anna", []string{
			"/acme: list,read,create,overwrite,mkdir (grant 3)",
			"/acme/inbound: list,read,create,overwrite,mkdir (grants 3, 13)",
			"/globex: list,read,create,overwrite,mkdir (grant 4)",
			"/hq: list,read (grant 8)",
		}},
		{"globex-edi", []string{
			"/globex/inbound: list,read,create,overwrite (grant 10); grant 10 (list,read,create,overwrite): allow *.edi *.xml; max 10485760 bytes",
			"/shared/uploads: list,create (grant 11); grant 11 (list,create): deny *.exe *.bat",
		}},
		{"sam", nil},
	}
	for _, c := range cases {
		t.Run(c.who, func(t *testing.T) {
			var got []string
			for _, e := range View(person(c.who), policyGrants(), testNow()) {
				got = append(got, e.String())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("view:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestExplain pins reasons that "pier access explain" prints verbatim.
func TestExplain(t *testing.T) {
	const g1 = "grant 1 (user:acme-edi on /acme/inbound: create)"
	cases := []struct {
		who    string
		act    Action
		path   string
		target Target
		want   string
	}{
		{"acme-edi", ActCreate, "/acme/inbound/x.edi", Target{}, "allowed by " + g1},
		{"acme-edi", ActCreate, "/acme/outbound/x.edi", Target{},
			"denied: no grant gives create on /acme/outbound/x.edi; visible through grant 2 (user:acme-edi on /acme/outbound: list,read)"},
		{"acme-edi", ActCreate, "/acme/inbound/x.edi", Target{Exists: true},
			"denied: no grant gives overwrite on /acme/inbound/x.edi (it exists); hidden: a drop box sees no file but the requester's own recent uploads (" + g1 + ")"},
		{"acme-edi", ActRead, "/globex/inbound/x.edi", Target{},
			"denied: no grant gives read on /globex/inbound/x.edi; hidden: no grant reaches it"},
		{"acme-edi", ActStat, "/globex", Target{Dir: true},
			"denied: no grant gives any right on /globex; hidden: no grant reaches it"},
		{"acme-edi", ActCreate, "/shared/uploads/setup.exe", Target{},
			`denied: no grant gives create on /shared/uploads/setup.exe; grant 11 (group:partners on /shared/uploads: list,create; deny *.exe *.bat) does not admit the name: deny pattern "*.exe"; hidden: no grant reaches it`},
		{"acme-edi", ActList, "/acme", Target{Dir: true},
			"allowed: /acme leads to " + g1 + ", grant 2 (user:acme-edi on /acme/outbound: list,read), grant 6 (org:acme+sub on /acme/shared: list,read); only the entries on the way are listed"},
		{"anna", ActRead, "/acme/inbound/x.edi", Target{Exists: true},
			"allowed by grant 3 (group:staff on /acme: list,read,create,overwrite,mkdir), grant 13 (user:anna on /acme/inbound: read)"},
		{"sam", ActRead, "/acme/inbound/x.edi", Target{}, "denied: account sam is suspended"},
		{"erin", ActRead, "/acme/inbound/x.edi", Target{}, "denied: account erin expired at 2026-11-15T11:00:00Z"},
		{"acme-edi-over-webdav", ActRead, "/acme/outbound/x.edi", Target{}, "denied: account acme-edi may not use webdav (only sftp)"},
		{"uma", ActRead, "/acme/inbound/x.edi", Target{}, "denied: account uma: stored network restriction is unreadable"},
		{"ulf", ActList, "/acme", Target{Dir: true}, "denied: account ulf: stored network and protocol restrictions are unreadable"},
	}
	for _, c := range cases {
		d := Decide(person(c.who), policyGrants(), c.act, vp(c.path), testNow(), c.target)
		if d.Reason != c.want {
			t.Errorf("explain %s %s %s:\n got %s\nwant %s", c.who, c.act, c.path, d.Reason, c.want)
		}
	}
}

func TestDecisionGrantsAndMaxSize(t *testing.T) {
	grants := append(policyGrants(),
		Grant{ID: 30, Subject: subject("user:globex-edi"), Path: vp("/globex/inbound/big"), Perms: PermCreate, MaxSize: 100 << 20},
		Grant{ID: 31, Subject: subject("user:olga"), Path: vp("/acme/outbound/small"), Perms: PermCreate, MaxSize: 1 << 10},
	)
	cases := []struct {
		who, path string
		size      int64
		allowed   bool
		grants    []int64
		maxSize   int64
	}{
		{"globex-edi", "/globex/inbound/x.edi", 0, true, []int64{10}, 10 << 20},
		{"globex-edi", "/globex/inbound/big/x.edi", 0, true, []int64{10, 30}, 100 << 20}, // the largest limit
		{"globex-edi", "/globex/inbound/big/x.edi", 50 << 20, true, []int64{30}, 100 << 20},
		{"globex-edi", "/globex/inbound/big/x.pdf", 0, true, []int64{30}, 100 << 20}, // grant 30 has no patterns
		{"olga", "/acme/outbound/small/x.edi", 0, true, []int64{12, 31}, 0},          // grant 12 has no limit
		{"olga", "/acme/outbound/small/x.edi", 1 << 30, true, []int64{12}, 0},
		{"anna", "/acme/docs/x.pdf", 0, true, []int64{3}, 0},
		{"acme-edi", "/acme/outbound/x.edi", 0, false, []int64{2}, 0}, // denied: the grants that show it
	}
	for _, c := range cases {
		d := Decide(person(c.who), grants, ActCreate, vp(c.path), testNow(), Target{Size: c.size})
		if d.Allowed != c.allowed || !slices.Equal(d.Grants, c.grants) || d.MaxSize != c.maxSize {
			t.Errorf("%s create %s (%d bytes): allowed=%v grants=%v max=%d, want %v %v %d\n%s",
				c.who, c.path, c.size, d.Allowed, d.Grants, d.MaxSize, c.allowed, c.grants, c.maxSize, d.Reason)
		}
	}
	if d := Decide(person("anna"), grants, ActRead, vp("/acme/x"), testNow(), Target{}); d.MaxSize != 0 {
		t.Errorf("MaxSize %d on a read", d.MaxSize)
	}
}

func TestZeroDecisionDenies(t *testing.T) {
	var d Decision
	if d.Allowed || d.Visible || d.Err() == nil {
		t.Errorf("zero Decision: %+v, Err %v", d, d.Err())
	}
	// Zero facts: an account of unknown status.
	if d := Decide(Facts{}, policyGrants(), ActList, vp("/"), testNow(), Target{}); d.Allowed || d.Visible {
		t.Errorf("zero Facts: %+v", d)
	}
}
