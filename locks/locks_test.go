package locks_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"pier/db"
	"pier/internal/testenv"
	"pier/locks"
	"pier/vpath"
)

func backends(t *testing.T, fn func(t *testing.T, s *locks.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "pier.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		fn(t, locks.New(d))
	})
	t.Run("postgres", func(t *testing.T) { fn(t, locks.New(testenv.Postgres(t))) })
}

func TestLocks(t *testing.T) {
	backends(t, func(t *testing.T, s *locks.Store) {
		ctx := context.Background()
		now := time.Now()
		etag := func(name string) string { return `"v1"` }
		anna, bert := s.ForRequest(ctx, "anna", etag), s.ForRequest(ctx, "bert", etag)
		dirTok, err := anna.Create(now, webdav.LockDetails{Root: "/acme/docs", Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		// An infinite-depth lock covers everything below.
		for _, name := range []string{"/acme/docs", "/acme/docs/a.txt", "/acme/docs/sub/b.txt"} {
			if _, err := bert.Create(now, webdav.LockDetails{Root: name, Duration: time.Minute, ZeroDepth: true}); !errors.Is(err, webdav.ErrLocked) {
				t.Errorf("bert locks %s under anna's lock: %v", name, err)
			}
		}
		if _, err := bert.Create(now, webdav.LockDetails{Root: "/acme", Duration: time.Minute}); !errors.Is(err, webdav.ErrLocked) {
			t.Errorf("infinite lock above a locked folder: %v", err)
		}
		if _, err := bert.Create(now, webdav.LockDetails{Root: "/acme/docs2", Duration: time.Minute, ZeroDepth: true}); err != nil {
			t.Errorf("a sibling with a common prefix is not locked: %v", err)
		}
		// The probe lock of a request without tokens sees the lock.
		if _, err := anna.Create(now, webdav.LockDetails{Root: "/acme/docs/a.txt", Duration: -1, ZeroDepth: true}); !errors.Is(err, webdav.ErrLocked) {
			t.Errorf("probe without token passed: %v", err)
		}
		// Only the owner can use, refresh or remove the token.
		if _, err := anna.Confirm(now, "/acme/docs/a.txt", "", webdav.Condition{Token: dirTok}); err != nil {
			t.Errorf("owner confirm: %v", err)
		}
		if _, err := bert.Confirm(now, "/acme/docs/a.txt", "", webdav.Condition{Token: dirTok}); !errors.Is(err, webdav.ErrConfirmationFailed) {
			t.Errorf("bert used anna's token: %v", err)
		}
		if _, err := anna.Confirm(now, "/acme/other", "", webdav.Condition{Token: dirTok}); !errors.Is(err, webdav.ErrConfirmationFailed) {
			t.Errorf("token confirmed for a path it does not cover: %v", err)
		}
		// Every condition of a list must hold (litmus fail_complex_cond_put).
		if _, err := anna.Confirm(now, "/acme/docs/a.txt", "", webdav.Condition{Token: dirTok}, webdav.Condition{ETag: `"bogus"`}); !errors.Is(err, webdav.ErrConfirmationFailed) {
			t.Errorf("token with a wrong ETag confirmed: %v", err)
		}
		if _, err := anna.Confirm(now, "/acme/docs/a.txt", "", webdav.Condition{Token: dirTok}, webdav.Condition{ETag: `"v1"`}); err != nil {
			t.Errorf("token with the right ETag: %v", err)
		}
		if _, err := anna.Confirm(now, "/acme/docs/a.txt", "", webdav.Condition{Not: true, Token: "DAV:no-lock"}, webdav.Condition{ETag: `"v1"`}); !errors.Is(err, webdav.ErrConfirmationFailed) {
			t.Errorf("a locked resource confirmed without its token: %v", err)
		}
		if _, err := bert.Confirm(now, "/free/x", "", webdav.Condition{Not: true, Token: "DAV:no-lock"}, webdav.Condition{ETag: `"v1"`}); err != nil {
			t.Errorf("an unlocked resource with matching conditions: %v", err)
		}
		if err := bert.Unlock(now, dirTok); !errors.Is(err, webdav.ErrForbidden) {
			t.Errorf("bert unlocked anna's lock: %v", err)
		}
		if _, err := bert.Refresh(now, dirTok, time.Hour); !errors.Is(err, webdav.ErrNoSuchLock) {
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
		if blocked("bert", "/acme", false) || !blocked("bert", "/acme", true) {
			t.Error("Blocked: a lock below /acme blocks changes of /acme as a whole only")
		}
		// Expiry and unlock.
		if _, err := anna.Refresh(now, dirTok, time.Second); err != nil {
			t.Fatal(err)
		}
		later := now.Add(2 * time.Second)
		if _, err := bert.Create(later, webdav.LockDetails{Root: "/acme/docs", Duration: time.Minute}); err != nil {
			t.Errorf("lock after expiry: %v", err)
		}
		if err := anna.Unlock(later, dirTok); !errors.Is(err, webdav.ErrNoSuchLock) {
			t.Errorf("unlock of an expired lock: %v", err)
		}
	})
}
