package authz

import (
	"iter"
	"strconv"
	"strings"
	"testing"

	"pier/vpath"
)

// treeGrants: a user with full rights on /work except programs, and a
// narrower grant on /work/keep that gives only read; a second user whose
// grant on /dav is uniform.
func treeGrants() []Grant {
	return []Grant{
		{ID: 1, Subject: subject("user:tess"), Path: vp("/work"), Perms: Full, Deny: []string{"*.exe"}},
		{ID: 2, Subject: subject("user:tess"), Path: vp("/archive"), Perms: Full},
		{ID: 3, Subject: subject("user:tess"), Path: vp("/open"), Perms: Full},
		{ID: 4, Subject: subject("user:tess"), Path: vp("/readonly"), Perms: ReadOnly},
		{ID: 5, Subject: subject("user:tess"), Path: vp("/open/locked"), Perms: PermRead},
		{ID: 6, Subject: subject("user:tess"), Path: vp("/drop"), Perms: DropBox | PermMkdir},
		{ID: 7, Subject: subject("user:tess"), Path: vp("/public"), Perms: Full},
		{ID: 8, Subject: subject("group:everyone"), Path: vp("/public"), Perms: ReadOnly},
		{ID: 9, Subject: subject("user:other"), Path: vp("/open"), Perms: Full},
	}
}

func entries(paths ...string) []TreeEntry {
	var out []TreeEntry
	for _, p := range paths {
		dir := strings.HasSuffix(p, "/")
		out = append(out, TreeEntry{Path: vp(strings.TrimSuffix(p, "/")), Dir: dir})
	}
	return out
}

// counted yields es and counts how many were pulled.
func counted(es []TreeEntry, n *int) iter.Seq[TreeEntry] {
	return func(yield func(TreeEntry) bool) {
		for _, e := range es {
			*n++
			if !yield(e) {
				return
			}
		}
	}
}

func TestDecideTree(t *testing.T) {
	tess := Facts{Login: "tess", Org: "hq", Status: StatusActive}
	cases := []struct {
		name     string
		a        TreeAction
		from, to string
		below    []TreeEntry
		allowed  bool
		walked   bool // the entries had to be looked at
	}{
		{"delete: nothing hidden below", TreeDelete, "/work/a", "", entries("/work/a/x.txt", "/work/a/sub/", "/work/a/sub/y.pdf"), allow, true},
		{"delete: a program the deny pattern hides stops it", TreeDelete, "/work/a", "", entries("/work/a/x.txt", "/work/a/sub/", "/work/a/sub/setup.EXE"), deny, true},
		{"delete: uniform grant, no look at the entries", TreeDelete, "/archive/2025", "", entries("/archive/2025/a.exe", "/archive/2025/b/"), allow, false},
		{"delete: a narrower read-only grant below does not give delete... but the wider one does", TreeDelete, "/open", "", entries("/open/locked/", "/open/locked/f.txt"), allow, true},
		{"delete: read only", TreeDelete, "/readonly/x", "", entries("/readonly/x/f.txt"), deny, true},
		{"delete: an empty folder", TreeDelete, "/readonly/x", "", nil, allow, true},
		{"move: programs stay where they are", TreeMove, "/work/a", "/archive/a", entries("/work/a/setup.exe"), deny, true},
		{"move: plain files", TreeMove, "/work/a", "/archive/a", entries("/work/a/x.txt", "/work/a/s/"), allow, true},
		{"move: uniform both sides", TreeMove, "/archive/a", "/open/a", entries("/archive/a/x.exe"), allow, false},
		{"move: into a drop box, folders need mkdir, files create", TreeMove, "/archive/a", "/drop/a", entries("/archive/a/s/", "/archive/a/x.txt"), allow, false},
		{"move: must not expose content to readers it had not", TreeMove, "/drop/a", "/public/a", entries("/drop/a/x.txt"), deny, true},
		{"move: a drop box moves none of its folders", TreeMove, "/drop/a", "/public/a", entries("/drop/a/s/"), deny, true},
		{"copy: needs read on every file", TreeCopy, "/drop/a", "/archive/a", entries("/drop/a/x.txt"), deny, true},
		{"copy: readable files", TreeCopy, "/readonly/a", "/archive/a", entries("/readonly/a/x.txt", "/readonly/a/s/"), allow, false},
		{"copy: not into a read-only place", TreeCopy, "/archive/a", "/readonly/a", entries("/archive/a/x.txt"), deny, false},
		{"copy: hidden programs are not copied silently", TreeCopy, "/work/a", "/archive/a", entries("/work/a/x.txt", "/work/a/y.exe"), deny, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			to := vpath.Root()
			if c.to != "" {
				to = vp(c.to)
			}
			d := DecideTree(tess, treeGrants(), c.a, vp(c.from), to, testNow(), counted(c.below, &n))
			t.Log(d.Reason)
			if d.Allowed != c.allowed {
				t.Fatalf("allowed=%v, want %v: %s", d.Allowed, c.allowed, d.Reason)
			}
			if walked := n > 0; walked != c.walked && len(c.below) > 0 && c.allowed {
				t.Errorf("walked %d entries; want walked=%v", n, c.walked)
			}
			checkDecision(t, d)
			if !d.Allowed && !d.Visible {
				t.Error("a folder action below a visible folder must stay visible (permission denied, not not-found)")
			}
		})
	}
}

func TestDecideTreeRefusesAccountsAndNonsense(t *testing.T) {
	below := func(yield func(TreeEntry) bool) { yield(TreeEntry{Path: vp("/archive/x/f")}) }
	sam := Facts{Login: "tess", Status: StatusSuspended}
	if d := DecideTree(sam, treeGrants(), TreeDelete, vp("/archive/x"), vpath.Root(), testNow(), below); d.Allowed || d.Visible {
		t.Fatalf("a suspended account: %+v", d)
	}
	tess := Facts{Login: "tess", Status: StatusActive}
	if d := DecideTree(tess, treeGrants(), TreeNone, vp("/archive/x"), vpath.Root(), testNow(), below); d.Allowed {
		t.Fatalf("TreeNone allowed: %s", d.Reason)
	}
	// An entry that is not below the folder is refused, never trusted.
	stray := func(yield func(TreeEntry) bool) { yield(TreeEntry{Path: vp("/work/x.exe")}) }
	if d := DecideTree(tess, treeGrants(), TreeDelete, vp("/work/a"), vpath.Root(), testNow(), stray); d.Allowed {
		t.Fatalf("a stray entry was allowed: %s", d.Reason)
	}
}

// A 10,000-entry folder with a deny pattern is decided in one pass.
func BenchmarkDecideTree(b *testing.B) {
	var es []TreeEntry
	for i := range 10_000 {
		es = append(es, TreeEntry{Path: vp("/work/big/d" + strconv.Itoa(i%100) + "/f" + strconv.Itoa(i) + ".txt")})
	}
	tess := Facts{Login: "tess", Status: StatusActive}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if d := DecideTree(tess, treeGrants(), TreeDelete, vp("/work/big"), vpath.Root(), testNow(), counted(es, &n)); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}
