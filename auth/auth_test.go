package auth

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"pier/authz"
	"pier/credential"
	"pier/db"
	"pier/identity"
	"pier/internal/testenv"
)

const (
	password    = "a long enough passphrase for anna"
	fingerprint = "SHA256:anna-test-key"
)

// env is a Service over a store with one user, anna, who may log in over
// SFTP from 192.0.2.0/24 with a password or a key; log collects its lines.
type env struct {
	d   *db.DB
	svc *Service
	log *bytes.Buffer
}

// backends runs fn against SQLite and PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, e *env)) {
	testenv.Databases(t, func(t *testing.T, d *db.DB) { fn(t, newEnv(t, d)) })
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	ctx := t.Context()
	hasher, err := credential.NewHasher(credential.DefaultParams(), 2)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(d)
	if _, err := ids.AddOrg(ctx, identity.Org{Slug: "hq", Kind: identity.Internal}); err != nil {
		t.Fatal(err)
	}
	cidrs, _ := identity.ParseCIDRs("192.0.2.0/24")
	if _, err := ids.AddUser(ctx, identity.User{Login: "anna", Org: "hq", PasswordHash: hash,
		CIDRs: cidrs, Protocols: []authz.Protocol{authz.SFTP}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.AddKey(ctx, "anna", identity.Key{Fingerprint: fingerprint, Type: "ssh-ed25519", PublicKey: "ssh-ed25519 AAAA"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	return &env{d: d, svc: New(ids, hasher, slog.New(slog.NewTextHandler(&buf, nil))), log: &buf}
}

var fromInside = Attempt{Login: "anna", From: netip.MustParseAddr("192.0.2.7"), Protocol: authz.SFTP}

// logins tries a password and a key and reports whether each was accepted.
func (e *env) logins(t *testing.T, a Attempt) (pw, key bool) {
	t.Helper()
	_, pw, err := e.svc.Password(t.Context(), a, password)
	if err != nil {
		t.Fatalf("Password: %v", err)
	}
	_, key, err = e.svc.PublicKey(t.Context(), a, fingerprint)
	if err != nil {
		t.Fatalf("PublicKey: %v", err)
	}
	return pw, key
}

// TestUnreadableRestrictionRefusesLogin: a network or protocol restriction
// damaged in the database refuses the account instead of meaning "any".
func TestUnreadableRestrictionRefusesLogin(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		if pw, key := e.logins(t, fromInside); !pw || !key {
			t.Fatalf("intact account: password %v, key %v; want both accepted", pw, key)
		}
		for _, c := range []struct{ column, value, reason string }{
			{"cidrs", "192.0.2.0/33", "stored network restriction is unreadable"},
			{"cidrs", "192.0.2.0/24,not-a-network", "stored network restriction is unreadable"},
			{"protocols", "sftp,gopher", "stored protocol restriction is unreadable"},
		} {
			restore := damage(t, e.d, c.column, c.value)
			e.log.Reset()
			outside := fromInside
			outside.From = netip.MustParseAddr("203.0.113.9")
			for _, a := range []Attempt{fromInside, outside} {
				if pw, key := e.logins(t, a); pw || key {
					t.Errorf("%s = %q, from %s: password %v, key %v; want both refused", c.column, c.value, a.From, pw, key)
				}
			}
			if n := strings.Count(e.log.String(), c.reason); n != 4 {
				t.Errorf("%s = %q: the log gives %q %d times, want 4:\n%s", c.column, c.value, c.reason, n, e.log)
			}
			restore()
		}
		if pw, key := e.logins(t, fromInside); !pw || !key {
			t.Fatalf("repaired account: password %v, key %v; want both accepted", pw, key)
		}
	})
}

// damage writes value into anna's column directly, as a faulty migration or
// a manual edit might, and returns a func that puts the intact value back.
func damage(t *testing.T, d *db.DB, column, value string) func() {
	t.Helper()
	var old string
	if err := d.QueryRow(t.Context(), "SELECT "+column+" FROM users WHERE login = 'anna'").Scan(&old); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(t.Context(), "UPDATE users SET "+column+" = ? WHERE login = 'anna'", value); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := d.Exec(t.Context(), "UPDATE users SET "+column+" = ? WHERE login = 'anna'", old); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLogBoundsLogin: the login a client sends reaches the log bounded and
// with its control and invisible characters escaped.
func TestLogBoundsLogin(t *testing.T) {
	d := testenv.SQLite(t)
	e := newEnv(t, d)
	for _, login := range []string{
		strings.Repeat("x", 100_000),
		"anna\nlevel=INFO msg=login login=admin",
		"adm\u202enni\u200b\x1b[2J\x00",
	} {
		e.log.Reset()
		a := fromInside
		a.Login = login
		if _, ok, err := e.svc.Password(t.Context(), a, password); ok || err != nil {
			t.Fatalf("Password(%.20q) = %v, %v; want refused", login, ok, err)
		}
		if _, ok, err := e.svc.PublicKey(t.Context(), a, fingerprint); ok || err != nil {
			t.Fatalf("PublicKey(%.20q) = %v, %v; want refused", login, ok, err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(e.log.String(), "\n"), "\n") {
			if len(line) > 400 || !strings.Contains(line, "login refused") || strings.ContainsAny(line, "\x00\x1b\u202e\u200b") {
				t.Errorf("log line for login %.20q: %.500q", login, line)
			}
		}
		if n := strings.Count(e.log.String(), "\n"); n != 2 {
			t.Errorf("login %.20q made %d log lines, want 2:\n%.1000s", login, n, e.log)
		}
	}
	if !strings.Contains(e.log.String(), `login=adm\u202enni\u200b\x1b[2J\x00 `) {
		t.Errorf("escaped login not in the log:\n%s", e.log)
	}
}

// TestDummyHashSurvivesCanceledFirstRequest: the first unknown login whose
// request was already canceled must not leave burn without its dummy hash,
// or every later unknown login would answer fast and tell.
func TestDummyHashSurvivesCanceledFirstRequest(t *testing.T) {
	d := testenv.SQLite(t)
	e := newEnv(t, d)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	e.svc.burn(canceled, "whatever the client sent")
	if e.svc.dummyHash(t.Context()) == "" {
		t.Fatal("no dummy hash after a canceled first request")
	}
	// Loosely: an unknown login costs about what a wrong password does
	// (one argon2id verification each), far more than a lookup alone.
	fastest := func(a Attempt) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			if _, ok, err := e.svc.Password(t.Context(), a, "not the password at all"); ok || err != nil {
				t.Fatalf("Password(%s) = %v, %v", a.Login, ok, err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	unknown := fromInside
	unknown.Login = "nobody"
	wrong, none := fastest(fromInside), fastest(unknown)
	t.Logf("wrong password %v, unknown login %v", wrong, none)
	if none < wrong/3 {
		t.Errorf("unknown login answers in %v, a wrong password in %v: timing tells them apart", none, wrong)
	}
}
