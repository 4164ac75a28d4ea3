package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Goroutines is the set of goroutines running at one moment.
type Goroutines map[string]bool

// goroutine is one entry of a full stack dump.
type goroutine struct {
	id    string // "goroutine 17"
	stack string
}

// Running records the goroutines running now.
func Running() Goroutines {
	g := Goroutines{}
	for _, r := range dump() {
		g[r.id] = true
	}
	return g
}

// NoLeaks fails t if goroutines started during the test are still running
// when it ends, after the cleanups registered later (servers, databases)
// have run. Call it first in the test. Tests that use it must not run in
// parallel: another test's goroutines would count as leaked.
func NoLeaks(t testing.TB) {
	t.Helper()
	g := Running()
	t.Cleanup(func() { g.Settle(t, 5*time.Second) })
}

// Settle waits up to within for every goroutine started since g was
// recorded to end, other than long-lived ones that are no leak (see
// lingering), and fails t with the stacks of those still running.
func (g Goroutines) Settle(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		left := g.since()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, r := range left {
				b.WriteString("\n\n")
				b.WriteString(r.stack)
			}
			t.Errorf("%d goroutines still running %v after they should have ended:%s", len(left), within, b.String())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// since lists the goroutines running now that g does not hold.
func (g Goroutines) since() []goroutine {
	var out []goroutine
	for _, r := range dump() {
		if !g[r.id] && !lingering(r.stack) {
			out = append(out, r)
		}
	}
	return out
}

// lingering reports goroutines that outlive the work that started them by
// design: an HTTP client's idle keep-alive connections (a connection
// that still carries a response body waits elsewhere in readLoop, and
// counts), the signal handler's loop, and the test runner's own.
func lingering(stack string) bool {
	frames, _, _ := strings.Cut(stack, "\ncreated by ")
	switch {
	case strings.Contains(frames, "net/http.(*persistConn).readLoop"):
		return strings.Contains(frames, "bufio.(*Reader).Peek")
	case strings.Contains(frames, "net/http.(*persistConn).writeLoop"),
		strings.Contains(frames, "os/signal.signal_recv"),
		strings.Contains(frames, "testing.tRunner"),
		strings.Contains(frames, "testing.(*T).Run"):
		return true
	}
	return false
}

// dump parses a full stack dump, leaving out the calling goroutine.
func dump() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for i, block := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller
		}
		header, _, _ := strings.Cut(block, "\n")
		id, _, ok := strings.Cut(header, " [")
		if !ok || !strings.HasPrefix(id, "goroutine ") {
			panic(fmt.Sprintf("testenv: unexpected stack dump header %q", header))
		}
		out = append(out, goroutine{id: id, stack: block})
	}
	return out
}
