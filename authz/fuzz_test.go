package authz

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pier/vpath"
)

// bytesIn hands out the fuzzer's bytes, zeros once they run out.
type bytesIn []byte

func (b *bytesIn) next() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

func (b *bytesIn) pick(options ...string) string { return options[int(b.next())%len(options)] }

func (b *bytesIn) path(maxDepth int) vpath.Path {
	elems := make([]string, int(b.next())%(maxDepth+1))
	for i := range elems {
		elems[i] = b.pick("acme", "inbound", "x.edi", "X.EXE")
	}
	return vpath.MustParse("/" + strings.Join(elems, "/"))
}

func (b *bytesIn) patterns() []string {
	var out []string
	for bits, i := b.next(), 0; i < 7; i++ {
		if bits&(1<<i) != 0 {
			out = append(out, []string{"*.edi", "*.EXE", "x*", "[", "*", "a/b", "?"}[i])
		}
	}
	return out
}

func (b *bytesIn) grant() Grant {
	// Repeated IDs on purpose; subject kinds 0 and 5 are invalid.
	g := Grant{ID: int64(b.next() % 16)}
	g.Subject = Subject{Kind: SubjectKind(b.next() % 6), Sub: b.next()%2 == 0}
	switch g.Subject.Kind {
	case UserSubject:
		g.Subject.Name = b.pick("a", "b", "")
	case GroupSubject:
		g.Subject.Name = b.pick("staff", "partners", "")
	case OrgSubject:
		g.Subject.Name = b.pick("acme", "acme-berlin", "hq", "")
	default:
		g.Subject.Name, g.Subject.Org = b.pick("buyer", "edi", ""), b.pick("acme", "acme-berlin", "hq", "")
	}
	// Grants sit higher than the paths decided; now and then a bit beyond Full.
	g.Path = b.path(2)
	g.Perms = Perm(b.next()) | Perm(b.next()&0x83)<<7
	if b.next()%3 == 0 {
		g.Allow, g.Deny = b.patterns(), b.patterns()
	}
	g.MaxSize = []int64{0, 0, 10, 100}[b.next()%4]
	return g
}

func (b *bytesIn) facts() Facts {
	orgs := map[string][]string{"acme": nil, "acme-berlin": {"acme"}, "globex": nil, "hq": nil, "hq-sales": {"hq"}}
	f := Facts{Login: b.pick("a", "b"), Org: b.pick("acme", "acme-berlin", "globex", "hq", "hq-sales"),
		Role: b.pick("", "buyer", "edi")}
	f.OrgAncestors = orgs[f.Org]
	for i, g := range []string{"staff", "partners", "acme"} {
		if b.next()&(1<<i) != 0 {
			f.Groups = append(f.Groups, g)
		}
	}
	// Mostly usable accounts, so that most inputs reach the grants.
	switch st := b.next() % 10; {
	case st < 5:
		f.Status = Status(st)
	case st == 9:
		f.Status = 200 // out of range
	default:
		f.Status = StatusActive
	}
	f.Expires = []time.Time{{}, {}, {}, testNow().Add(-time.Second), testNow().Add(time.Second)}[b.next()%5]
	f.Protocols = [][]Protocol{nil, nil, nil, {SFTP}, {WebDAV, SFTP}}[b.next()%5]
	f.Protocol = []Protocol{SFTP, SFTP, "", WebDAV}[b.next()%4]
	f.Unreadable = [][]string{nil, nil, nil, nil, nil, nil, nil, {"network"}}[b.next()%8]
	return f
}

// fuzzInput is one decision drawn from the fuzzer's bytes.
type fuzzInput struct {
	f      Facts
	grants []Grant
	extra  Grant
	act    Action
	p      vpath.Path
	t      Target
	seed   uint64
}

func decodeInput(data []byte) fuzzInput {
	b := bytesIn(data)
	in := fuzzInput{f: b.facts(), act: Action(b.next() % (actCount + 2)), p: b.path(3)}
	flags := b.next()
	in.t = Target{Dir: flags&1 != 0, Exists: flags&2 != 0, OwnUpload: flags&4 != 0, Size: []int64{0, 5, 50, 500}[flags>>3&3]}
	in.seed = uint64(b.next())
	in.extra = b.grant()
	for range int(b.next() % 12) {
		in.grants = append(in.grants, b.grant())
	}
	return in
}

// could is what the brief says an action may ever need: an upper bound that
// Decide must stay within, written apart from the table in action.go.
func could(a Action) Perm {
	return map[Action]Perm{
		ActStat: Full, ActList: PermList | PermCreate, ActRead: PermRead,
		ActCreate: PermCreate | PermOverwrite, ActOverwrite: PermOverwrite | PermCreate,
		ActDelete: PermDelete, ActMkdir: PermMkdir,
		ActRenameSource: PermRename | PermDelete | PermCreate,
		ActRenameTarget: PermCreate | PermOverwrite | PermMkdir,
		ActSetTime:      PermOverwrite | PermMkdir | PermCreate,
	}[a]
}

// naiveWithin is Path.Within on strings.
func naiveWithin(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// naiveMatches is Subject.Matches written out again.
func naiveMatches(s Subject, f Facts) bool {
	inOrg := func(slug string) bool {
		return slug != "" && (f.Org == slug || s.Sub && slices.Contains(f.OrgAncestors, slug))
	}
	switch s.Kind {
	case UserSubject:
		return s.Name != "" && s.Name == f.Login
	case GroupSubject:
		return s.Name != "" && slices.Contains(f.Groups, s.Name)
	case OrgSubject:
		return inOrg(s.Name)
	case RoleSubject:
		return s.Name != "" && s.Name == f.Role && inOrg(s.Org)
	}
	return false
}

func FuzzDecide(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x00\x06\x00\x00\x00\x00\x00\x04\x02\x02inbound\x05\x01"))
	for i := range 64 {
		seed := make([]byte, 160)
		r := rand.New(rand.NewPCG(uint64(i), 7))
		for j := range seed {
			seed[j] = byte(r.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := decodeInput(data)
		now := testNow()
		d := Decide(in.f, in.grants, in.act, in.p, now, in.t)

		if again := Decide(in.f, in.grants, in.act, in.p, now, in.t); !reflect.DeepEqual(d, again) {
			t.Fatalf("not deterministic:\n%+v\n%+v", d, again)
		}
		shuffled := slices.Clone(in.grants)
		rand.New(rand.NewPCG(in.seed, 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if s := Decide(in.f, shuffled, in.act, in.p, now, in.t); !reflect.DeepEqual(d, s) {
			t.Fatalf("grant order matters:\n%+v\n%+v", d, s)
		}
		checkDecision(t, d)

		if ok, _ := in.f.Usable(now); !ok && (d.Allowed || d.Visible || d.Grants != nil) {
			t.Fatalf("unusable account got %+v", d)
		}
		if d.Allowed {
			// Some grant for this subject gives a right the action may need
			// on the path or above it, or (stat, list) lies below the folder.
			justified := false
			for _, g := range in.grants {
				if !naiveMatches(g.Subject, in.f) || g.Perms&Full == 0 {
					continue
				}
				if naiveWithin(in.p.String(), g.Path.String()) && g.Perms&could(in.act) != 0 ||
					(in.act == ActStat || in.act == ActList) && naiveWithin(g.Path.String(), in.p.String()) {
					justified = true
				}
			}
			if !justified {
				t.Fatalf("allowed without a grant: %+v\n%s", in, d.Reason)
			}
		}
		for _, id := range d.Grants {
			if !slices.ContainsFunc(in.grants, func(g Grant) bool { return g.ID == id && naiveMatches(g.Subject, in.f) }) {
				t.Fatalf("decision cites grant %d, not one of the requester's", id)
			}
		}

		// Rights only add up: one more grant never takes anything away.
		more := Decide(in.f, append(slices.Clone(in.grants), in.extra), in.act, in.p, now, in.t)
		if d.Allowed && !more.Allowed || d.Visible && !more.Visible {
			t.Fatalf("grant %s took a right away:\n%s\n%s", &in.extra, d.Reason, more.Reason)
		}

		// A listing never shows what stat would deny.
		l := Filter(in.f, in.grants, in.p, now)
		for _, name := range []string{"acme", "inbound", "x.edi", "X.EXE"} {
			for _, kind := range []Target{{Dir: true, Exists: true}, {Exists: true}, {Exists: true, OwnUpload: true}} {
				isDir := kind.Dir
				if !l.Show(name, isDir, kind.OwnUpload) {
					continue
				}
				child, _ := in.p.Child(name)
				if st := Decide(in.f, in.grants, ActStat, child, now, kind); !st.Allowed {
					t.Fatalf("listing of %s shows %s (dir %v), stat denies: %s", in.p, name, isDir, st.Reason)
				}
				if ls := Decide(in.f, in.grants, ActList, in.p, now, Target{Dir: true}); !ls.Allowed {
					t.Fatalf("listing of %s shows %s, list denies: %s", in.p, name, ls.Reason)
				}
			}
		}

		// A rename is allowed only when both halves are.
		to := in.extra.Path
		r := DecideRename(in.f, in.grants, in.p, to, now, in.t, Target{Exists: in.t.Exists})
		if again := DecideRename(in.f, shuffled, in.p, to, now, in.t, Target{Exists: in.t.Exists}); !reflect.DeepEqual(r, again) {
			t.Fatalf("rename depends on grant order:\n%+v\n%+v", r, again)
		}
		checkDecision(t, r)
		if r.Allowed {
			src := Decide(in.f, in.grants, ActRenameSource, in.p, now, Target{Dir: in.t.Dir, Exists: true, Size: in.t.Size, OwnUpload: in.t.OwnUpload})
			dst := Decide(in.f, in.grants, ActRenameTarget, to, now, Target{Dir: in.t.Dir, Exists: in.t.Exists, Size: in.t.Size})
			if !src.Allowed || !dst.Allowed {
				t.Fatalf("rename allowed, but source %v target %v", src.Allowed, dst.Allowed)
			}
		}
	})
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"user:alice", "group:staff", "org:acme", "org:acme+sub", "role:buyer@acme", "role:buyer@acme+sub", "role:@", "org:+sub", "user:a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSubject(in)
		if err != nil {
			return
		}
		if s.Kind == NoSubject {
			t.Fatalf("ParseSubject(%q) gave no subject", in)
		}
		back, err := ParseSubject(s.String())
		if err != nil || back != s {
			t.Fatalf("%q → %+v → %q → %+v, %v", in, s, s.String(), back, err)
		}
	})
}

func FuzzParsePerms(f *testing.F) {
	for _, s := range []string{"list,read", "full", "none", "readonly,create", " Mkdir ", ",", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParsePerms(in)
		if err != nil {
			return
		}
		if p&^Full != 0 {
			t.Fatalf("ParsePerms(%q) set unknown bits %#x", in, uint16(p))
		}
		if back, err := ParsePerms(p.String()); err != nil || back != p {
			t.Fatalf("%q → %s → %v, %v", in, p, back, err)
		}
	})
}
