package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"pier/admin"
	"pier/config"
)

// TestDefenderScreensTheAPI: wrong tokens and sessions count against
// their source like wrong passwords; once the source is banned, every
// request from it is refused — a good token too — until an
// administrator lifts the ban from the command line.
func TestDefenderScreensTheAPI(t *testing.T) {
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "embedded", true: "postgres"}[prod], func(t *testing.T) { testDefender(t, prod) })
	}
}

func testDefender(t *testing.T, prod bool) {
	e := newEnv(t, prod, func(c *config.Config) {
		c.Defender.Enabled = true
		c.Defender.Delay, c.Defender.MaxDelay = time.Millisecond, time.Millisecond
	})
	garbage := []map[string]string{
		{"Authorization": "Bearer pier_1_" + strings.Repeat("A", 43)},
		{"Authorization": "Bearer " + e.tokens["revoked"]},
		{"Cookie": "pier_session=" + strings.Repeat("B", 32)},
	}
	banned := -1
	for i := range 40 {
		a := e.send(t, req{method: "GET", path: "/session", header: garbage[i%len(garbage)]})
		if a.status == http.StatusForbidden && a.errorCode() == "source-refused" {
			banned = i
			break
		}
		if a.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, a.status, a.body)
		}
	}
	if banned < 0 || banned > 16 {
		t.Fatalf("banned after %d wrong credentials, want at most 16", banned)
	}
	t.Logf("127.0.0.1 banned after %d wrong credentials", banned)
	for _, r := range []req{{method: "GET", path: "/session"}, {method: "GET", path: "/users"}, {method: "GET", path: "/nope"}} {
		if a := e.as(t, "root", r); a.status != http.StatusForbidden || a.errorCode() != "source-refused" {
			t.Fatalf("%s %s from a banned source with a good token: %d %s", r.method, r.path, a.status, a.body)
		}
	}
	login := fmt.Sprintf(`{"login":"root","password":%q}`, e.passwords["root"])
	if a := e.send(t, req{method: "POST", path: "/session", body: login}); a.status != http.StatusForbidden {
		t.Fatalf("login from a banned source: %d %s", a.status, a.body)
	}
	// The command line is the way back in.
	if err := e.n.Admin.Unban(t.Context(), admin.CLI("cli:test"), "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if a := e.as(t, "root", req{method: "GET", path: "/session"}); a.status != http.StatusOK {
		t.Fatalf("after the unban: %d %s", a.status, a.body)
	}
}
