package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"time"
)

// This file derives, from a Go type, the JSON Schema that its encoding
// has; the OpenAPI test compares the document's schemas with these.

// schemaTypes holds which Go type each schema name stands for.
var schemaTypes sync.Map

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// schemaName is the name a Go type's schema has in the document:
// admin.UserView is "User", page[admin.UserView] is "UserPage".
func schemaName(t reflect.Type) string {
	name := t.Name()
	if i := strings.Index(name, "["); i >= 0 {
		// A generic page[...]: the page of its item type.
		return schemaName(t.Field(0).Type.Elem()) + "Page"
	}
	return strings.TrimSuffix(name, "View")
}

// schema is a JSON Schema, as much of it as the comparison needs.
type schema struct {
	Type       any                `json:"type,omitempty"` // a string, or [type, "null"]
	Format     string             `json:"format,omitempty"`
	Ref        string             `json:"$ref,omitempty"`
	Items      *schema            `json:"items,omitempty"`
	Properties map[string]*schema `json:"properties,omitempty"`
	Required   []string           `json:"required,omitempty"`
}

// derive returns the schema of t, adding the schemas of the named struct
// types it uses to defs.
func derive(t reflect.Type, defs map[string]*schema) *schema {
	switch {
	case t == timeType:
		return &schema{Type: "string", Format: "date-time"}
	case t == rawType:
		return &schema{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return derive(t.Elem(), defs)
	case reflect.String:
		return &schema{Type: "string"}
	case reflect.Bool:
		return &schema{Type: "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return &schema{Type: "integer"}
	case reflect.Slice:
		return &schema{Type: "array", Items: derive(t.Elem(), defs)}
	case reflect.Struct:
		name := schemaName(t)
		if prev, ok := schemaTypes.LoadOrStore(name, t); ok && prev != t {
			panic("two types have the schema name " + name + ": " + t.String() + " and " + prev.(reflect.Type).String())
		}
		if _, ok := defs[name]; !ok {
			defs[name] = nil // being derived
			defs[name] = deriveObject(t, defs)
		}
		return &schema{Ref: "#/components/schemas/" + name}
	}
	panic("no schema for " + t.String())
}

func deriveObject(t reflect.Type, defs map[string]*schema) *schema {
	s := &schema{Type: "object", Properties: map[string]*schema{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		s.Properties[name] = derive(f.Type, defs)
		if !strings.Contains(opts, "omitempty") {
			s.Required = append(s.Required, name)
		}
	}
	return s
}
