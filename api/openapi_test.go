package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// doc is the OpenAPI document, as much of it as the tests read.
type doc struct {
	OpenAPI    string                       `json:"openapi"`
	Security   []map[string][]string        `json:"security"`
	Paths      map[string]map[string]*docOp `json:"paths"`
	Components struct {
		Schemas   map[string]*schema         `json:"schemas"`
		Responses map[string]*docResponse    `json:"responses"`
		Security  map[string]json.RawMessage `json:"securitySchemes"`
	} `json:"components"`
}

type docOp struct {
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Security    *[]map[string][]string `json:"security"`
	Parameters  []docParam             `json:"parameters"`
	RequestBody *struct {
		Required bool                                `json:"required"`
		Content  map[string]struct{ Schema *schema } `json:"content"`
	} `json:"requestBody"`
	Responses map[string]*docResponse `json:"responses"`
}

type docParam struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

type docResponse struct {
	Ref         string                              `json:"$ref"`
	Description string                              `json:"description"`
	Content     map[string]struct{ Schema *schema } `json:"content"`
}

func loadDoc(t *testing.T) *doc {
	t.Helper()
	var d doc
	if err := json.Unmarshal(openAPI, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &d
}

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

// TestOpenAPIMatchesRoutes holds the document and the handlers together,
// both ways: every route is documented with the bodies its Go types
// encode, every documented operation is a route, and every schema in the
// document is the schema of a type the handlers use, field for field.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	d := loadDoc(t)
	if d.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", d.OpenAPI)
	}
	s := New(DefaultConfig(), nil, nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defs := map[string]*schema{}
	derive(reflect.TypeFor[ErrorBody](), defs)
	seen := map[string]bool{}
	for _, r := range s.routes {
		name := r.method + " " + r.path
		if seen[name] {
			t.Errorf("%s registered twice", name)
		}
		seen[name] = true
		op := d.Paths[r.path][strings.ToLower(r.method)]
		if op == nil {
			t.Errorf("%s is not in the document", name)
			continue
		}
		if op.Summary == "" || op.OperationID == "" {
			t.Errorf("%s: no summary or operationId", name)
		}
		// Path parameters: exactly those of the pattern.
		var want, got []string
		for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
			want = append(want, m[1])
		}
		for _, p := range op.Parameters {
			if p.In == "path" {
				if !p.Required {
					t.Errorf("%s: path parameter %s not required", name, p.Name)
				}
				got = append(got, p.Name)
			}
		}
		if !slices.Equal(want, got) {
			t.Errorf("%s: path parameters %v, want %v", name, got, want)
		}
		// Security: public operations say so; the rest take the default.
		if r.public != (op.Security != nil && len(*op.Security) == 0) {
			t.Errorf("%s: public = %v but the document's security says otherwise", name, r.public)
		}
		if !r.public && op.Responses["401"] == nil {
			t.Errorf("%s: 401 not documented", name)
		}
		// Request body.
		switch r.in.(type) {
		case nil:
			if op.RequestBody != nil {
				t.Errorf("%s: documents a request body the handler does not read", name)
			}
		case csvBody:
			if op.RequestBody == nil || len(op.RequestBody.Content) != 1 || op.RequestBody.Content["text/csv"].Schema == nil {
				t.Errorf("%s: want a text/csv request body", name)
			}
		default:
			if op.RequestBody == nil || !op.RequestBody.Required || len(op.RequestBody.Content) != 1 {
				t.Errorf("%s: want one required application/json request body", name)
				break
			}
			sameSchema(t, name+" request", op.RequestBody.Content["application/json"].Schema, derive(reflect.TypeOf(r.in), defs))
		}
		// Answer.
		var ok []string
		for code := range op.Responses {
			if code[0] == '2' {
				ok = append(ok, code)
			}
		}
		if len(ok) != 1 {
			t.Errorf("%s: %d success answers documented, want 1", name, len(ok))
			continue
		}
		resp := op.Responses[ok[0]]
		switch r.out.(type) {
		case nil:
			if ok[0] != "204" || len(resp.Content) != 0 {
				t.Errorf("%s: answers 204 without a body, documented %s", name, ok[0])
			}
		case openAPIDoc:
		default:
			if ok[0] == "204" || len(resp.Content) != 1 {
				t.Errorf("%s: want one JSON success body", name)
				break
			}
			sameSchema(t, name+" answer", resp.Content["application/json"].Schema, derive(reflect.TypeOf(r.out), defs))
		}
		for code, resp := range op.Responses {
			if code[0] != '2' && (resp.Ref == "" || d.Components.Responses[strings.TrimPrefix(resp.Ref, "#/components/responses/")] == nil) {
				t.Errorf("%s: error answer %s does not name a documented error response", name, code)
			}
		}
	}
	for path, ops := range d.Paths {
		for m := range ops {
			if !seen[strings.ToUpper(m)+" "+path] {
				t.Errorf("the document has %s %s, which no handler serves", strings.ToUpper(m), path)
			}
		}
	}
	// Schemas, both ways, field by field.
	for _, n := range slices.Sorted(maps.Keys(defs)) {
		got := d.Components.Schemas[n]
		if got == nil {
			t.Errorf("schema %s (a handler's type) is not in the document", n)
			continue
		}
		sameObject(t, n, got, defs[n])
	}
	for n := range d.Components.Schemas {
		if defs[n] == nil {
			t.Errorf("the document's schema %s is no handler's type", n)
		}
	}
	for n, r := range d.Components.Responses {
		if r.Content["application/json"].Schema == nil || r.Content["application/json"].Schema.Ref != "#/components/schemas/ErrorBody" {
			t.Errorf("error response %s is not an ErrorBody", n)
		}
	}
}

// sameSchema compares a property's or body's schema with a Go type's.
func sameSchema(t *testing.T, where string, got, want *schema) {
	t.Helper()
	switch {
	case got == nil:
		t.Errorf("%s: no schema", where)
	case got.Ref != want.Ref:
		t.Errorf("%s: $ref %q, want %q", where, got.Ref, want.Ref)
	case want.Ref != "":
	case !sameType(got.Type, want.Type):
		t.Errorf("%s: type %v, want %v", where, got.Type, want.Type)
	case want.Format != "" && got.Format != want.Format:
		t.Errorf("%s: format %q, want %q", where, got.Format, want.Format)
	case (got.Items == nil) != (want.Items == nil):
		t.Errorf("%s: items differ", where)
	case want.Items != nil:
		sameSchema(t, where+"[]", got.Items, want.Items)
	}
}

func sameType(got, want any) bool {
	if want == nil {
		return got == nil
	}
	return got == want
}

func sameObject(t *testing.T, name string, got, want *schema) {
	t.Helper()
	if got.Type != "object" {
		t.Errorf("schema %s: type %v, want object", name, got.Type)
	}
	for p, ws := range want.Properties {
		gs := got.Properties[p]
		if gs == nil {
			t.Errorf("schema %s lacks property %s", name, p)
			continue
		}
		sameSchema(t, name+"."+p, gs, ws)
	}
	for p := range got.Properties {
		if want.Properties[p] == nil {
			t.Errorf("schema %s documents property %s, which its Go type does not have", name, p)
		}
	}
	g, w := slices.Clone(got.Required), slices.Clone(want.Required)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("schema %s: required %v, want %v", name, g, w)
	}
}
