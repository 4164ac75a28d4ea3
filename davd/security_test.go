package davd_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"pier/auth"
	"pier/authfs"
	"pier/davd"
	"pier/db"
	"pier/defender"
	"pier/identity"
	"pier/internal/testenv"
	"pier/mfa"
	"pier/secevent"
	"pier/vpath"
)

// startSecure runs the WebDAV server with a defender of short times and
// MFA.
func startSecure(t *testing.T, prod bool, threshold int) (*env, *defender.Defender, *db.DB) {
	t.Helper()
	var def *defender.Defender
	var store *db.DB
	cfg := defender.DefaultConfig()
	cfg.Delay, cfg.MaxDelay, cfg.BanTime, cfg.MaxBanTime, cfg.CacheTTL = 10*time.Millisecond, 50*time.Millisecond, time.Hour, time.Hour, 100*time.Millisecond
	cfg.Threshold = threshold
	e := startFull(t, prod, func(c *davd.Config) { c.Revalidate = 300 * time.Millisecond }, nil,
		func(d *db.DB, log *slog.Logger) ([]auth.Option, []davd.Option, authfs.Barrier) {
			store = d
			var err error
			if def, err = defender.New(cfg, d, secevent.Log{L: log}, log); err != nil {
				t.Fatal(err)
			}
			sealer, _ := mfa.NewSealer(make([]byte, 32))
			return []auth.Option{auth.WithGuard(def), auth.WithMFA(sealer, identity.Policy{MFA: identity.MFAOff, MFAKeys: "no"})},
				[]davd.Option{davd.WithDefender(def)}, def
		})
	return e, def, store
}

// curlFrom sends a PROPFIND from a source address with curl and returns
// the status.
func (e *env) curlFrom(t *testing.T, from, user, pw string) int {
	t.Helper()
	out, err := exec.Command(testenv.Program(t, "curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", from,
		"-u", user+":"+pw, "-X", "PROPFIND", "-H", "Depth: 0", e.url+"/").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var code int
	fmt.Sscan(string(out), &code)
	return code
}

// TestBasicAuthNegative: every garbled, empty, foreign or mismatched
// credential is refused with 401 and serves nothing; a garbled header
// scores against its source like a wrong password.
func TestBasicAuthNegative(t *testing.T) {
	e, def, _ := startSecure(t, false, 1000)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, h := range []string{
		"", "Basic", "Basic ", "Basic !!!!", "Basic " + b64("anna"), "Basic " + b64(":"+password), "Basic " + b64("anna:"),
		"Basic " + b64("anna:"+password+"x"), "Basic " + b64("anna\x00:"+password), "Basic " + b64("ANNA :"+password+" "),
		"Bearer " + b64("anna:"+password), "Digest username=\"anna\", response=\"00\"",
		"AWS4-HMAC-SHA256 Credential=anna/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
		"Basic " + b64("anna:"+password) + " trailing", "Basic " + b64(strings.Repeat("a", 300)+":"+password),
		"Basic " + b64("anna:"+mfa.AppPasswordPrefix+strings.Repeat("a", 26)),
	} {
		req, _ := http.NewRequest("PROPFIND", e.url+"/acme/", nil)
		req.Header.Set("Depth", "1")
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %.60q: status %d, want 401", h, res.StatusCode)
		}
	}
	if sources, _, _ := def.Scores(context.Background(), 5); len(sources) != 1 || sources[0].Name != "127.0.0.1" || sources[0].Score < 15 {
		t.Errorf("garbled credentials left no score: %+v", sources)
	}
	r := e.do(t, "anna", "PROPFIND", "/", nil, "Depth", "0")
	expect(t, "the right credentials after all that", r, 207)
}

// TestWebDAVAttacks: a source guessing passwords is banned (403 on every
// request) while the owner from 127.0.0.2 still works; the ban ends. An
// account with TOTP logs in with an app password only, and a revoked one
// stops at the next request.
func TestWebDAVAttacks(t *testing.T) {
	backendsDAV(t, func(t *testing.T, prod bool) {
		e, def, store := startSecure(t, prod, defender.DefaultConfig().Threshold)
		codes := map[int]int{}
		for i := range 100 {
			codes[e.curlFrom(t, "127.0.0.1", "anna", fmt.Sprintf("guess %d", i))]++
		}
		t.Logf("100 wrong passwords over WebDAV from 127.0.0.1: statuses %v", codes)
		if codes[403] < 80 || codes[207] != 0 {
			t.Errorf("statuses %v: want the source banned (403) after the first few 401s", codes)
		}
		if c := e.curlFrom(t, "127.0.0.1", "anna", password); c != 403 {
			t.Errorf("banned source with the right password: %d, want 403", c)
		}
		if c := e.curlFrom(t, "127.0.0.2", "anna", password); c != 207 {
			t.Fatalf("the owner from 127.0.0.2: %d, want 207", c)
		}
		bans, _ := def.Bans(context.Background())
		if len(bans) != 1 || bans[0].Count != 1 {
			t.Fatalf("bans: %+v, want one", bans)
		}
		// The ban's hour passes (its end moves to the past).
		if _, err := store.Exec(context.Background(), "UPDATE defender_bans SET until_at = ?", time.Now().Add(-time.Second).Unix()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if c := e.curlFrom(t, "127.0.0.1", "anna", password); c != 207 {
			t.Fatalf("after the ban (%+v): %d, want 207", bans, c)
		}

		ctx := context.Background()
		sealer, _ := mfa.NewSealer(make([]byte, 32))
		u, _ := e.ids.GetUser(ctx, "anna")
		en, _ := mfa.NewTOTP("pier", "anna")
		if err := e.ids.SetTOTP(ctx, "anna", sealer.Seal(u.ID, en.Secret), nil); err != nil {
			t.Fatal(err)
		}
		if c := e.curlFrom(t, "127.0.0.3", "anna", password); c != 401 {
			t.Errorf("password of an account with TOTP over WebDAV: %d, want 401", c)
		}
		clear, hash := mfa.NewAppPassword()
		if _, err := e.ids.AddAppPassword(ctx, "anna", "laptop", hash); err != nil {
			t.Fatal(err)
		}
		if c := e.curlFrom(t, "127.0.0.3", "anna", clear); c != 207 {
			t.Fatalf("app password: %d, want 207", c)
		}
		if err := e.ids.RevokeAppPassword(ctx, "anna", "laptop"); err != nil {
			t.Fatal(err)
		}
		if c := e.curlFrom(t, "127.0.0.3", "anna", clear); c != 401 {
			t.Fatalf("revoked app password (cached a moment ago): %d, want 401", c)
		}
	})
}

// TestBanEndsOpenTransfers: a ban ends an upload already running from the
// banned source within seconds, and nothing of it is stored; the next
// request from there is refused, others go on.
func TestBanEndsOpenTransfers(t *testing.T) {
	backendsDAV(t, func(t *testing.T, prod bool) {
		e, def, _ := startSecure(t, prod, 15)
		from := &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}
		client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: from}).DialContext}}
		body, feed := io.Pipe()
		req, _ := http.NewRequest("PUT", e.url+"/acme/inbound/during-ban.edi", body)
		req.SetBasicAuth("acme-edi", password)
		req.ContentLength = -1
		answered := make(chan *http.Response, 1)
		go func() {
			res, err := client.Do(req)
			if err != nil {
				answered <- nil
				return
			}
			res.Body.Close()
			answered <- res
		}()
		stop := make(chan struct{})
		go func() { // a slow client: 4 KiB every 10 ms
			defer feed.Close()
			chunk := []byte(strings.Repeat("UNB+", 1<<10))
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if _, err := feed.Write(chunk); err != nil {
					return
				}
			}
		}()
		defer close(stop)
		time.Sleep(500 * time.Millisecond) // the upload runs
		if _, err := def.Ban(context.Background(), "127.0.0.7", time.Hour, "seen attacking"); err != nil {
			t.Fatal(err)
		}
		banned := time.Now()
		select {
		case res := <-answered:
			status := "the connection closed"
			if res != nil {
				status = res.Status
			}
			t.Logf("the upload ended %v after the ban: %s", time.Since(banned), status)
			if res != nil && res.StatusCode < 400 {
				t.Fatalf("the upload from the banned source got %s", res.Status)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the upload from the banned source still runs 5 s after the ban")
		}
		if _, err := e.store.Stat(context.Background(), vpath.MustParse("/acme/inbound/during-ban.edi")); err == nil {
			t.Fatal("the upload cut by the ban was published")
		}
		expect(t, "a session from another source", e.do(t, "acme-edi", "PROPFIND", "/acme/", nil, "Depth", "0"), 207)
		if code := e.curlFrom(t, "127.0.0.7", "acme-edi", password); code != 403 {
			t.Fatalf("the banned source's next request got %d", code)
		}
	})
}
