package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// target is how the route matrix calls one operation: with path
// parameters naming globex's objects (which acme's administrator must not
// reach), the same parameters naming nothing (the answers must not tell
// the two apart), and a body aimed at globex.
type target struct {
	params  map[string]string
	missing map[string]string
	body    string
	// missingBody is body aimed at nothing, for routes whose body names
	// globex's object: the answers must not tell the two apart.
	missingBody string
	ctype       string
	header      map[string]string
	// kind: "read" (every administrator), "write" (not auditors nor
	// read-only tokens), "self" (everyone, on their own tokens: the
	// matrix's call names another's, refused to all but super
	// administrators with a token that may write).
	kind string
	// superOnly: acme's administrator is refused even without naming
	// globex (the defender spans every organisation).
	superOnly bool
	// refused judges acme's administrator's answer when it is not a
	// plain 4xx (an import reports its refused rows).
	refused func(a answer) bool
}

// targets gives every authenticated route of the OpenAPI document its
// call; TestRouteMatrix fails for a documented route missing here, so a
// new route cannot ship without its negative tests.
func targets(e *env) map[string]target {
	bob := map[string]string{"login": "bob"}
	nobody := map[string]string{"login": "nosuchuser"}
	key := strings.Fields(authorizedKeyText)[0] + " " + strings.Fields(authorizedKeyText)[1]
	return map[string]target{
		"GET /session":                               {kind: "read"},
		"GET /orgs":                                  {kind: "read"},
		"POST /orgs":                                 {kind: "write", body: `{"slug":"evil","parent":"globex"}`, missingBody: `{"slug":"evil","parent":"nosuchorg"}`},
		"PATCH /orgs/{slug}":                         {kind: "write", params: map[string]string{"slug": "globex"}, missing: map[string]string{"slug": "nosuchorg"}, body: `{"parent":"acme"}`},
		"GET /users":                                 {kind: "read"},
		"POST /users":                                {kind: "write", body: `{"login":"evil","org":"globex","generate_password":true}`, missingBody: `{"login":"evil","org":"nosuchorg","generate_password":true}`},
		"GET /users/{login}":                         {kind: "read", params: bob, missing: nobody},
		"PATCH /users/{login}":                       {kind: "write", params: bob, missing: nobody, body: `{"name":"Evil"}`, header: map[string]string{"If-Match": `"x"`}},
		"DELETE /users/{login}":                      {kind: "write", params: bob, missing: nobody},
		"POST /users/{login}/status":                 {kind: "write", params: bob, missing: nobody, body: `{"action":"suspend"}`},
		"POST /users/{login}/password":               {kind: "write", params: bob, missing: nobody, body: `{"generate":true}`},
		"PUT /users/{login}/admin-role":              {kind: "write", params: bob, missing: nobody, body: `{"role":"super"}`},
		"GET /users/{login}/app-passwords":           {kind: "read", params: bob, missing: nobody},
		"POST /users/{login}/app-passwords":          {kind: "write", params: bob, missing: nobody, body: `{"name":"evil"}`},
		"DELETE /users/{login}/app-passwords/{name}": {kind: "write", params: map[string]string{"login": "bob", "name": "bob-laptop"}, missing: map[string]string{"login": "nosuchuser", "name": "bob-laptop"}},
		"GET /users/{login}/mfa":                     {kind: "read", params: bob, missing: nobody},
		"POST /users/{login}/mfa":                    {kind: "write", params: bob, missing: nobody, body: `{"issuer":"evil"}`},
		"DELETE /users/{login}/mfa":                  {kind: "write", params: bob, missing: nobody},
		"GET /defender":                              {kind: "read", superOnly: true},
		"POST /defender/bans":                        {kind: "write", body: `{"source":"192.0.2.99"}`, superOnly: true},
		"DELETE /defender/bans/{source}":             {kind: "write", params: map[string]string{"source": "192.0.2.98"}, missing: map[string]string{"source": "192.0.2.97"}, superOnly: true},
		"GET /users/{login}/keys":                    {kind: "read", params: bob, missing: nobody},
		"POST /users/{login}/keys":                   {kind: "write", params: bob, missing: nobody, body: fmt.Sprintf(`{"keys":%q}`, key)},
		"DELETE /users/{login}/keys/{fingerprint}": {kind: "write",
			params:  map[string]string{"login": "bob", "fingerprint": e.bobKey},
			missing: map[string]string{"login": "nosuchuser", "fingerprint": e.bobKey}},
		"POST /users/import": {kind: "write", ctype: "text/csv", body: "login,name,email,org,role,groups\nevil,Evil,evil@x.example,globex,staff,\n",
			refused: func(a answer) bool {
				var rep struct{ Created, Updated, Failed int }
				json.Unmarshal(a.body, &rep)
				return a.status == http.StatusOK && rep.Created == 0 && rep.Updated == 0 && rep.Failed == 1
			}},
		"GET /groups":                 {kind: "read"},
		"POST /groups":                {kind: "write", body: `{"name":"evil","owner":"globex"}`, missingBody: `{"name":"evil","owner":"nosuchorg"}`},
		"DELETE /groups/{name}":       {kind: "write", params: map[string]string{"name": "globex-team"}, missing: map[string]string{"name": "nosuchgroup"}},
		"POST /groups/{name}/members": {kind: "write", params: map[string]string{"name": "globex-team"}, missing: map[string]string{"name": "nosuchgroup"}, body: `{"member":"user:alice"}`},
		"DELETE /groups/{name}/members/{member}": {kind: "write",
			params:  map[string]string{"name": "globex-team", "member": "user:bob"},
			missing: map[string]string{"name": "nosuchgroup", "member": "user:bob"}},
		"POST /folders":            {kind: "write", body: `{"path":"/globex/evil"}`, missingBody: `{"path":"/nosuchorg/evil"}`},
		"GET /grants":              {kind: "read"},
		"POST /grants":             {kind: "write", body: `{"to":"user:bob","path":"/globex","perms":"list"}`, missingBody: `{"to":"user:nosuchuser","path":"/globex","perms":"list"}`},
		"DELETE /grants/{id}":      {kind: "write", params: map[string]string{"id": fmt.Sprint(e.grants["globex"])}, missing: map[string]string{"id": "999999"}},
		"POST /access/explain":     {kind: "read", body: `{"login":"bob","action":"read","path":"/globex/x"}`, missingBody: `{"login":"nosuchuser","action":"read","path":"/globex/x"}`},
		"GET /access/view/{login}": {kind: "read", params: bob, missing: nobody},
		"GET /audit":               {kind: "read"},
		"GET /sessions":            {kind: "read"},
		"DELETE /sessions/{id}":    {kind: "write", params: map[string]string{"id": e.sessions["bob"]}, missing: map[string]string{"id": "nosuchsession"}},
		"POST /directory/sync":     {kind: "write", body: `{"dry_run":true}`},
		"GET /tokens":              {kind: "read"},
		"POST /tokens":             {kind: "self", body: `{"login":"globexadm","name":"evil"}`, missingBody: `{"login":"nosuchuser","name":"evil"}`},
		"DELETE /tokens/{id}":      {kind: "self", params: map[string]string{"id": tokenID(e.tokens["globexadm"])}, missing: map[string]string{"id": "999999"}},
	}
}

// authorizedKeyText is a valid key for bodies that add one.
const authorizedKeyText = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl matrix"

// tokenID is the ID in a token's text, pier_ID_SECRET.
func tokenID(text string) string {
	parts := strings.Split(text, "_")
	return parts[1]
}

// docRoutes lists the document's operations as "METHOD /path", with
// whether each is public.
func docRoutes(t *testing.T, e *env) map[string]bool {
	t.Helper()
	a := e.send(t, req{method: "GET", path: "/openapi.json"})
	if a.status != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d", a.status)
	}
	var d struct {
		Paths map[string]map[string]struct {
			Security *[]any `json:"security"`
		} `json:"paths"`
	}
	a.decode(t, &d)
	out := map[string]bool{}
	for p, ops := range d.Paths {
		for m, op := range ops {
			out[strings.ToUpper(m)+" "+p] = op.Security != nil && len(*op.Security) == 0
		}
	}
	return out
}

// path fills a route's pattern with parameters, escaped.
func fill(pattern string, params map[string]string) string {
	for k, v := range params {
		pattern = strings.ReplaceAll(pattern, "{"+k+"}", url.PathEscape(v))
	}
	return pattern
}

func (tg target) request(route string, params map[string]string) req {
	method, pattern, _ := strings.Cut(route, " ")
	h := map[string]string{}
	for k, v := range tg.header {
		h[k] = v
	}
	return req{method: method, path: fill(pattern, params), body: tg.body, ctype: tg.ctype, header: h}
}

// TestRouteMatrix tries every authenticated route of the OpenAPI document
// with every kind of credential the gate must refuse, with an auditor and
// a read-only token (no change goes through), and with acme's
// administrator against globex's objects (all refused, nothing revealed,
// nothing changed).
func TestRouteMatrix(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		tgs := targets(e)
		routes := docRoutes(t, e)
		var names []string
		for r, public := range routes {
			if public {
				continue
			}
			if _, ok := tgs[r]; !ok {
				t.Errorf("%s is in the OpenAPI document but not in the route matrix", r)
				continue
			}
			names = append(names, r)
		}
		for r := range tgs {
			if _, ok := routes[r]; !ok {
				t.Errorf("the matrix names %s, which the document does not", r)
			}
		}
		slices.Sort(names)
		before := e.snapshot(t)

		// Credentials the gate refuses, alike.
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("root:whatever"))
		bad := map[string]map[string]string{
			"none":         {},
			"garbage":      {"Authorization": "Bearer pier_1_" + strings.Repeat("A", 43)},
			"not a token":  {"Authorization": "Bearer ' OR 1=1 --"},
			"basic":        {"Authorization": basic},
			"other scheme": {"Authorization": "Token " + e.tokens["root"]},
			"expired":      {"Authorization": "Bearer " + e.tokens["expired"]},
			"revoked":      {"Authorization": "Bearer " + e.tokens["revoked"]},
			"suspended":    {"Authorization": "Bearer " + e.tokens["suspended"]},
			"demoted":      {"Authorization": "Bearer " + e.tokens["demoted"]},
			"huge":         {"Authorization": "Bearer " + strings.Repeat("x", 4000)},
			"cookie":       {"Cookie": "pier_session=" + strings.Repeat("A", 32)},
		}
		for _, route := range names {
			tg := tgs[route]
			for why, h := range bad {
				r := tg.request(route, tg.params)
				for k, v := range h {
					r.header[k] = v
				}
				a := e.send(t, r)
				if a.status != http.StatusUnauthorized || a.errorCode() != "unauthenticated" || a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s with %s credentials: %d %s, want 401 unauthenticated", route, why, a.status, a.body)
				}
			}
			// Two credentials at once: refused, even if both are good.
			r := tg.request(route, tg.params)
			r.header["Authorization"] = "Bearer " + e.tokens["root"]
			r.header["Cookie"] = "pier_session=" + strings.Repeat("A", 32)
			if a := e.send(t, r); a.status != http.StatusUnauthorized {
				t.Errorf("%s with a token and a cookie: %d, want 401", route, a.status)
			}
		}
		if after := e.snapshot(t); after != before {
			t.Fatalf("refused credentials changed something:\nbefore %s\nafter  %s", before, after)
		}

		// An auditor and a read-only token read, and change nothing.
		for _, who := range []string{"aud", "root-ro"} {
			for _, route := range names {
				tg := tgs[route]
				a := e.as(t, who, tg.request(route, tg.params))
				switch tg.kind {
				case "read":
					if a.status != http.StatusOK {
						t.Errorf("%s as %s: %d %s, want 200", route, who, a.status, a.body)
					}
				case "write":
					if a.status != http.StatusForbidden || a.errorCode() != "forbidden" {
						t.Errorf("%s as %s: %d %s, want 403 forbidden", route, who, a.status, a.body)
					}
				case "self":
					if a.status < 400 || a.status >= 500 {
						t.Errorf("%s as %s: %d %s, want a refusal (another's token)", route, who, a.status, a.body)
					}
				}
				if after := e.snapshot(t); tg.kind != "read" && after != before {
					t.Fatalf("%s as %s changed something:\nbefore %s\nafter  %s", route, who, before, after)
				}
			}
		}

		// acme's administrator against globex: refused or filtered,
		// answered as for objects that do not exist, nothing changed,
		// no secret of globex in any answer.
		for _, route := range names {
			tg := tgs[route]
			a := e.as(t, "acmeadm", tg.request(route, tg.params))
			for _, s := range globexSecrets {
				if strings.Contains(string(a.body), s) {
					t.Errorf("%s as acmeadm reveals %q: %s", route, s, a.body)
				}
			}
			switch {
			case tg.refused != nil:
				if !tg.refused(a) {
					t.Errorf("%s as acmeadm: %d %s, want it refused", route, a.status, a.body)
				}
			case tg.superOnly:
				if a.status != http.StatusForbidden || a.errorCode() != "forbidden" {
					t.Errorf("%s as acmeadm: %d %s, want 403 forbidden", route, a.status, a.body)
				}
			case tg.params == nil && tg.kind == "read" && tg.body == "":
				if a.status != http.StatusOK {
					t.Errorf("%s as acmeadm: %d %s, want 200 (their subtree only)", route, a.status, a.body)
				}
			case a.status < 400 || a.status >= 500:
				t.Errorf("%s as acmeadm on globex: %d %s, want a refusal", route, a.status, a.body)
			}
			if tg.missing != nil || tg.missingBody != "" {
				mr := tg.request(route, tg.missing)
				if tg.missingBody != "" {
					mr = tg.request(route, tg.params)
					mr.body = tg.missingBody
				}
				m := e.as(t, "acmeadm", mr)
				if m.status != a.status || m.errorCode() != a.errorCode() {
					t.Errorf("%s as acmeadm: globex's object answers %d %s, a missing one %d %s: they must look alike",
						route, a.status, a.errorCode(), m.status, m.errorCode())
				}
			}
			if after := e.snapshot(t); after != before {
				t.Fatalf("%s as acmeadm changed something:\nbefore %s\nafter  %s", route, before, after)
			}
		}
	})
}
