package api_test

import (
	"net/http"
	"testing"
	"time"

	"pier/api"
	"pier/config"
	"pier/directory"
	"pier/internal/testenv"
)

// TestDirectorySync: a super administrator syncs users from a real slapd
// through the API, dry run first; no one else may; without a directory
// the answer says so.
func TestDirectorySync(t *testing.T) {
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "embedded", true: "postgres"}[prod], func(t *testing.T) {
			ldap := testenv.StartSlapd(t)
			ou := "ou=partners," + ldap.BaseDN
			ldap.LDIF(t, "dn: "+ou+"\nobjectClass: organizationalUnit\nou: partners\n\n"+
				"dn: uid=dora,"+ou+"\nobjectClass: inetOrgPerson\nuid: dora\ncn: Dora Dir\nsn: Dir\nmail: dora@acme.example\n\n"+
				"dn: uid=emil,"+ou+"\nobjectClass: inetOrgPerson\nuid: emil\ncn: Emil Dir\nsn: Dir\n\n")
			e := newEnv(t, prod, func(c *config.Config) {
				d := directory.Default()
				d.URL, d.CAFile, d.BindDN, d.BindPassword = ldap.URL, ldap.CAFile, ldap.ServiceDN, ldap.ServicePassword
				d.BaseDN, d.Filter, d.DefaultOrg, d.Timeout = ou, "(objectClass=inetOrgPerson)", "acme-eu", 10*time.Second
				c.Directory = d
			})
			f := newFlow(t, e)
			var rep directory.Report
			f.ok(req{method: "POST", path: "/directory/sync", body: `{"dry_run":true}`}, "root").decode(t, &rep)
			if !rep.DryRun || rep.Created != 2 || rep.Entries != 2 {
				t.Fatalf("dry run: %+v", rep)
			}
			f.refused(req{method: "GET", path: "/users/dora"}, "root", http.StatusNotFound, "not-found")
			f.refused(req{method: "POST", path: "/directory/sync", body: `{}`}, "acmeadm", http.StatusForbidden, "forbidden")
			f.refused(req{method: "POST", path: "/directory/sync", body: `{"dry_run":true}`}, "aud", http.StatusForbidden, "forbidden")
			f.ok(req{method: "POST", path: "/directory/sync", body: `{}`}, "root").decode(t, &rep)
			if rep.DryRun || rep.Created != 2 {
				t.Fatalf("sync: %+v", rep)
			}
			var dora struct{ Org, Email, Status string }
			f.ok(req{method: "GET", path: "/users/dora"}, "acmeadm").decode(t, &dora)
			if dora.Org != "acme-eu" || dora.Email != "dora@acme.example" {
				t.Fatalf("dora: %+v", dora)
			}
			f.ok(req{method: "POST", path: "/directory/sync", body: `{}`}, "root").decode(t, &rep)
			if rep.Unchanged != 2 || rep.Created != 0 {
				t.Fatalf("second sync: %+v", rep)
			}

			// A directory that suddenly holds nobody suspends nobody
			// unless forced.
			ldap.LDIF(t, "dn: uid=dora,"+ou+"\nchangetype: delete\n\ndn: uid=emil,"+ou+"\nchangetype: delete\n\n")
			f.refused(req{method: "POST", path: "/directory/sync", body: `{}`}, "root", http.StatusConflict, "too-many-suspensions")
			f.ok(req{method: "GET", path: "/users/dora"}, "root").decode(t, &dora)
			if dora.Status != "active" {
				t.Fatalf("a refused sync suspended dora: %+v", dora)
			}
			f.ok(req{method: "POST", path: "/directory/sync", body: `{"force":true}`}, "root").decode(t, &rep)
			if rep.Suspended != 2 {
				t.Fatalf("forced sync: %+v", rep)
			}

			plain := newEnv(t, prod)
			a := plain.as(t, "root", req{method: "POST", path: "/directory/sync", body: `{}`})
			var eb api.ErrorBody
			a.decode(t, &eb)
			if a.status != http.StatusConflict || eb.Error.Code != "no-directory" {
				t.Fatalf("sync without a directory: %d %s", a.status, a.body)
			}
		})
	}
}
