package locks_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"pier/db"
	"pier/internal/testenv"
	"pier/locks"
	"pier/vpath"
)

func backends(t *testing.T, fn func(t *testing.T, s *locks.Store)) {
	testenv.Databases(t, func(t *testing.T, d *db.DB) { fn(t, locks.New(d)) })
}

func req(p string, zero bool, d time.Duration) locks.Request {
	return locks.Request{Root: vpath.MustParse(p), ZeroDepth: zero, Duration: d}
}

func TestLocks(t *testing.T) {
	backends(t, func(t *testing.T, s *locks.Store) {
		ctx := context.Background()
		now := time.Now()
		dir, err := s.Create(ctx, "anna", req("/acme/docs", false, time.Minute), now)
		if err != nil {
			t.Fatal(err)
		}
		if got := dir.Timeout(now); got != time.Minute {
			t.Errorf("granted %v, asked a minute", got)
		}
		// An infinite-depth lock covers everything below.
		for _, p := range []string{"/acme/docs", "/acme/docs/a.txt", "/acme/docs/sub/b.txt"} {
			if _, err := s.Create(ctx, "bert", req(p, true, time.Minute), now); !errors.Is(err, locks.ErrLocked) {
				t.Errorf("bert locks %s under anna's lock: %v", p, err)
			}
		}
		if _, err := s.Create(ctx, "bert", req("/acme", false, time.Minute), now); !errors.Is(err, locks.ErrLocked) {
			t.Errorf("infinite lock above a locked folder: %v", err)
		}
		if _, err := s.Create(ctx, "bert", req("/acme/docs2", true, time.Minute), now); err != nil {
			t.Errorf("a sibling with a common prefix is not locked: %v", err)
		}
		// Covering: what a request that changes a path must hold tokens for.
		cov, err := s.Covering(ctx, vpath.MustParse("/acme/docs/a.txt"), false, now)
		if err != nil || len(cov) != 1 || cov[0].Token != dir.Token || !cov[0].Covers(vpath.MustParse("/acme/docs/a.txt")) {
			t.Errorf("covering /acme/docs/a.txt: %+v %v", cov, err)
		}
		if cov, _ := s.Covering(ctx, vpath.MustParse("/acme"), true, now); len(cov) != 2 {
			t.Errorf("below /acme: %d locks, want 2", len(cov))
		}
		// Only the owner can refresh or release it.
		if err := s.Unlock(ctx, "bert", dir.Token, now, nil); !errors.Is(err, locks.ErrNotOwner) {
			t.Errorf("bert unlocked anna's lock: %v", err)
		}
		if _, err := s.Refresh(ctx, "bert", dir.Token, time.Hour, now); !errors.Is(err, locks.ErrNoSuchLock) {
			t.Errorf("bert refreshed anna's lock: %v", err)
		}
		// Other protocols ask Blocked.
		blocked := func(login, p string, below bool) bool {
			b, err := s.Blocked(ctx, login, vpath.MustParse(p), below)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		if !blocked("bert", "/acme/docs/a.txt", false) || blocked("anna", "/acme/docs/a.txt", false) {
			t.Error("Blocked: anna's lock must block bert only")
		}
		if blocked("carl", "/acme", false) || !blocked("carl", "/acme", true) {
			t.Error("Blocked: a lock below /acme blocks changes of /acme as a whole only")
		}
		// Expiry and unlock.
		if l, err := s.Refresh(ctx, "anna", dir.Token, time.Second, now); err != nil || l.Timeout(now) != time.Second {
			t.Fatalf("refresh: %+v %v", l, err)
		}
		later := now.Add(2 * time.Second)
		if _, err := s.Create(ctx, "bert", req("/acme/docs", false, time.Minute), later); err != nil {
			t.Errorf("lock after expiry: %v", err)
		}
		if err := s.Unlock(ctx, "anna", dir.Token, later, nil); !errors.Is(err, locks.ErrNoSuchLock) {
			t.Errorf("unlock of an expired lock: %v", err)
		}
	})
}

func TestSharedLocks(t *testing.T) {
	backends(t, func(t *testing.T, s *locks.Store) {
		ctx, now := context.Background(), time.Now()
		shared := locks.Request{Root: vpath.MustParse("/doc.odt"), Shared: true, Duration: time.Minute}
		if _, err := s.Create(ctx, "anna", shared, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, "bert", shared, now); err != nil {
			t.Errorf("a second shared lock: %v", err)
		}
		if _, err := s.Create(ctx, "carl", req("/doc.odt", true, time.Minute), now); !errors.Is(err, locks.ErrLocked) {
			t.Errorf("an exclusive lock over shared ones: %v", err)
		}
	})
}

// Nobody reserves names for long: a lock on a name that did not exist
// lives minutes, and a user holds few of them; any lock is capped.
func TestLimits(t *testing.T) {
	backends(t, func(t *testing.T, s *locks.Store) {
		ctx, now := context.Background(), time.Now()
		s = s.WithLimits(locks.Limits{MaxDuration: 24 * time.Hour, MaxPerUser: 5, ProvisionalDuration: 10 * time.Minute, MaxProvisional: 2})
		l, err := s.Create(ctx, "drop", locks.Request{Root: vpath.MustParse("/in/a.edi"), Provisional: true}, now)
		if err != nil || l.Timeout(now) != 10*time.Minute {
			t.Fatalf("provisional lock asked for infinity: %v %v", l.Timeout(now), err)
		}
		if l, err := s.Refresh(ctx, "drop", l.Token, 24*time.Hour, now); err != nil || l.Timeout(now) != 10*time.Minute {
			t.Fatalf("refreshing a provisional lock: %v %v", l.Timeout(now), err)
		}
		if _, err := s.Create(ctx, "drop", locks.Request{Root: vpath.MustParse("/in/b.edi"), Provisional: true}, now); err != nil {
			t.Fatal(err)
		}
		_, err = s.Create(ctx, "drop", locks.Request{Root: vpath.MustParse("/in/c.edi"), Provisional: true}, now)
		if !errors.Is(err, locks.ErrTooMany) || !strings.Contains(err.Error(), "do not exist yet") {
			t.Fatalf("a third provisional lock: %v", err)
		}
		// Once written, the resource's lock is an ordinary one.
		if err := s.Settle(ctx, "drop", vpath.MustParse("/in/a.edi")); err != nil {
			t.Fatal(err)
		}
		if l, err := s.Refresh(ctx, "drop", l.Token, 2*time.Hour, now); err != nil || l.Timeout(now) != 2*time.Hour || l.Provisional {
			t.Fatalf("refresh after settling: %+v %v", l, err)
		}
		if _, err := s.Create(ctx, "drop", locks.Request{Root: vpath.MustParse("/in/c.edi"), Provisional: true}, now); err != nil {
			t.Fatalf("a provisional lock after one settled: %v", err)
		}
		// Ordinary locks: capped in time and number.
		l, err = s.Create(ctx, "drop", locks.Request{Root: vpath.MustParse("/x"), Duration: 100 * time.Hour}, now)
		if err != nil || l.Timeout(now) != 24*time.Hour {
			t.Fatalf("a lock asked for 100 h: %v %v", l.Timeout(now), err)
		}
		s.Create(ctx, "drop", locks.Request{Root: vpath.MustParse("/y")}, now)
		if _, err := s.Create(ctx, "drop", locks.Request{Root: vpath.MustParse("/z")}, now); !errors.Is(err, locks.ErrTooMany) {
			t.Fatalf("a sixth lock: %v", err)
		}
	})
}

func TestParseToken(t *testing.T) {
	for in, want := range map[string]string{
		"<opaquelocktoken:abc>": "opaquelocktoken:abc",
		"opaquelocktoken:abc":   "opaquelocktoken:abc", // the npm webdav client
		" <urn:uuid:1> ":        "urn:uuid:1",
		"<>":                    "",
		"<a":                    "",
		"a>":                    "",
		"<a b>":                 "",
		"":                      "",
	} {
		got, ok := locks.ParseToken(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseToken(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"<opaquelocktoken:abc>", "opaquelocktoken:abc", "<<>>", "<a>b>", "\x00", strings.Repeat("<", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := locks.ParseToken(h)
		if !ok {
			return
		}
		if tok == "" || len(tok) > 256 || strings.ContainsAny(tok, "<> \t\r\n") {
			t.Fatalf("ParseToken(%q) accepted %q", h, tok)
		}
		if again, ok := locks.ParseToken("<" + tok + ">"); !ok || again != tok {
			t.Fatalf("token %q does not round-trip: %q %v", tok, again, ok)
		}
	})
}

// TestIdle: two nodes' stores over one database. A node says "idle" only
// when no live lock was there at its last look, at most IdleTTL ago; its
// own locks count at once, another node's once its look is that old.
func TestIdle(t *testing.T) {
	testenv.Databases(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		a, b := locks.New(d), locks.New(d)
		now := time.Now()
		if !a.Idle(ctx, now) || !b.Idle(ctx, now) {
			t.Fatal("no lock at all: not idle")
		}
		l, err := a.Create(ctx, "anna", req("/acme/docs", false, time.Minute), now)
		if err != nil {
			t.Fatal(err)
		}
		if a.Idle(ctx, now) {
			t.Fatal("the node that took a lock still says idle")
		}
		if !b.Idle(ctx, now.Add(locks.IdleTTL/2)) {
			t.Fatal("another node read again within IdleTTL")
		}
		if b.Idle(ctx, now.Add(locks.IdleTTL)) {
			t.Fatal("another node's lock unseen after IdleTTL")
		}
		if err := a.Unlock(ctx, "anna", l.Token, now, nil); err != nil {
			t.Fatal(err)
		}
		if !b.Idle(ctx, now.Add(3*locks.IdleTTL)) {
			t.Fatal("not idle after the only lock went")
		}
		if _, err := a.Create(ctx, "anna", req("/acme/x", false, time.Second), now.Add(3*locks.IdleTTL)); err != nil {
			t.Fatal(err)
		}
		if !b.Idle(ctx, now.Add(3*locks.IdleTTL+2*time.Second)) {
			t.Fatal("an expired lock counts as live")
		}
	})
}
