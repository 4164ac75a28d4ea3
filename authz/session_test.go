package authz

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A connection's rights end with what it logged in with: the account (not
// the login text), its source network and its key.
func TestSessionBinding(t *testing.T) {
	now := testNow()
	base := func() Facts {
		return Facts{UserID: 7, Login: "acme-edi", Org: "acme", Status: StatusActive,
			Networks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
			Keys: []Key{{Fingerprint: "SHA256:old"}, {Fingerprint: "SHA256:soon", Expires: now.Add(time.Minute)},
				{Fingerprint: "SHA256:gone", Expires: now.Add(-time.Minute)}}}
	}
	from := netip.MustParseAddr("192.0.2.10")
	cases := []struct {
		name   string
		change func(*Facts)
		ok     bool
		why    string
	}{
		{"the account it logged in to", func(f *Facts) { f.Session = Session{UserID: 7, From: from, Key: "SHA256:old"} }, true, ""},
		{"no binding (the CLI)", func(f *Facts) {}, true, ""},
		{"deleted and created again", func(f *Facts) { f.Session = Session{UserID: 6, From: from} }, false, "deleted and created again"},
		{"from another network", func(f *Facts) { f.Session = Session{UserID: 7, From: netip.MustParseAddr("198.51.100.1")} }, false, "networks"},
		{"IPv4 mapped in IPv6", func(f *Facts) { f.Session = Session{UserID: 7, From: netip.MustParseAddr("::ffff:192.0.2.10")} }, true, ""},
		{"networks cleared", func(f *Facts) {
			f.Networks = nil
			f.Session = Session{UserID: 7, From: netip.MustParseAddr("198.51.100.1")}
		}, true, ""},
		{"an unreadable restriction holds nobody", func(f *Facts) {
			f.Networks = []netip.Prefix{{}}
			f.Session = Session{UserID: 7, From: from}
		}, false, "networks"},
		{"key removed", func(f *Facts) { f.Session = Session{UserID: 7, From: from, Key: "SHA256:other"} }, false, "removed or has expired"},
		{"key still valid a minute", func(f *Facts) { f.Session = Session{UserID: 7, Key: "SHA256:soon"} }, true, ""},
		{"key expired", func(f *Facts) { f.Session = Session{UserID: 7, Key: "SHA256:gone"} }, false, "removed or has expired"},
		{"compatibility listener, account not marked", func(f *Facts) { f.Session = Session{UserID: 7, Compat: true} }, false, "compatibility listener"},
		{"compatibility listener, account marked", func(f *Facts) {
			f.SSHCompat = true
			f.Session = Session{UserID: 7, Compat: true}
		}, true, ""},
		{"a mark does not bind the main listener", func(f *Facts) { f.SSHCompat = true; f.Session = Session{UserID: 7} }, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := base()
			c.change(&f)
			ok, why := f.Usable(now)
			if ok != c.ok || !strings.Contains(why, c.why) {
				t.Fatalf("Usable = %v %q, want %v containing %q", ok, why, c.ok, c.why)
			}
			d := Decide(f, []Grant{{ID: 1, Subject: subject("user:acme-edi"), Path: vp("/acme/outbound"), Perms: ReadOnly}},
				ActRead, vp("/acme/outbound/x.edi"), now, Target{Exists: true})
			if d.Allowed != c.ok || !c.ok && d.Visible {
				t.Fatalf("Decide: %+v", d)
			}
		})
	}
}
