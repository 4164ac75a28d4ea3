package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// docBodies returns, for every documented operation that takes a JSON
// body, the schema of that body: property names and types.
func docBodies(t *testing.T, e *env) map[string]map[string]string {
	t.Helper()
	a := e.send(t, req{method: "GET", path: "/openapi.json"})
	type sch struct {
		Ref        string `json:"$ref"`
		Type       any    `json:"type"`
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	var d struct {
		Paths map[string]map[string]struct {
			RequestBody *struct {
				Content map[string]struct{ Schema sch } `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]sch `json:"schemas"`
		} `json:"components"`
	}
	a.decode(t, &d)
	out := map[string]map[string]string{}
	for p, ops := range d.Paths {
		for m, op := range ops {
			if op.RequestBody == nil {
				continue
			}
			c, ok := op.RequestBody.Content["application/json"]
			if !ok {
				continue
			}
			s := d.Components.Schemas[strings.TrimPrefix(c.Schema.Ref, "#/components/schemas/")]
			props := map[string]string{}
			for name, ps := range s.Properties {
				props[name] = fmt.Sprint(ps.Type)
			}
			out[strings.ToUpper(m)+" "+p] = props
		}
	}
	return out
}

// hostile are values an attacker tries in every field.
var hostile = []string{
	`'; DROP TABLE users; --`,
	`" OR "1"="1`,
	`admin'--`,
	`1; SELECT pg_sleep(5)`,
	`%27%20OR%201=1`,
	`../../../../etc/passwd`,
	`\u0000nul`,
	"\x00",
	"line\r\nX-Injected: yes",
	`<script>alert(1)</script>`,
	`{"$ne":null}`,
	`${jndi:ldap://x/a}`,
	strings.Repeat("A", 5000),
	"\u202egnp.exe",
	"*",
	"%",
	"_",
}

// TestHostileInput sends every JSON operation of the document broken and
// hostile bodies, and hostile path and query values everywhere: each is
// refused with a 4xx naming the problem, or accepted as the text it is;
// nothing answers 500, nothing reaches SQL as code, and the server keeps
// working.
func TestHostileInput(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		bodies := docBodies(t, e)
		if len(bodies) < 15 {
			t.Fatalf("only %d JSON operations found in the document", len(bodies))
		}
		tgs := targets(e)
		routes := slices.Sorted(func(yield func(string) bool) {
			for r := range bodies {
				if !yield(r) {
					return
				}
			}
		})
		for _, route := range routes {
			props := bodies[route]
			tg := tgs[route]
			base := tg.request(route, tg.params)
			if route == "POST /session" {
				base = req{method: "POST", path: "/session", header: map[string]string{}}
			}
			try := func(name, body, ctype string, status int, code string) {
				t.Helper()
				r := base
				r.header = map[string]string{}
				for k, v := range base.header {
					r.header[k] = v
				}
				r.body, r.ctype = body, ctype
				a := e.as(t, "root", r)
				if a.status != status || a.errorCode() != code {
					t.Errorf("%s with %s: %d %s, want %d %s", route, name, a.status, a.body, status, code)
				}
			}
			try("text/plain", `{}`, "text/plain", http.StatusUnsupportedMediaType, "content-type")
			try("a form", `a=b`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, "content-type")
			try("XML", `<a/>`, "application/xml", http.StatusUnsupportedMediaType, "content-type")
			try("an oversized body", `{"x":"`+strings.Repeat("a", 70<<10)+`"}`, "", http.StatusRequestEntityTooLarge, "too-large")
			try("a key twice", `{"k":1,"k":2}`, "", http.StatusBadRequest, "invalid")
			try("deep nesting", strings.Repeat(`{"a":`, 9)+"1"+strings.Repeat("}", 9), "", http.StatusBadRequest, "invalid")
			try("deep arrays", strings.Repeat(`[`, 1000)+strings.Repeat("]", 1000), "", http.StatusBadRequest, "invalid")
			try("an unknown field", `{"is_admin":true}`, "", http.StatusBadRequest, "invalid")
			try("two values", `{} {}`, "", http.StatusBadRequest, "invalid")
			try("broken JSON", `{"a":`, "", http.StatusBadRequest, "invalid")
			try("an array", `[]`, "", http.StatusBadRequest, "invalid")
			try("invalid UTF-8", "{\"a\":\"\xff\"}", "", http.StatusBadRequest, "invalid")
			for p, typ := range props {
				wrong := `"text"`
				if typ == "string" {
					wrong = `{"$gt":""}`
				}
				r := base
				r.body = fmt.Sprintf(`{%q:%s}`, p, wrong)
				a := e.as(t, "root", r)
				var eb struct{ Error struct{ Code, Field string } }
				json.Unmarshal(a.body, &eb)
				if a.status != http.StatusBadRequest || eb.Error.Field != p {
					t.Errorf("%s with %s of the wrong type: %d %s, want 400 naming %s", route, p, a.status, a.body, p)
				}
			}
			// Hostile text in every string field at once.
			for _, h := range hostile {
				fields := map[string]any{}
				for p, typ := range props {
					switch typ {
					case "string":
						fields[p] = h
					case "array":
						fields[p] = []string{h}
					}
				}
				b, _ := json.Marshal(fields)
				r := base
				r.body = string(b)
				a := e.as(t, "root", r)
				if a.status >= 500 {
					t.Errorf("%s with %q: %d %s", route, clipped(h), a.status, a.body)
				}
			}
		}
		// Hostile path and query values on every route.
		for route, tg := range tgs {
			if tg.params == nil && !strings.HasPrefix(route, "GET") {
				continue
			}
			for _, h := range hostile {
				params := map[string]string{}
				for k := range tg.params {
					params[k] = h
				}
				r := tg.request(route, params)
				sep := "?"
				if strings.Contains(r.path, "?") {
					sep = "&"
				}
				for _, q := range []string{"org", "user", "path", "action", "cursor", "limit", "since", "protocol", "dry_run"} {
					r.path += sep + q + "=" + urlQuery(h)
					sep = "&"
				}
				a := e.as(t, "root", r)
				if a.status >= 500 {
					t.Errorf("%s with %q: %d %s", route, clipped(h), a.status, a.body)
				}
			}
		}
		// Still whole.
		var users struct{ Items []struct{ Login string } }
		if a := e.as(t, "root", req{method: "GET", path: "/users/root"}); a.status != http.StatusOK {
			t.Fatalf("after the attack: GET /users/root: %d %s", a.status, a.body)
		}
		e.as(t, "root", req{method: "GET", path: "/users"}).decode(t, &users)
		for _, u := range users.Items {
			for _, h := range hostile {
				if u.Login == h {
					t.Errorf("a user named %q was made", clipped(h))
				}
			}
		}
		if strings.Contains(e.logs.String(), "api request failed") {
			t.Errorf("internal errors logged:\n%s", e.logs.String())
		}
	})
}

func clipped(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func urlQuery(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
