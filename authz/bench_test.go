package authz

import (
	"fmt"
	"testing"
)

// benchGrants returns n grants spread over 50 organisations, 100 users, 30
// groups and a role, some with patterns and limits, as a large installation
// might hold them.
func benchGrants(n int) []Grant {
	grants := make([]Grant, n)
	folders := []string{"inbound", "outbound", "docs", "catalog"}
	for i := range grants {
		org := fmt.Sprintf("org%02d", i%50)
		var s Subject
		switch i % 4 {
		case 0:
			s = Subject{Kind: UserSubject, Name: fmt.Sprintf("u%03d", i%100)}
		case 1:
			s = Subject{Kind: GroupSubject, Name: fmt.Sprintf("g%02d", i%30)}
		case 2:
			s = Subject{Kind: OrgSubject, Name: org, Sub: i%8 == 2}
		case 3:
			s = Subject{Kind: RoleSubject, Name: "buyer", Org: org}
		}
		grants[i] = Grant{ID: int64(i + 1), Subject: s, Path: vp("/" + org + "/" + folders[i/50%4]), Perms: ReadWrite}
		if i%5 == 0 {
			grants[i].Allow, grants[i].Deny, grants[i].MaxSize = []string{"*.edi", "*.xml"}, []string{"*.exe"}, 1<<30
		}
	}
	return grants
}

func benchFacts() Facts {
	return Facts{Login: "u007", Org: "org07", OrgAncestors: []string{"org00"}, Role: "buyer",
		Groups: []string{"g01", "g07", "g13"}, Status: StatusActive, Protocols: []Protocol{SFTP}, Protocol: SFTP}
}

// BenchmarkDecide decides one upload against 1,000 grants: "typical" where
// a few dozen are the requester's, "all-match" where every grant is theirs
// and covers the path (the worst case: all are cited and sorted).
func BenchmarkDecide(b *testing.B) {
	f, p := benchFacts(), vp("/org07/inbound/2026/order-4711.edi")
	all := make([]Grant, 1000)
	for i := range all {
		all[i] = Grant{ID: int64(1000 - i), Subject: Subject{Kind: GroupSubject, Name: "g07"}, Path: vp("/org07"), Perms: ReadWrite}
	}
	for _, c := range []struct {
		name   string
		grants []Grant
	}{{"typical", benchGrants(1000)}, {"all-match", all}} {
		b.Run(c.name, func(b *testing.B) {
			if d := Decide(f, c.grants, ActCreate, p, testNow(), Target{Size: 4096}); !d.Allowed {
				b.Fatalf("denied: %s", d.Reason)
			}
			b.ReportAllocs()
			for b.Loop() {
				Decide(f, c.grants, ActCreate, p, testNow(), Target{Size: 4096})
			}
		})
	}
}

// BenchmarkFilter prepares a listing and shows 1,000 entries, against
// 1,000 grants.
func BenchmarkFilter(b *testing.B) {
	f, grants, dir := benchFacts(), benchGrants(1000), vp("/org07/inbound")
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("order-%04d.edi", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		l := Filter(f, grants, dir, testNow())
		for _, n := range names {
			l.Show(n, false, false)
		}
	}
}
