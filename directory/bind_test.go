package directory_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"pier/auth"
	"pier/authz"
	"pier/credential"
	"pier/directory"
	"pier/identity"
	"pier/internal/testenv"
)

// TestBindAuth: a directory user logs in with the directory password, on
// SQLite and on PostgreSQL, through the auth service as every front end
// does; a wrong password, an unknown login, a hostile login, an entry
// that is not the one the sync recorded, and a disabled entry are all
// refused alike; pier's own users keep pier's passwords; a directory
// that does not answer is an error, never a login.
func TestBindAuth(t *testing.T) {
	s := testenv.StartSlapd(t)
	seed(t, s)
	s.LDIF(t, "dn: "+dnOf("dis", acmeOU)+"\nchangetype: modify\nadd: userPassword\nuserPassword: "+password("dis")+"\n")
	for _, b := range []struct {
		name string
		prod bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(b.name, func(t *testing.T) { testBindAuth(t, s, newPier(t, b.prod)) })
	}
	// Down: an error, not a refusal that looks like a wrong password.
	p := newPier(t, false)
	ctx := context.Background()
	if _, err := directory.New(config(s), p.ids, p.db, quiet).Sync(ctx, directory.Options{}); err != nil {
		t.Fatal(err)
	}
	s.Kill(t)
	a := directory.NewAuthenticator(config(s))
	if ok, err := a.CheckPassword(ctx, p.user(t, "h01"), password("h01")); ok || !errors.Is(err, directory.ErrUnavailable) {
		t.Fatalf("directory down: %v, %v", ok, err)
	}
}

func testBindAuth(t *testing.T, s *testenv.Slapd, p pier) {
	ctx := context.Background()
	if _, err := directory.New(config(s), p.ids, p.db, quiet).Sync(ctx, directory.Options{}); err != nil {
		t.Fatal(err)
	}
	a := directory.NewAuthenticator(config(s))
	check := func(u identity.User, pw string) bool {
		t.Helper()
		ok, err := a.CheckPassword(ctx, u, pw)
		if err != nil {
			t.Fatalf("%s: %v", u.Login, err)
		}
		return ok
	}
	h01 := p.user(t, "h01")
	if !check(h01, password("h01")) || !check(p.user(t, "k+l"), password("k+l")) || !check(p.user(t, "obrien"), password("obrien")) {
		t.Fatal("a directory user's password was refused")
	}
	hostile := func(login string) identity.User {
		u := h01
		u.Login = login
		return u
	}
	for name, accepted := range map[string]bool{
		"wrong password":    check(h01, password("h02")),
		"empty password":    check(h01, ""),
		"other's password":  check(p.user(t, "h02"), password("h01")),
		"disabled entry":    check(p.user(t, "dis"), password("dis")),
		"login *":           check(hostile("*"), password("h01")),
		"login h0*":         check(hostile("h0*"), password("h01")),
		"filter injection":  check(hostile("h01)(uid=*"), password("h01")),
		"unknown login":     check(hostile("nobody"), password("h01")),
		"another entry":     check(hostile("h02"), password("h02")), // h02's entry is not the one recorded
		"not managed":       check(p.user(t, "handmade"), password("h01")),
		"nul in the login":  check(hostile("h01\x00"), password("h01")),
		"right entry, case": !check(hostile("H01"), password("h01")),
	} {
		if accepted {
			t.Errorf("%s: accepted", name) // or, for the right entry, refused
		}
	}

	// Through the auth service, as the front ends log in.
	hasher, err := credential.NewHasher(credential.DefaultParams(), 0)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "a long enough passphrase for the hand-made user")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ids.UpdateUser(ctx, "handmade", func(u *identity.User) error { u.PasswordHash = hash; return nil }); err != nil {
		t.Fatal(err)
	}
	svc := auth.New(p.ids, hasher, quiet).WithPasswordChecker(a)
	try := func(login, pw string) bool {
		t.Helper()
		_, ok, err := svc.Password(ctx, auth.Attempt{Login: login, Protocol: authz.WebDAV, From: netip.MustParseAddr("192.0.2.1")}, pw)
		if err != nil {
			t.Fatalf("%s: %v", login, err)
		}
		return ok
	}
	if !try("h01", password("h01")) || !try("handmade", "a long enough passphrase for the hand-made user") {
		t.Error("the auth service refused a right password")
	}
	if try("h01", password("h02")) || try("nobody", password("h01")) || try("dis", password("dis")) || try("a05", "") {
		t.Error("the auth service accepted a wrong password")
	}
	// Suspended in pier, a directory user may not log in whatever the
	// directory says.
	if _, err := p.ids.SetStatus(ctx, "h01", authz.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if try("h01", password("h01")) {
		t.Error("a suspended directory user logged in")
	}
}
