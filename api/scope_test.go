package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"pier/admin"
	"pier/api"
)

// TestOrgAdministrator: acme's administrator manages acme's subtree, never
// grants more than acme holds, and a token never reaches further than the
// token that made it.
func TestOrgAdministrator(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		f := newFlow(t, e)
		f.ok(req{method: "POST", path: "/users", body: `{"login":"gina","org":"acme-eu","generate_password":true}`}, "acmeadm")
		f.refused(req{method: "POST", path: "/users", body: `{"login":"hank","org":"hq","generate_password":true}`}, "acmeadm", http.StatusNotFound, "not-found")
		f.ok(req{method: "POST", path: "/orgs", body: `{"slug":"acme-us","parent":"acme"}`}, "acmeadm")
		f.refused(req{method: "POST", path: "/orgs", body: `{"slug":"acme-top"}`}, "acmeadm", http.StatusBadRequest, "invalid")
		f.refused(req{method: "PATCH", path: "/orgs/acme", body: `{"parent":"hq"}`}, "acmeadm", http.StatusForbidden, "forbidden")
		f.ok(req{method: "PATCH", path: "/orgs/acme-us", body: `{"parent":"acme-eu"}`}, "acmeadm")
		// Older algorithms are the super administrator's call.
		f.refused(req{method: "PATCH", path: "/orgs/acme-us", body: `{"ssh_compat":true}`}, "acmeadm", http.StatusForbidden, "forbidden")
		f.ok(req{method: "PATCH", path: "/orgs/acme-us", body: `{"ssh_compat":true}`}, "root")
		var us struct{ Items []admin.OrgView }
		f.ok(req{method: "GET", path: "/orgs"}, "acmeadm").decode(t, &us)
		if i := slices.IndexFunc(us.Items, func(o admin.OrgView) bool { return o.Slug == "acme-us" }); i < 0 || !us.Items[i].SSHCompat || us.Items[i].Parent != "acme-eu" {
			t.Fatalf("acme-us: %+v", us.Items)
		}
		f.refused(req{method: "PATCH", path: "/orgs/acme-us", body: `{}`}, "root", http.StatusBadRequest, "invalid")
		f.ok(req{method: "POST", path: "/folders", body: `{"path":"/acme-eu/out"}`}, "acmeadm")
		f.refused(req{method: "POST", path: "/folders", body: `{"path":"/hq/x"}`}, "acmeadm", http.StatusNotFound, "not-found")

		// Delegation: acme holds list,read,create on /acme-eu.
		var g admin.GrantView
		f.ok(req{method: "POST", path: "/grants", body: `{"to":"user:gina","path":"/acme-eu/in","perms":"list,read"}`}, "acmeadm").decode(t, &g)
		a := f.refused(req{method: "POST", path: "/grants", body: `{"to":"user:gina","path":"/acme-eu/in","perms":"list,read,delete"}`}, "acmeadm", http.StatusForbidden, "forbidden")
		if !strings.Contains(string(a.body), "delete") {
			t.Errorf("the refusal does not say what acme lacks: %s", a.body)
		}
		f.refused(req{method: "POST", path: "/grants", body: `{"to":"user:gina","path":"/hq","perms":"list"}`}, "acmeadm", http.StatusForbidden, "forbidden")
		f.refused(req{method: "POST", path: "/grants", body: `{"to":"org:hq","path":"/acme-eu/in","perms":"list"}`}, "acmeadm", http.StatusBadRequest, "invalid")
		var ex api.ExplainAnswer
		f.ok(req{method: "POST", path: "/access/explain", body: `{"login":"gina","action":"read","path":"/acme-eu/in/a.edi","exists":true}`}, "acmeadm").decode(t, &ex)
		if !ex.Allowed || !slices.Contains(ex.Grants, g.ID) {
			t.Fatalf("explain: %+v", ex)
		}
		var grp admin.GroupView
		f.ok(req{method: "POST", path: "/groups", body: `{"name":"acme-buyers"}`}, "acmeadm").decode(t, &grp)
		if grp.Owner != "acme" {
			t.Fatalf("an org administrator's group is owned by %q", grp.Owner)
		}
		f.refused(req{method: "POST", path: "/groups/acme-buyers/members", body: `{"member":"user:bob"}`}, "acmeadm", http.StatusBadRequest, "invalid")
		f.refused(req{method: "PUT", path: "/users/gina/admin-role", body: `{"role":"super"}`}, "acmeadm", http.StatusForbidden, "forbidden")

		// An import touches only memberships of groups acme manages.
		f.ok(req{method: "POST", path: "/groups", body: `{"name":"everyone"}`}, "root")
		f.ok(req{method: "POST", path: "/groups/everyone/members", body: `{"member":"user:alice"}`}, "root")
		var rep admin.ImportReport
		f.ok(req{method: "POST", path: "/users/import", ctype: "text/csv",
			body: "login,name,email,org,role,groups\nalice,Alice,,acme-eu,,acme-team\n"}, "acmeadm").decode(t, &rep)
		if rep.Failed != 0 || rep.Updated != 0 {
			t.Fatalf("import of an unchanged user: %+v", rep)
		}
		var gs struct{ Items []admin.GroupView }
		f.ok(req{method: "GET", path: "/groups"}, "root").decode(t, &gs)
		if i := slices.IndexFunc(gs.Items, func(g admin.GroupView) bool { return g.Name == "everyone" }); i < 0 || !slices.Contains(gs.Items[i].Members, "user:alice") {
			t.Fatalf("acme's import took alice out of a group acme does not manage: %+v", gs.Items)
		}

		// Lists hold acme's subtree only.
		var users struct{ Items []admin.UserView }
		f.ok(req{method: "GET", path: "/users"}, "acmeadm").decode(t, &users)
		for _, u := range users.Items {
			if !strings.HasPrefix(u.Org, "acme") {
				t.Errorf("acmeadm lists %s of %s", u.Login, u.Org)
			}
		}
		var orgs struct{ Items []admin.OrgView }
		f.ok(req{method: "GET", path: "/orgs"}, "acmeadm").decode(t, &orgs)
		for _, o := range orgs.Items {
			if !strings.HasPrefix(o.Slug, "acme") {
				t.Errorf("acmeadm lists organisation %s", o.Slug)
			}
		}
		if _, err := e.n.Audit.Sequence(t.Context()); err != nil {
			t.Fatal(err)
		}
		var trail struct{ Items []api.AuditEntry }
		f.ok(req{method: "GET", path: "/audit"}, "acmeadm").decode(t, &trail)
		sawGina := false
		for _, it := range trail.Items {
			if strings.Contains(it.Record.Subject, "gina") {
				sawGina = true
			}
			if strings.Contains(it.Record.Subject, "bob") || strings.Contains(it.Record.Path, "globex") || strings.Contains(it.Record.Subject, "globex") {
				t.Errorf("acmeadm reads globex's record %+v", it.Record)
			}
		}
		if !sawGina {
			t.Errorf("acmeadm does not see their own change in the audit trail (%d records)", len(trail.Items))
		}

		// Tokens: an org administrator's own are confined to acme; a super
		// administrator's token narrowed to acme acts as acme's administrator,
		// and the tokens it makes are no wider.
		var tok api.TokenCreated
		f.ok(req{method: "POST", path: "/tokens", body: `{"name":"mine"}`}, "acmeadm").decode(t, &tok)
		if tok.Token.Org != "acme" {
			t.Fatalf("acmeadm's token: %+v", tok.Token)
		}
		f.refused(req{method: "POST", path: "/tokens", body: `{"name":"wide","org":"globex"}`}, "acmeadm", http.StatusBadRequest, "invalid")
		f.ok(req{method: "POST", path: "/tokens", body: `{"name":"narrow","org":"acme"}`}, "root").decode(t, &tok)
		e.tokens["narrow"] = tok.Text
		var who api.ActorView
		f.ok(req{method: "GET", path: "/session"}, "narrow").decode(t, &who)
		if who.Role != "org-admin" || who.Org != "acme" {
			t.Fatalf("a narrowed super token acts as %+v", who)
		}
		f.refused(req{method: "GET", path: "/users/bob"}, "narrow", http.StatusNotFound, "not-found")
		f.ok(req{method: "POST", path: "/tokens", body: `{"name":"escape"}`}, "narrow").decode(t, &tok)
		if tok.Token.Org != "acme" {
			t.Fatalf("a narrowed token made a wider one: %+v", tok.Token)
		}
		e.tokens["escape"] = tok.Text
		f.refused(req{method: "GET", path: "/users/bob"}, "escape", http.StatusNotFound, "not-found")
		f.ok(req{method: "POST", path: "/tokens", body: `{"name":"ro"}`}, "root-ro").decode(t, &tok)
		if !tok.Token.ReadOnly {
			t.Fatalf("a read-only token made a writing one: %+v", tok.Token)
		}
		// A role taken away takes the tokens' power with it.
		f.ok(req{method: "PUT", path: "/users/acmeadm/admin-role", body: `{"role":"none"}`}, "root")
		f.refused(req{method: "GET", path: "/session"}, "acmeadm", http.StatusUnauthorized, "unauthenticated")
	})
}
