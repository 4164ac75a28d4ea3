package authz

import (
	"strings"
	"testing"
)

// An organisation administrator's grants stay within what their
// organisation holds.
func TestDecideDelegation(t *testing.T) {
	held := []Grant{
		{ID: 1, Subject: subject("org:acme+sub"), Path: vp("/acme"), Perms: ReadOnly},
		{ID: 2, Subject: subject("org:acme"), Path: vp("/acme/inbound"), Perms: DropBox | PermList, Allow: []string{"*.edi", "*.xml"}, Deny: []string{"*.exe"}, MaxSize: 10 << 20},
		{ID: 3, Subject: subject("group:acme-staff"), Path: vp("/acme/outbound"), Perms: Full},
		{ID: 4, Subject: subject("user:acme-boss"), Path: vp("/acme"), Perms: Full},         // a person's, not the organisation's
		{ID: 5, Subject: subject("role:buyer@acme"), Path: vp("/acme/buyers"), Perms: Full}, // a role's, not the organisation's
		{ID: 6, Subject: subject("org:globex"), Path: vp("/globex"), Perms: Full},
	}
	acme := Facts{Org: "acme", Groups: []string{"acme-staff"}, Status: StatusActive}
	cases := []struct {
		name  string
		g     Grant
		allow bool
		why   string
	}{
		{"read what acme reads", Grant{Path: vp("/acme/docs"), Perms: ReadOnly}, allow, "list by grant 1"},
		{"more than read", Grant{Path: vp("/acme/docs"), Perms: ReadOnly | PermDelete}, deny, "no grant giving delete"},
		{"a drop box within acme's", Grant{Path: vp("/acme/inbound/x"), Perms: PermCreate, Allow: []string{"*.edi"}, Deny: []string{"*.exe"}, MaxSize: 1 << 20}, allow, "create by grant 2"},
		{"without the deny pattern", Grant{Path: vp("/acme/inbound"), Perms: PermCreate, Allow: []string{"*.edi"}, MaxSize: 1 << 20}, deny, ""},
		{"without a size limit", Grant{Path: vp("/acme/inbound"), Perms: PermCreate, Allow: []string{"*.edi"}, Deny: []string{"*.exe"}}, deny, ""},
		{"a larger size limit", Grant{Path: vp("/acme/inbound"), Perms: PermCreate, Allow: []string{"*.edi"}, Deny: []string{"*.exe"}, MaxSize: 20 << 20}, deny, ""},
		{"other names allowed", Grant{Path: vp("/acme/inbound"), Perms: PermCreate, Allow: []string{"*.pdf"}, Deny: []string{"*.exe"}, MaxSize: 1 << 20}, deny, ""},
		{"all names", Grant{Path: vp("/acme/inbound"), Perms: PermCreate, Deny: []string{"*.exe"}, MaxSize: 1 << 20}, deny, ""},
		{"through a group of the organisation", Grant{Path: vp("/acme/outbound/2026"), Perms: Full}, allow, "grant 3"},
		{"not through a person's grant", Grant{Path: vp("/acme/hr"), Perms: PermMkdir}, deny, ""},
		{"not through a role's grant", Grant{Path: vp("/acme/buyers"), Perms: PermCreate}, deny, ""},
		{"not above acme's folder", Grant{Path: vp("/"), Perms: PermList}, deny, ""},
		{"not another organisation's", Grant{Path: vp("/globex"), Perms: PermRead}, deny, ""},
		{"nothing at all", Grant{Path: vp("/acme"), Perms: PermNone}, deny, "gives nothing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DecideDelegation(acme, held, c.g)
			t.Log(d.Reason)
			if d.Allowed != c.allow || !strings.Contains(d.Reason, c.why) {
				t.Fatalf("allowed=%v (%s), want %v containing %q", d.Allowed, d.Reason, c.allow, c.why)
			}
			if d.Allowed && !d.Visible {
				t.Fatal("allowed but not visible")
			}
		})
	}
}
