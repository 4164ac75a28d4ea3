package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder keeps what Settle reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestSettle(t *testing.T) {
	g := Running()
	stop := make(chan struct{})
	go leaky(stop)
	r := &recorder{TB: t}
	g.Settle(r, 100*time.Millisecond)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "testenv.leaky") {
		t.Fatalf("a blocked goroutine went unreported: %q", r.errs)
	}
	close(stop)
	r.errs = nil
	g.Settle(r, 2*time.Second)
	if len(r.errs) != 0 {
		t.Fatalf("an ended goroutine reported: %q", r.errs)
	}
}

func leaky(stop chan struct{}) { <-stop }
