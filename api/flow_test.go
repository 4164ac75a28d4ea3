package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pier/admin"
	"pier/api"
	"pier/config"
	"pier/sessions"
)

// flow calls operations as an administrator would and checks that each
// answers the success status the OpenAPI document promises; at the end,
// every documented operation must have been called with success.
type flow struct {
	t       *testing.T
	e       *env
	success map[string]int // documented success status by route
	called  map[string]bool
}

func newFlow(t *testing.T, e *env) *flow {
	a := e.send(t, req{method: "GET", path: "/openapi.json"})
	var d struct {
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	a.decode(t, &d)
	f := &flow{t: t, e: e, success: map[string]int{}, called: map[string]bool{}}
	for p, ops := range d.Paths {
		for m, op := range ops {
			for code := range op.Responses {
				if code[0] == '2' {
					f.success[strings.ToUpper(m)+" "+p], _ = strconv.Atoi(code)
				}
			}
		}
	}
	return f
}

// route finds the documented route a concrete request matches.
func (f *flow) route(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for r := range f.success {
		m, pattern, _ := strings.Cut(r, " ")
		ps := strings.Split(pattern, "/")
		if m != method || len(ps) != len(segs) {
			continue
		}
		match := true
		for i := range ps {
			if ps[i] != segs[i] && !strings.HasPrefix(ps[i], "{") {
				match = false
				break
			}
		}
		if match && !(strings.HasPrefix(ps[len(ps)-1], "{") && segs[len(segs)-1] == "import") {
			return r
		}
	}
	return ""
}

// ok sends a request that must succeed with the documented status.
func (f *flow) ok(r req, who string) answer {
	f.t.Helper()
	var a answer
	if who == "" {
		a = f.e.send(f.t, r)
	} else {
		a = f.e.as(f.t, who, r)
	}
	route := f.route(r.method, r.path)
	if route == "" {
		f.t.Fatalf("%s %s matches no documented route", r.method, r.path)
	}
	if a.status != f.success[route] {
		f.t.Fatalf("%s %s: %d %s, want %d", r.method, r.path, a.status, a.body, f.success[route])
	}
	if a.status != http.StatusNoContent && !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		f.t.Errorf("%s %s: Content-Type %q", r.method, r.path, a.header.Get("Content-Type"))
	}
	f.called[route] = true
	return a
}

// refused sends a request that must fail with status and code.
func (f *flow) refused(r req, who string, status int, code string) answer {
	f.t.Helper()
	a := f.e.as(f.t, who, r)
	if a.status != status || a.errorCode() != code {
		f.t.Fatalf("%s %s as %s: %d %s, want %d %s", r.method, r.path, who, a.status, a.body, status, code)
	}
	return a
}

func (f *flow) allCalled() {
	f.t.Helper()
	var missing []string
	for r := range f.success {
		if !f.called[r] {
			missing = append(missing, r)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		f.t.Errorf("documented operations never called with success: %v", missing)
	}
}

// TestAdministration does through the API what the README's
// administration section does with the CLI, and more: every documented
// operation once with success, the refusals a careful client meets on
// the way, sessions of the web console, and the organisation
// administrator's delegation.
func TestAdministration(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		f := newFlow(t, e)
		f.ok(req{method: "GET", path: "/openapi.json"}, "")
		var who api.ActorView
		f.ok(req{method: "GET", path: "/session"}, "root").decode(t, &who)
		if who.Login != "root" || who.Role != "super" || who.ReadOnly {
			t.Fatalf("whoami: %+v", who)
		}

		// Organisations.
		f.ok(req{method: "POST", path: "/orgs", body: `{"slug":"initech","name":"Initech","kind":"customer"}`}, "root")
		f.refused(req{method: "POST", path: "/orgs", body: `{"slug":"initech"}`}, "root", http.StatusConflict, "exists")
		f.refused(req{method: "POST", path: "/orgs", body: `{"slug":"Bad Slug!"}`}, "root", http.StatusBadRequest, "invalid")
		f.ok(req{method: "PATCH", path: "/orgs/initech", body: `{"parent":"hq"}`}, "root")
		f.refused(req{method: "PATCH", path: "/orgs/hq", body: `{"parent":"initech"}`}, "root", http.StatusBadRequest, "invalid")
		f.refused(req{method: "PATCH", path: "/orgs/hq", body: `{}`}, "root", http.StatusBadRequest, "invalid")
		var orgs struct{ Items []admin.OrgView }
		f.ok(req{method: "GET", path: "/orgs"}, "root").decode(t, &orgs)
		if i := slices.IndexFunc(orgs.Items, func(o admin.OrgView) bool { return o.Slug == "initech" }); i < 0 || orgs.Items[i].Parent != "hq" || orgs.Items[i].Kind != "customer" {
			t.Fatalf("orgs: %+v", orgs.Items)
		}

		// A user, changed with If-Match.
		var made api.UserCreated
		a := f.ok(req{method: "POST", path: "/users", body: `{"login":"Carol","org":"initech","name":"Carol","email":"carol@initech.example","generate_password":true}`}, "root")
		a.decode(t, &made)
		if made.User.Login != "carol" || len(made.Password) < 15 || a.header.Get("ETag") == "" || made.User.Password != "set" {
			t.Fatalf("user made: %+v %q", made, a.header.Get("ETag"))
		}
		if strings.Contains(string(a.body), "argon2") {
			t.Fatal("a password hash in an answer")
		}
		f.refused(req{method: "POST", path: "/users", body: `{"login":"dave","org":"initech","keys":"ssh-ed25519 AAAA broken"}`}, "root", http.StatusBadRequest, "invalid")
		f.refused(req{method: "GET", path: "/users/dave"}, "root", http.StatusNotFound, "not-found")
		etag := f.ok(req{method: "GET", path: "/users/carol"}, "root").header.Get("ETag")
		f.refused(req{method: "PATCH", path: "/users/carol", body: `{"name":"Carol B"}`}, "root", http.StatusPreconditionRequired, "if-match-required")
		f.refused(req{method: "PATCH", path: "/users/carol", body: `{"name":"Carol B"}`, header: map[string]string{"If-Match": `"stale"`}}, "root", http.StatusPreconditionFailed, "changed")
		var changed admin.UserView
		a = f.ok(req{method: "PATCH", path: "/users/carol", body: `{"name":"Carol B","protocols":"sftp"}`, header: map[string]string{"If-Match": etag}}, "root")
		a.decode(t, &changed)
		if changed.Name != "Carol B" || !slices.Equal(changed.Protocols, []string{"sftp"}) || a.header.Get("ETag") == etag {
			t.Fatalf("changed: %+v, ETag %s after %s", changed, a.header.Get("ETag"), etag)
		}
		// A second administrator who read the old version overwrites nothing.
		f.refused(req{method: "PATCH", path: "/users/carol", body: `{"name":"Someone Else"}`, header: map[string]string{"If-Match": etag}}, "root", http.StatusPreconditionFailed, "changed")
		var now admin.UserView
		f.ok(req{method: "GET", path: "/users/carol"}, "root").decode(t, &now)
		if now.Name != "Carol B" {
			t.Fatalf("a stale change went through: %+v", now)
		}
		f.refused(req{method: "PATCH", path: "/users/carol", body: `{"protocols":"ftp"}`, header: map[string]string{"If-Match": now.ETag}}, "root", http.StatusBadRequest, "invalid")

		var st admin.UserView
		f.ok(req{method: "POST", path: "/users/carol/status", body: `{"action":"suspend"}`}, "root").decode(t, &st)
		if st.Status != "suspended" {
			t.Fatalf("suspend: %+v", st)
		}
		f.ok(req{method: "POST", path: "/users/carol/status", body: `{"action":"activate"}`}, "root").decode(t, &st)
		if st.Status != "active" {
			t.Fatalf("activate: %+v", st)
		}
		f.refused(req{method: "POST", path: "/users/carol/status", body: `{"action":"explode"}`}, "root", http.StatusBadRequest, "invalid")
		var pw api.PasswordChanged
		f.ok(req{method: "POST", path: "/users/carol/password", body: `{"generate":true}`}, "root").decode(t, &pw)
		if len(pw.Password) < 15 {
			t.Fatalf("generated password %q", pw.Password)
		}
		bad := f.refused(req{method: "POST", path: "/users/carol/password", body: `{"password":"password123"}`}, "root", http.StatusBadRequest, "invalid")
		var eb api.ErrorBody
		bad.decode(t, &eb)
		if eb.Error.Field != "password" {
			t.Fatalf("weak password: %+v", eb)
		}
		f.ok(req{method: "PUT", path: "/users/carol/admin-role", body: `{"role":"auditor"}`}, "root")
		f.refused(req{method: "PUT", path: "/users/carol/admin-role", body: `{"role":"emperor"}`}, "root", http.StatusBadRequest, "invalid")
		f.ok(req{method: "PUT", path: "/users/carol/admin-role", body: `{"role":"none"}`}, "root")

		// Keys: fingerprints hold "/" and "+", escaped in the path.
		var keys struct{ Items []admin.KeyView }
		f.ok(req{method: "POST", path: "/users/carol/keys", body: fmt.Sprintf(`{"keys":%q}`, authorizedKey(t, "carol laptop"))}, "root").decode(t, &keys)
		if len(keys.Items) != 1 || !strings.HasPrefix(keys.Items[0].Fingerprint, "SHA256:") {
			t.Fatalf("keys: %+v", keys)
		}
		f.ok(req{method: "GET", path: "/users/carol/keys"}, "root")
		f.ok(req{method: "DELETE", path: "/users/carol/keys/" + url.PathEscape(keys.Items[0].Fingerprint)}, "root")
		f.ok(req{method: "GET", path: "/users/carol/keys"}, "root").decode(t, &keys)
		if len(keys.Items) != 0 {
			t.Fatalf("key not removed: %+v", keys)
		}

		// Import, dry run first.
		csv := "login,name,email,org,role,groups\nerin,Erin,erin@initech.example,initech,staff,\nfrank,Frank,frank@x.example,nosuchorg,staff,\n"
		var rep admin.ImportReport
		f.ok(req{method: "POST", path: "/users/import?dry_run=true", body: csv, ctype: "text/csv"}, "root").decode(t, &rep)
		if !rep.DryRun || rep.Failed != 1 || len(rep.Rows) != 2 || rep.Rows[1].Field != "org" {
			t.Fatalf("dry run: %+v", rep)
		}
		f.refused(req{method: "GET", path: "/users/erin"}, "root", http.StatusNotFound, "not-found")
		f.ok(req{method: "POST", path: "/users/import", body: csv, ctype: "text/csv"}, "root").decode(t, &rep)
		if rep.DryRun || rep.Created != 1 || rep.Failed != 1 {
			t.Fatalf("import: %+v", rep)
		}
		var erin admin.UserView
		f.ok(req{method: "GET", path: "/users/erin"}, "root").decode(t, &erin)
		if erin.Status != "pending" {
			t.Fatalf("imported without a key: %+v", erin)
		}
		f.ok(req{method: "POST", path: "/users/erin/password", body: `{"generate":true}`}, "root")
		f.ok(req{method: "POST", path: "/users/erin/status", body: `{"action":"approve"}`}, "root").decode(t, &erin)
		if erin.Status != "active" {
			t.Fatalf("approved: %+v", erin)
		}
		f.refused(req{method: "POST", path: "/users/import", body: "login,password\nx,y\n", ctype: "text/csv"}, "root", http.StatusBadRequest, "invalid")
		f.refused(req{method: "POST", path: "/users/import", body: csv}, "root", http.StatusUnsupportedMediaType, "content-type")

		// Groups and members.
		f.ok(req{method: "POST", path: "/groups", body: `{"name":"initech-team","description":"everyone at Initech"}`}, "root")
		f.ok(req{method: "POST", path: "/groups/initech-team/members", body: `{"member":"org:initech+sub"}`}, "root")
		f.ok(req{method: "POST", path: "/groups/initech-team/members", body: `{"member":"user:erin"}`}, "root")
		f.refused(req{method: "POST", path: "/groups/initech-team/members", body: `{"member":"planet:mars"}`}, "root", http.StatusBadRequest, "invalid")
		f.ok(req{method: "DELETE", path: "/groups/initech-team/members/" + url.PathEscape("user:erin")}, "root")
		var groups struct{ Items []admin.GroupView }
		f.ok(req{method: "GET", path: "/groups"}, "root").decode(t, &groups)
		if i := slices.IndexFunc(groups.Items, func(g admin.GroupView) bool { return g.Name == "initech-team" }); i < 0 || !slices.Equal(groups.Items[i].Members, []string{"org:initech+sub"}) {
			t.Fatalf("groups: %+v", groups.Items)
		}

		// Folders, grants, and what they give.
		var folder api.Folder
		f.ok(req{method: "POST", path: "/folders", body: `{"path":"/initech/inbound"}`}, "root").decode(t, &folder)
		if folder.Path != "/initech/inbound" {
			t.Fatalf("folder: %+v", folder)
		}
		f.ok(req{method: "POST", path: "/folders", body: `{"path":"/initech/inbound"}`}, "root")
		f.refused(req{method: "POST", path: "/folders", body: `{"path":"/initech/../etc"}`}, "root", http.StatusBadRequest, "invalid")
		var g admin.GrantView
		f.ok(req{method: "POST", path: "/grants", body: `{"to":"user:erin","path":"/initech/inbound","perms":"create","allow":["*.edi"],"max_size":"50MB"}`}, "root").decode(t, &g)
		if g.ID == 0 || g.MaxSize != 50_000_000 || !slices.Equal(g.Allow, []string{"*.edi"}) {
			t.Fatalf("grant: %+v", g)
		}
		f.refused(req{method: "POST", path: "/grants", body: `{"to":"user:erin","path":"/initech/inbound","perms":"fly"}`}, "root", http.StatusBadRequest, "invalid")
		f.ok(req{method: "GET", path: "/grants"}, "root")
		var ex api.ExplainAnswer
		f.ok(req{method: "POST", path: "/access/explain", body: `{"login":"erin","action":"create","path":"/initech/inbound/x.edi"}`}, "root").decode(t, &ex)
		if !ex.Allowed || !slices.Contains(ex.Grants, g.ID) {
			t.Fatalf("explain create: %+v", ex)
		}
		f.ok(req{method: "POST", path: "/access/explain", body: `{"login":"erin","action":"read","path":"/initech/inbound/x.edi"}`}, "root").decode(t, &ex)
		if ex.Allowed {
			t.Fatalf("explain read: %+v", ex)
		}
		f.ok(req{method: "POST", path: "/access/explain", body: `{"login":"erin","action":"rename","path":"/initech/inbound/x.edi.part","to":"/initech/inbound/x.edi"}`}, "root")
		f.refused(req{method: "POST", path: "/access/explain", body: `{"login":"erin","action":"teleport","path":"/x"}`}, "root", http.StatusBadRequest, "invalid")
		var view admin.AccessView
		f.ok(req{method: "GET", path: "/access/view/erin?protocol=sftp"}, "root").decode(t, &view)
		if len(view.Entries) != 1 || view.Entries[0].Path != "/initech/inbound" {
			t.Fatalf("view: %+v", view)
		}
		f.refused(req{method: "GET", path: "/access/view/erin?protocol=gopher"}, "root", http.StatusBadRequest, "invalid")
		f.ok(req{method: "DELETE", path: fmt.Sprintf("/grants/%d", g.ID)}, "root")
		f.refused(req{method: "DELETE", path: "/grants/abc"}, "root", http.StatusBadRequest, "invalid")
		f.ok(req{method: "DELETE", path: "/groups/initech-team"}, "root")

		// The audit trail names the API's caller.
		var trail struct {
			Items []api.AuditEntry
			Next  string
		}
		f.ok(req{method: "GET", path: "/audit?user=root&limit=1000"}, "root")
		if _, err := e.n.Audit.Sequence(t.Context()); err != nil {
			t.Fatal(err)
		}
		f.ok(req{method: "GET", path: "/audit?user=root"}, "root").decode(t, &trail)
		ops := map[string]bool{}
		for _, it := range trail.Items {
			ops[it.Record.Op] = true
		}
		for _, op := range []string{"org.add", "user.add", "user.update", "grant.add", "grant.remove", "group.delete", "key.add", "key.remove", "user.admin-role"} {
			if !ops[op] {
				t.Errorf("the audit trail lacks %s by root: %v", op, ops)
			}
		}
		f.refused(req{method: "GET", path: "/audit?since=yesterday"}, "root", http.StatusBadRequest, "invalid")

		// Tokens: made, used, revoked.
		var tok api.TokenCreated
		f.ok(req{method: "POST", path: "/tokens", body: `{"name":"ci","read_only":true,"expires":"1h"}`}, "root").decode(t, &tok)
		if !strings.HasPrefix(tok.Text, "pier_") || !tok.Token.ReadOnly || tok.Token.Expires == "" {
			t.Fatalf("token: %+v", tok)
		}
		e.tokens["ci"] = tok.Text
		f.ok(req{method: "GET", path: "/session"}, "ci").decode(t, &who)
		if !who.ReadOnly {
			t.Fatalf("read-only token acts as %+v", who)
		}
		var toks struct{ Items []admin.TokenView }
		f.ok(req{method: "GET", path: "/tokens"}, "root").decode(t, &toks)
		for _, tv := range toks.Items {
			if strings.Contains(string(must(json.Marshal(tv))), strings.Split(tok.Text, "_")[2]) {
				t.Fatal("a token's secret is listed")
			}
		}
		f.ok(req{method: "DELETE", path: fmt.Sprintf("/tokens/%d", tok.Token.ID)}, "root")
		f.refused(req{method: "GET", path: "/session"}, "ci", http.StatusUnauthorized, "unauthenticated")

		// Pages: every user once, in order, whatever the page size.
		var all struct{ Items []admin.UserView }
		f.ok(req{method: "GET", path: "/users"}, "root").decode(t, &all)
		var paged []string
		for cursor, pages := "", 0; ; pages++ {
			var p struct {
				Items []admin.UserView
				Next  string
			}
			f.ok(req{method: "GET", path: "/users?limit=3&cursor=" + url.QueryEscape(cursor)}, "root").decode(t, &p)
			for _, u := range p.Items {
				paged = append(paged, u.Login)
			}
			if p.Next == "" {
				break
			}
			if len(p.Items) != 3 || pages > 10 {
				t.Fatalf("page %d: %d items, next %q", pages, len(p.Items), p.Next)
			}
			cursor = p.Next
		}
		var want []string
		for _, u := range all.Items {
			want = append(want, u.Login)
		}
		if len(want) < 7 || !slices.Equal(paged, want) || !slices.IsSorted(want) {
			t.Fatalf("pages %v, all %v", paged, want)
		}
		f.refused(req{method: "GET", path: "/users?cursor=!!"}, "root", http.StatusBadRequest, "invalid")
		f.refused(req{method: "GET", path: "/users?limit=100000"}, "root", http.StatusBadRequest, "invalid")
		f.refused(req{method: "GET", path: "/users?org=nosuchorg"}, "root", http.StatusBadRequest, "invalid")
		f.refused(req{method: "GET", path: "/users?org=nosuchorg"}, "acmeadm", http.StatusBadRequest, "invalid")
		f.refused(req{method: "GET", path: "/users?org=globex"}, "acmeadm", http.StatusBadRequest, "invalid")

		// App passwords and second factors.
		var app api.AppPasswordCreated
		f.ok(req{method: "POST", path: "/users/carol/app-passwords", body: `{"name":"outlook"}`}, "root").decode(t, &app)
		if app.Name != "outlook" || len(app.Password) < 16 {
			t.Fatalf("app password: %+v", app)
		}
		var apps struct{ Items []admin.AppPasswordView }
		a = f.ok(req{method: "GET", path: "/users/carol/app-passwords"}, "root")
		a.decode(t, &apps)
		if len(apps.Items) != 1 || apps.Items[0].Name != "outlook" || strings.Contains(string(a.body), app.Password) {
			t.Fatalf("app passwords: %s", a.body)
		}
		f.ok(req{method: "DELETE", path: "/users/carol/app-passwords/outlook"}, "root")
		f.refused(req{method: "DELETE", path: "/users/carol/app-passwords/outlook"}, "root", http.StatusNotFound, "not-found")
		// A second factor: the secret comes back once, as the URI an
		// authenticator app reads, and is what the node sealed.
		var enrolled api.MFAEnrolled
		f.ok(req{method: "POST", path: "/users/carol/mfa", body: `{"issuer":"Acme extranet"}`}, "root").decode(t, &enrolled)
		uri, err := url.Parse(enrolled.URI)
		if err != nil || uri.Scheme != "otpauth" || uri.Query().Get("issuer") != "Acme extranet" || len(enrolled.RecoveryCodes) != 10 {
			t.Fatalf("enrolment: %+v, %v", enrolled, err)
		}
		carol, _ := e.n.IDs.GetUser(t.Context(), "carol")
		stored, err := e.n.IDs.GetTOTP(t.Context(), carol.ID)
		if err != nil {
			t.Fatal(err)
		}
		if secret, err := e.n.MFA.Open(carol.ID, stored.Sealed); err != nil || secret != uri.Query().Get("secret") {
			t.Fatalf("the URI's secret is not the one stored: %v", err)
		}
		for _, bad := range []string{`{"issuer":"a:b"}`, `{"issuer":"` + strings.Repeat("x", 65) + `"}`, `{"issuer":"tab\there"}`} {
			f.refused(req{method: "POST", path: "/users/carol/mfa", body: bad}, "root", http.StatusBadRequest, "invalid")
		}
		var mv admin.MFAView
		f.ok(req{method: "GET", path: "/users/carol/mfa"}, "root").decode(t, &mv)
		if !mv.Enrolled || mv.RecoveryCodes != 10 {
			t.Fatalf("mfa: %+v", mv)
		}
		f.ok(req{method: "DELETE", path: "/users/carol/mfa"}, "root")
		f.ok(req{method: "GET", path: "/users/carol/mfa"}, "root").decode(t, &mv)
		if mv.Enrolled {
			t.Fatalf("mfa after removal: %+v", mv)
		}

		// The defender: bans made and lifted by hand.
		var b admin.BanView
		f.ok(req{method: "POST", path: "/defender/bans", body: `{"source":"2001:db8::7","for":"2h","reason":"scanner"}`}, "root").decode(t, &b)
		if b.Source != "2001:db8::/64" || b.Reason != "scanner" {
			t.Fatalf("ban: %+v", b)
		}
		f.refused(req{method: "POST", path: "/defender/bans", body: `{"source":"not an address"}`}, "root", http.StatusBadRequest, "invalid")
		f.refused(req{method: "POST", path: "/defender/bans", body: `{"source":"192.0.2.1","for":"-1h"}`}, "root", http.StatusBadRequest, "invalid")
		var dv admin.DefenderView
		f.ok(req{method: "GET", path: "/defender"}, "aud").decode(t, &dv)
		if len(dv.Bans) != 2 {
			t.Fatalf("bans: %+v", dv.Bans)
		}
		f.ok(req{method: "DELETE", path: "/defender/bans/" + url.PathEscape("2001:db8::/64")}, "root")
		f.refused(req{method: "DELETE", path: "/defender/bans/" + url.PathEscape("2001:db8::/64")}, "root", http.StatusNotFound, "not-found")

		// Live sessions: listed, and ended at once.
		var live struct{ Items []sessions.Session }
		f.ok(req{method: "GET", path: "/sessions"}, "root").decode(t, &live)
		if len(live.Items) != 2 {
			t.Fatalf("sessions: %+v", live.Items)
		}
		f.ok(req{method: "GET", path: "/sessions?user=alice"}, "acmeadm").decode(t, &live)
		if len(live.Items) != 1 || live.Items[0].Detail != "PUT /acme-eu/in/big.edi" {
			t.Fatalf("alice's sessions: %+v", live.Items)
		}
		f.ok(req{method: "DELETE", path: "/sessions/" + e.sessions["alice"]}, "acmeadm")
		if why := <-e.ended; why != "alice: ended by acmeadm" {
			t.Fatalf("ended: %q", why)
		}

		f.ok(req{method: "DELETE", path: "/users/erin"}, "root")
		f.refused(req{method: "GET", path: "/users/erin"}, "root", http.StatusNotFound, "not-found")

		webSessions(t, e, f)
		// POST /directory/sync needs a directory: TestDirectorySync.
		f.called["POST /directory/sync"] = true
		f.allCalled()
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// webSessions tries the web console's login: its cookie, its CSRF token,
// refusals that all look alike, logout.
func webSessions(t *testing.T, e *env, f *flow) {
	login := func(user, pw string) answer {
		return e.send(t, req{method: "POST", path: "/session", body: fmt.Sprintf(`{"login":%q,"password":%q}`, user, pw)})
	}
	// Wrong password, unknown user, a user without an administrator role,
	// a suspended administrator: one answer.
	var first string
	for _, c := range [][2]string{{"root", "wrong password here"}, {"nosuchuser", "whatever it is"}, {"alice", e.passwords["alice"]}, {"suspendme", e.passwords["suspendme"]}} {
		a := login(c[0], c[1])
		if a.status != http.StatusUnauthorized || a.header.Get("Set-Cookie") != "" {
			t.Fatalf("login %s: %d %s", c[0], a.status, a.body)
		}
		if first == "" {
			first = string(a.body)
		} else if string(a.body) != first {
			t.Errorf("login refusals differ: %s vs %s", first, a.body)
		}
	}
	a := f.ok(req{method: "POST", path: "/session", body: fmt.Sprintf(`{"login":"root","password":%q}`, e.passwords["root"])}, "")
	var started api.SessionStarted
	a.decode(t, &started)
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == "pier_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/api/v1/" || started.CSRF == "" || started.Actor.Login != "root" {
		t.Fatalf("session: %+v cookie %+v", started, cookie)
	}
	if regexp.MustCompile(`(?i)secure`).MatchString(a.header.Get("Set-Cookie")) {
		t.Errorf("a cookie set over plain HTTP is marked Secure: %s", a.header.Get("Set-Cookie"))
	}
	c := &http.Cookie{Name: cookie.Name, Value: cookie.Value}
	if a := e.send(t, req{method: "GET", path: "/session", cookie: c}); a.status != http.StatusOK {
		t.Fatalf("GET /session with the cookie: %d %s", a.status, a.body)
	}
	// A change without the CSRF token, or with another, is refused.
	for _, csrf := range []string{"", "x", strings.Repeat("A", len(started.CSRF))} {
		r := req{method: "POST", path: "/folders", body: `{"path":"/hq/csrf"}`, cookie: c, header: map[string]string{"X-CSRF-Token": csrf}}
		if a := e.send(t, r); a.status != http.StatusForbidden || a.errorCode() != "csrf" {
			t.Fatalf("change with CSRF %q: %d %s", csrf, a.status, a.body)
		}
	}
	r := req{method: "POST", path: "/folders", body: `{"path":"/hq/csrf"}`, cookie: c, header: map[string]string{"X-CSRF-Token": started.CSRF}}
	if a := e.send(t, r); a.status != http.StatusCreated {
		t.Fatalf("change with the CSRF token: %d %s", a.status, a.body)
	}
	if a := e.send(t, req{method: "DELETE", path: "/session", cookie: c}); a.status != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d %s", a.status, a.body)
	}
	f.ok(req{method: "DELETE", path: "/session", cookie: c, header: map[string]string{"X-CSRF-Token": started.CSRF}}, "")
	if a := e.send(t, req{method: "GET", path: "/session", cookie: c}); a.status != http.StatusUnauthorized {
		t.Fatalf("the session works after logout: %d %s", a.status, a.body)
	}
	// A session ends with its administrator's suspension.
	a = login("aud", e.passwords["aud"])
	if a.status != http.StatusCreated {
		t.Fatalf("auditor login: %d %s", a.status, a.body)
	}
	for _, ck := range (&http.Response{Header: a.header}).Cookies() {
		c = &http.Cookie{Name: ck.Name, Value: ck.Value}
	}
	f.ok(req{method: "POST", path: "/users/aud/status", body: `{"action":"suspend"}`}, "root")
	if a := e.send(t, req{method: "GET", path: "/session", cookie: c}); a.status != http.StatusUnauthorized {
		t.Fatalf("a suspended administrator's session works: %d %s", a.status, a.body)
	}
}

// TestMFAEnrolmentWithoutKey: a node without the MFA key refuses an
// enrolment, saying how to get one, and stores nothing.
func TestMFAEnrolmentWithoutKey(t *testing.T) {
	e := newEnv(t, false, func(c *config.Config) { c.MFAKey = filepath.Join(t.TempDir(), "absent.key") })
	a := e.as(t, "root", req{method: "POST", path: "/users/bob/mfa", body: `{}`})
	if a.status != http.StatusConflict || a.errorCode() != "no-mfa-key" || !strings.Contains(string(a.body), "mfa enrol") {
		t.Fatalf("enrolment without a key: %d %s", a.status, a.body)
	}
	bob, _ := e.n.IDs.GetUser(t.Context(), "bob")
	if _, err := e.n.IDs.GetTOTP(t.Context(), bob.ID); err == nil {
		t.Fatal("a refused enrolment stored a secret")
	}
}
