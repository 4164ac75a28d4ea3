package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"pier/sessions"
)

// TestSessionsOfOtherNodes: the API lists the sessions of every node and
// ends one held by another node, within the same scope rules as this
// node's.
func TestSessionsOfOtherNodes(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		other := sessions.New() // another node, on the same database
		shared := sessions.NewShared(other, e.n.DB, slog.New(slog.DiscardHandler))
		ended := make(chan string, 1)
		id, done := other.Add(sessions.Session{Login: "bob", Org: "globex", Protocol: "sftp", From: "192.0.2.9",
			Started: time.Now().Add(-time.Hour)}, func(why string) { ended <- why })
		defer done()
		go shared.Run(ctx)
		f := newFlow(t, e)
		var live struct{ Items []sessions.Session }
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) { // the other node's first write
			f.ok(req{method: "GET", path: "/sessions"}, "root").decode(t, &live)
			if slices.ContainsFunc(live.Items, func(s sessions.Session) bool { return s.ID == id }) {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("the other node's session is not listed: %+v", live.Items)
			}
		}
		if live.Items[0].ID != id {
			t.Errorf("sessions not oldest first: %+v", live.Items)
		}
		f.ok(req{method: "GET", path: "/sessions"}, "acmeadm").decode(t, &live)
		if slices.ContainsFunc(live.Items, func(s sessions.Session) bool { return s.ID == id }) {
			t.Fatalf("acme's administrator sees a globex session: %+v", live.Items)
		}
		f.refused(req{method: "DELETE", path: "/sessions/" + id}, "acmeadm", http.StatusNotFound, "not-found")
		f.refused(req{method: "DELETE", path: "/sessions/" + id}, "aud", http.StatusForbidden, "forbidden")
		f.ok(req{method: "DELETE", path: "/sessions/" + id}, "root")
		select {
		case why := <-ended:
			if why != "ended by root" {
				t.Fatalf("ended with %q", why)
			}
		default:
			t.Fatal("DELETE answered before the other node ended the session")
		}
	})
}
