package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecode: any body is either refused with a 4xx error naming the
// problem, or was one valid JSON object of the request's shape — never a
// panic, never half-decoded garbage.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{`{}`, `{"login":"a","org":"b"}`, `{"a":1,"a":2}`, `[[[[[[[[[[]]]]]]]]]]`, `{"login":"\u0000"}`,
		`{"keys":"ssh-ed25519 AAAA\nline"}`, `{"login":1}`, `{} {}`, "{\"login\":\"\xff\"}", `{"pending":true,"cidrs":"10.0.0.0/8"}`} {
		f.Add(seed)
	}
	s := New(DefaultConfig(), nil, nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.cfg.MaxBody = 4096
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/users", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var in UserCreate
		err := s.decode(httptest.NewRecorder(), r, &in)
		if err != nil {
			be, ok := err.(*badRequest)
			if !ok || be.status < 400 || be.status > 499 || be.msg == "" {
				t.Fatalf("%q: error %v is no 4xx refusal", body, err)
			}
			return
		}
		if len(body) > 4096 || !json.Valid([]byte(body)) || !strings.HasPrefix(strings.TrimSpace(body), "{") {
			t.Fatalf("%q accepted", body)
		}
		if strings.ContainsRune(in.Login+in.Org+in.Name+in.Email+in.Password, 0) {
			t.Fatalf("%q: a NUL got through", body)
		}
	})
}

func TestDecodeRefusesNonObjects(t *testing.T) {
	s := New(DefaultConfig(), nil, nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, body := range []string{``, `null`, `[]`, `"x"`, `1`, `true`, ` `, `{"login":"a"} x`} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/users", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var in UserCreate
		if err := s.decode(httptest.NewRecorder(), r, &in); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}
