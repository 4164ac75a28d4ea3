package sessions

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"pier/db"
	"pier/internal/testenv"
)

// TestShared: two nodes over one database see each other's sessions and
// end them; a node that stops leaves, one that goes silent drops out of
// the list.
func TestShared(t *testing.T) {
	testenv.Databases(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		ra, rb := New(), New()
		a, b := NewShared(ra, d, log), NewShared(rb, d, log)
		ended := make(chan string, 4)
		id, done := rb.Add(Session{Login: "bob", Org: "globex", Protocol: "sftp", From: "192.0.2.7", Detail: "PUT /globex/x.edi"},
			func(why string) { ended <- why })
		ra.Add(Session{Login: "anna", Org: "hq", Protocol: "webdav"}, func(string) {})
		if err := b.Publish(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Publish(ctx); err != nil {
			t.Fatal(err)
		}
		others, err := a.Others(ctx, nil)
		if err != nil || len(others) != 1 || others[0].ID != id || others[0].Login != "bob" || others[0].Detail != "PUT /globex/x.edi" {
			t.Fatalf("a sees %+v, %v", others, err)
		}
		if l, _ := a.Others(ctx, func(s Session) bool { return s.Org == "hq" }); len(l) != 0 {
			t.Fatalf("filtered: %+v", l)
		}
		if _, err := a.Find(ctx, "nosuchnode-1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("find of nothing: %v", err)
		}
		// a asks; b takes the request at its next poll.
		runCtx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); b.Run(runCtx) }()
		start := time.Now()
		if err := a.End(ctx, id, "ended by root"); err != nil {
			t.Fatal(err)
		}
		if why := <-ended; why != "ended by root" {
			t.Fatalf("ended with %q", why)
		}
		t.Logf("another node's session ended in %v", time.Since(start))
		done()
		// b stops: it leaves, its sessions with it.
		stop()
		<-stopped
		if l, _ := a.Others(ctx, nil); len(l) != 0 {
			t.Fatalf("a node that stopped is still listed: %+v", l)
		}
		// A node that goes silent (a crash) drops out after Stale, and
		// a request to end its session says so after 5 s... unless the
		// session is not found first.
		rb.Add(Session{Login: "bob", Org: "globex", Protocol: "sftp"}, func(string) {})
		if err := b.Publish(ctx); err != nil {
			t.Fatal(err)
		}
		if l, _ := a.Others(ctx, nil); len(l) != 1 {
			t.Fatalf("b's new session: %+v", l)
		}
		a.now = func() time.Time { return time.Now().Add(Stale + time.Second) }
		if l, _ := a.Others(ctx, nil); len(l) != 0 {
			t.Fatalf("a silent node's sessions are listed: %+v", l)
		}
		a.now = time.Now
		if err := a.End(ctx, l0(t, a).ID, "ended by root"); !errors.Is(err, ErrNodeSilent) {
			t.Fatalf("end on a silent node: %v", err)
		}
		if err := a.End(ctx, ra.Node()+"-1", "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a's own session through Shared: %v", err)
		}
	})
}

// l0 returns the first session of the other nodes.
func l0(t *testing.T, s *Shared) Session {
	t.Helper()
	l, err := s.Others(context.Background(), nil)
	if err != nil || len(l) == 0 {
		t.Fatalf("others: %+v, %v", l, err)
	}
	return l[0]
}
