package authz

import (
	"fmt"
	"time"

	"pier/vpath"
)

// The policy the tests decide against: our company hq with its unit
// hq-sales; partner acme with its location acme-berlin; partner globex.
//
//	hq ── hq-sales        acme ── acme-berlin        globex
func policyGrants() []Grant {
	return []Grant{
		// acme's EDI system drops orders into inbound and picks up from outbound.
		{ID: 1, Subject: subject("user:acme-edi"), Path: vp("/acme/inbound"), Perms: DropBox},
		{ID: 2, Subject: subject("user:acme-edi"), Path: vp("/acme/outbound"), Perms: ReadOnly},
		// Staff work in the partner folders, but may neither delete nor rename.
		{ID: 3, Subject: subject("group:staff"), Path: vp("/acme"), Perms: ReadWrite},
		{ID: 4, Subject: subject("group:staff"), Path: vp("/globex"), Perms: ReadWrite},
		// Buyers anywhere in acme read the catalog; only acme's own buyers the terms.
		{ID: 5, Subject: subject("role:buyer@acme+sub"), Path: vp("/acme/catalog"), Perms: ReadOnly},
		{ID: 6, Subject: subject("org:acme+sub"), Path: vp("/acme/shared"), Perms: ReadOnly},
		{ID: 7, Subject: subject("role:buyer@acme"), Path: vp("/acme/buyers"), Perms: ReadOnly},
		// Everyone at hq reads /hq; only hq itself (not hq-sales) files board papers.
		{ID: 8, Subject: subject("org:hq+sub"), Path: vp("/hq"), Perms: ReadOnly},
		{ID: 9, Subject: subject("org:hq"), Path: vp("/hq/board"), Perms: ReadOnly | PermCreate},
		// globex's EDI system exchanges EDI and XML files only, up to 10 MiB.
		{ID: 10, Subject: subject("user:globex-edi"), Path: vp("/globex/inbound"),
			Perms: ReadOnly | PermCreate | PermOverwrite, Allow: []string{"*.edi", "*.xml"}, MaxSize: 10 << 20},
		// Partners upload documents, but no programs.
		{ID: 11, Subject: subject("group:partners"), Path: vp("/shared/uploads"),
			Perms: PermList | PermCreate, Deny: []string{"*.exe", "*.bat"}},
		// Operations publish orders.
		{ID: 12, Subject: subject("group:ops"), Path: vp("/acme/outbound"), Perms: Full},
		// A narrower grant for anna: it adds nothing, and removes nothing.
		{ID: 13, Subject: subject("user:anna"), Path: vp("/acme/inbound"), Perms: PermRead},
		// A sweeper moves files out of inbound without reading them.
		{ID: 14, Subject: subject("user:sweeper"), Path: vp("/acme/inbound"), Perms: PermRename | PermDelete},
		{ID: 15, Subject: subject("user:sweeper"), Path: vp("/acme/archive"), Perms: ReadOnly | PermCreate},
		{ID: 16, Subject: subject("user:sweeper"), Path: vp("/acme/quarantine"), Perms: DropBox | PermMkdir},
	}
}

// testNow is the time every test decides at.
func testNow() time.Time { return time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC) }

// person returns the facts of one of the policy's people.
func person(login string) Facts {
	active := func(org string, ancestors []string, role string, groups ...string) Facts {
		return Facts{Login: login, Org: org, OrgAncestors: ancestors, Role: role,
			Groups: groups, Status: StatusActive, Protocol: WebDAV}
	}
	hq, acme := []string{"hq"}, []string{"acme"}
	switch login {
	case "acme-edi":
		f := active("acme", nil, "edi", "partners")
		f.Protocols, f.Protocol = []Protocol{SFTP}, SFTP
		return f
	case "acme-edi-over-webdav":
		f := person("acme-edi")
		f.Protocol = WebDAV
		return f
	case "globex-edi":
		return active("globex", nil, "edi", "partners")
	case "anna":
		return active("hq-sales", hq, "sales", "staff")
	case "hank":
		return active("hq", nil, "ceo")
	case "bob":
		return active("acme-berlin", acme, "buyer")
	case "carla":
		return active("acme", nil, "buyer")
	case "dave":
		return active("globex", nil, "buyer")
	case "olga":
		return active("hq", nil, "operator", "ops")
	case "sweeper":
		return active("hq", nil, "automation")
	case "sam", "pete", "xena", "erin", "fay", "ned", "uma", "ulf":
		f := active("hq-sales", hq, "sales", "staff")
		switch login {
		case "sam":
			f.Status = StatusSuspended
		case "pete":
			f.Status = StatusPending
		case "xena":
			f.Status = StatusExpired
		case "erin":
			f.Expires = testNow().Add(-time.Hour)
		case "fay":
			f.Expires = testNow().Add(24 * time.Hour)
		case "ned":
			f.Expires = testNow()
		case "uma": // a network restriction damaged in the database
			f.Unreadable = []string{"network"}
		case "ulf":
			f.Unreadable = []string{"network", "protocol"}
		}
		return f
	}
	panic(fmt.Sprintf("no such person %q in the policy", login))
}

func subject(s string) Subject {
	sub, err := ParseSubject(s)
	if err != nil {
		panic(err)
	}
	return sub
}

func vp(s string) vpath.Path { return vpath.MustParse(s) }
