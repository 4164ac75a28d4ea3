package node_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pier/config"
	"pier/internal/testenv"
	"pier/node"
)

// logBuffer collects a node's log; handlers write from many goroutines.
type logBuffer = testenv.LogBuffer

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// running is a node serving in the test.
type running struct {
	admin string // address of the admin endpoint
	logs  *logBuffer
	stop  context.CancelFunc
	done  chan struct{} // closed when Serve has returned err
	err   error
}

// testConfig is the embedded default in a fresh directory, with the
// admin endpoint on a free port and the front ends off.
func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AdminAddr = freeAddr(t)
	cfg.SFTPAddr, cfg.DAVAddr = "off", "off"
	cfg.GCInterval = 0
	return cfg
}

// start opens and serves a node with cfg until the test ends.
func start(t *testing.T, cfg config.Config) *running {
	t.Helper()
	logs := &logBuffer{}
	n, err := node.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, stop := context.WithCancel(context.Background())
	r := &running{admin: cfg.AdminAddr, logs: logs, stop: stop, done: make(chan struct{})}
	go func() { r.err = n.Serve(ctx); close(r.done) }()
	t.Cleanup(func() {
		stop()
		<-r.done
	})
	for range 100 {
		if c, err := net.Dial("tcp", cfg.AdminAddr); err == nil {
			c.Close()
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("admin endpoint never listened:\n%s", logs)
	return nil
}

// readyz asks the node and returns the status, the body and the time the
// answer took.
func (r *running) readyz(t *testing.T) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := (&http.Client{Timeout: time.Minute}).Get("http://" + r.admin + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), time.Since(start)
}

func (r *running) wantReady(t *testing.T, wantCode int, wantBody string) time.Duration {
	t.Helper()
	code, body, took := r.readyz(t)
	t.Logf("readyz: %d %q after %v", code, body, took.Round(time.Millisecond))
	if code != wantCode || body != wantBody {
		t.Fatalf("readyz: %d %q, want %d %q\n%s", code, body, wantCode, wantBody, r.logs)
	}
	return took
}

// TestReadyDisk: /readyz fails when the blob directory goes away and
// recovers when it is back.
func TestReadyDisk(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	r.wantReady(t, 200, "ready")

	blobs := filepath.Join(cfg.DataDir, "blobs")
	if err := os.RemoveAll(blobs); err != nil {
		t.Fatal(err)
	}
	r.wantReady(t, 503, "blob storage unavailable")
	if !strings.Contains(r.logs.String(), `msg="not ready" reason="blob storage unavailable"`) {
		t.Errorf("no log line says why the node is not ready:\n%s", r.logs)
	}
	for _, d := range []string{"blobs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(blobs, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r.wantReady(t, 200, "ready")
}

// TestReadyS3 freezes and then kills a private MinIO: /readyz must say
// 503 within its timeout, without secrets, and recover after SIGCONT.
func TestReadyS3(t *testing.T) {
	m := testenv.StartMinIO(t)
	t.Setenv("PIER_S3_ACCESS_KEY", m.AccessKey)
	t.Setenv("PIER_S3_SECRET_KEY", m.SecretKey)
	cfg := testConfig(t)
	cfg.Storage = m.URL + "&timeout=2s"
	cfg.ReadyTimeout = time.Second
	const margin = 2 * time.Second
	r := start(t, cfg)
	r.wantReady(t, 200, "ready")

	m.Stop(t)
	if took := r.wantReady(t, 503, "blob storage unavailable"); took > cfg.ReadyTimeout+margin {
		t.Errorf("readyz took %v with a stopped store, want at most %v + %v", took, cfg.ReadyTimeout, margin)
	}
	m.Cont(t)
	r.wantReady(t, 200, "ready")

	m.Kill(t)
	if took := r.wantReady(t, 503, "blob storage unavailable"); took > cfg.ReadyTimeout+margin {
		t.Errorf("readyz took %v with a killed store, want at most %v + %v", took, cfg.ReadyTimeout, margin)
	}
	if logs := r.logs.String(); strings.Contains(logs, m.SecretKey) {
		t.Errorf("the log shows the S3 secret:\n%s", logs)
	}
}

// TestShutdownClosesConnections: connections still open when the grace
// ends are cut, and Serve returns within the grace and a margin. One
// client holds a request on the admin endpoint (a readiness check waiting
// on a frozen store), two hold connections whose request never completes.
func TestShutdownClosesConnections(t *testing.T) {
	m := testenv.StartMinIO(t)
	t.Setenv("PIER_S3_ACCESS_KEY", m.AccessKey)
	t.Setenv("PIER_S3_SECRET_KEY", m.SecretKey)
	cfg := testConfig(t)
	cfg.Storage = m.URL + "&timeout=30s"
	cfg.DAVAddr, cfg.DAVInsecure = freeAddr(t), true
	cfg.ReadyTimeout = time.Minute
	cfg.ShutdownGrace = 500 * time.Millisecond
	const margin = 2 * time.Second
	r := start(t, cfg)
	r.wantReady(t, 200, "ready")

	m.Stop(t)
	held := make(chan error, 1)
	go func() {
		// A connection of its own: a pooled one would be retried on a
		// new connection once cut, and fail to dial instead.
		client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + r.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	var partial []net.Conn
	for _, addr := range []string{cfg.DAVAddr, r.admin} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "PROPFIND /dav/ HTTP/1.1\r\nHost: pier\r\n"); err != nil {
			t.Fatal(err)
		}
		partial = append(partial, c)
	}
	time.Sleep(300 * time.Millisecond) // the readiness check is under way

	start := time.Now()
	r.stop()
	select {
	case <-r.done:
		t.Logf("Serve returned after %v: %v", time.Since(start).Round(time.Millisecond), r.err)
		if r.err != nil {
			t.Errorf("Serve: %v", r.err)
		}
	case <-time.After(cfg.ShutdownGrace + margin):
		t.Fatalf("Serve still running %v after the stop", time.Since(start))
	}
	select {
	case err := <-held:
		t.Logf("held readiness request ended after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if err == nil {
			t.Error("held readiness request was answered, want it cut")
		}
	case <-time.After(margin):
		t.Fatal("held readiness request still open after the grace")
	}
	for _, c := range partial {
		c.SetReadDeadline(time.Now().Add(margin))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("connection to %s still open after the grace: %v", c.RemoteAddr(), err)
		}
	}
	if !strings.Contains(r.logs.String(), "shutdown grace ended") {
		t.Errorf("the log does not say connections were cut:\n%s", r.logs)
	}
	m.Cont(t)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
