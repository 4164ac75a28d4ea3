package directory

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pier/db"
	"pier/identity"
)

// TestLease: one sync at a time across nodes, and the scheduled sync of
// a cluster runs once per interval whichever node takes it, failed or
// not; a lease whose holder died lapses.
func TestLease(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "pier.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := Default()
	cfg.URL, cfg.BaseDN, cfg.Timeout = "ldap://127.0.0.1:1", "dc=example,dc=test", time.Second
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, b := New(cfg, identity.New(d), d, log), New(cfg, identity.New(d), d, log)
	if ok, err := a.acquire(ctx, 0); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, err := b.acquire(ctx, 0); ok || err != nil {
		t.Fatalf("b took a held lease: %v %v", ok, err)
	}
	if _, err := b.Sync(ctx, Options{}); err != ErrBusy {
		t.Fatalf("b synced while a held the lease: %v", err)
	}
	if _, err := a.Sync(ctx, Options{}); err == nil { // fails: nothing listens; releases
		t.Fatal("a sync against a closed port succeeded")
	}
	var holder, result string
	var last int64
	if err := d.QueryRow(ctx, "SELECT holder, last_run_at, last_result FROM directory_sync WHERE name = 'ldap'").Scan(&holder, &last, &result); err != nil {
		t.Fatal(err)
	}
	if holder != "" || last == 0 || !strings.HasPrefix(result, "failed: directory unavailable") {
		t.Fatalf("after a failed sync: holder %q, last run %d, result %q", holder, last, result)
	}
	// Scheduled: b does not run again within the interval after a's run.
	if ok, _ := b.acquire(ctx, time.Hour); ok {
		t.Fatal("b's scheduled sync ran again within the interval")
	}
	b.now = func() time.Time { return time.Now().Add(time.Hour + time.Second) }
	if ok, _ := b.acquire(ctx, time.Hour); !ok {
		t.Fatal("b's scheduled sync did not run after the interval")
	}
	// b dies holding it: a takes over once the lease lapses.
	a.now = func() time.Time { return time.Now().Add(time.Hour + leaseFor + 2*time.Second) }
	if ok, _ := a.acquire(ctx, 0); !ok {
		t.Fatal("a lapsed lease was not taken over")
	}
}
