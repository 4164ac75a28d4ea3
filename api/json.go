package api

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a JSON body: the API's bodies are flat.
const maxDepth = 8

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(body)
}

// readBody reads a request body up to the API's limit, with the content
// type it must have.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, want string) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return nil, &badRequest{status: http.StatusUnsupportedMediaType, code: "content-type",
			msg: fmt.Sprintf("the body must be %s", want)}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &badRequest{status: http.StatusRequestEntityTooLarge, code: "too-large",
			msg: fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxBody)}
	} else if err != nil {
		return nil, bad("", "the body could not be read")
	}
	return b, nil
}

// decode reads a JSON body into v strictly: the right content type, no
// unknown field, no key twice, no deep nesting, one value only.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := s.readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return bad("", "the body is not valid UTF-8")
	}
	if err := checkShape(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return bad(te.Field, "%s: want a JSON %s", te.Field, te.Type)
		}
		return bad("", "the body is not a valid request: %s", clip(err.Error()))
	}
	if dec.More() {
		return bad("", "the body holds more than one JSON value")
	}
	return nil
}

// checkShape walks a JSON text's tokens, refusing keys given twice in one
// object (which encoding/json would silently take the last of) and
// nesting deeper than maxDepth.
func checkShape(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool   // the next token of an object is a key
		last   string // the last key read
	}
	var stack []*frame
	for first := true; ; first = false {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return bad("", "the body is not valid JSON: %s", clip(err.Error()))
		}
		if first && tok != json.Delim('{') {
			return bad("", "the body must be a JSON object")
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.object {
				if top.key {
					k, _ := tok.(string)
					if top.keys[k] {
						return bad(k, "%q appears twice", clip(k))
					}
					if !plainText(k, false) {
						return bad("", "a key holds control characters")
					}
					top.keys[k], top.key, top.last = true, false, k
					continue
				}
				top.key = true
			}
		}
		if str, ok := tok.(string); ok && !plainText(str, true) {
			field := ""
			for i := len(stack) - 1; i >= 0 && field == ""; i-- {
				field = stack[i].last
			}
			return bad(field, "%s holds control characters", cmp.Or(field, "the body"))
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxDepth {
				return bad("", "the body nests deeper than %d levels", maxDepth)
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), keys: map[string]bool{}, key: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// plainText reports whether s is text without control characters (NUL
// among them, which no database keeps); lines may allow tabs and line
// breaks (an authorized_keys text, a description).
func plainText(s string, lines bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		switch {
		case lines && (c == '\t' || c == '\n' || c == '\r'):
		case c < 0x20, c == 0x7f:
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// limitParam reads ?limit=, 1 to 1000, def when absent.
func limitParam(r *http.Request, def int) (int, error) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return def, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 1000 {
		return 0, bad("limit", "limit must be 1 to 1000")
	}
	return n, nil
}

// page is one page of a list: the items and the cursor of the next page
// ("" when this is the last).
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// paginate cuts a list, ordered by key, into the page a request asks for
// (?cursor=…&limit=N, default and maximum 1,000).
func paginate[T any](r *http.Request, items []T, key func(T) string) (page[T], error) {
	limit, err := limitParam(r, 1000)
	if err != nil {
		return page[T]{}, err
	}
	after := ""
	if c := r.URL.Query().Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(b) == 0 || len(b) > 1024 {
			return page[T]{}, bad("cursor", "not a cursor this API gave")
		}
		after = string(b)
	}
	start := 0
	if after != "" {
		for start < len(items) && key(items[start]) <= after {
			start++
		}
	}
	end := min(start+limit, len(items))
	p := page[T]{Items: items[start:end]}
	if p.Items == nil {
		p.Items = []T{}
	}
	if end < len(items) {
		p.Next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	return p, nil
}
