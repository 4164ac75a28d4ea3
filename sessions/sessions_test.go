package sessions

import (
	"sync"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New()
	var mu sync.Mutex
	ended := map[string]string{}
	end := func(login string) func(string) {
		return func(why string) { mu.Lock(); ended[login] += why; mu.Unlock() }
	}
	a, doneA := r.Add(Session{Login: "anna", Protocol: "sftp", From: "192.0.2.1"}, end("anna"))
	b, doneB := r.Add(Session{Login: "bob", Protocol: "sftp"}, end("bob"))
	_, doneC := r.Add(Session{Login: "anna", Protocol: "webdav"}, end("anna2"))
	if a == b || a == "" {
		t.Fatalf("IDs %q %q", a, b)
	}
	if l := r.List(nil); len(l) != 3 || l[0].ID != a {
		t.Fatalf("list %+v", l)
	}
	if l := r.List(func(s Session) bool { return s.Login == "bob" }); len(l) != 1 || l[0].ID != b {
		t.Fatalf("filtered %+v", l)
	}
	if err := r.End(b, "x"); err != nil || ended["bob"] != "x" {
		t.Fatalf("end: %v %v", err, ended)
	}
	r.End(b, "again") // once only
	if ended["bob"] != "x" {
		t.Fatalf("ended twice: %v", ended)
	}
	doneB()
	if _, err := r.Get(b); err != ErrNotFound {
		t.Fatalf("a finished session is still there: %v", err)
	}
	if err := r.End("nope", "x"); err != ErrNotFound {
		t.Fatalf("end of nothing: %v", err)
	}
	if n := r.EndUser("anna", "suspended"); n != 2 || ended["anna"] != "suspended" || ended["anna2"] != "suspended" {
		t.Fatalf("EndUser: %d %v", n, ended)
	}
	doneA()
	doneC()
	if l := r.List(nil); len(l) != 0 {
		t.Fatalf("left: %+v", l)
	}
	var nilReg *Registry
	if _, done := nilReg.Add(Session{}, nil); done == nil || len(nilReg.List(nil)) != 0 {
		t.Fatal("a nil registry must be usable")
	}
}
