package main_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pier/internal/testenv"
	"pier/node"
	"pier/storage"
)

var pierBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pier-bin")
	if err != nil {
		panic(err)
	}
	pierBin = filepath.Join(dir, "pier")
	if out, err := exec.Command("go", "build", "-o", pierBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build pier: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pier runs the binary in dir with args and returns its outputs and exit code.
func pier(t *testing.T, dir string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	return pierEnv(t, dir, nil, stdin, args...)
}

// pierEnv is pier with extra environment variables.
func pierEnv(t *testing.T, dir string, env []string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(pierBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{nil, 2, "no command given"},
		{[]string{"serve", "--nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"serve", "--db", "mysql://u:hunter2@h/db"}, 1, `--db: unknown scheme "mysql"`},
		{[]string{"serve", "--storage", "ftp://h/b"}, 1, `--storage: unknown scheme "ftp"`},
		{[]string{"serve", "--sftp-addr", "nonsense"}, 1, `--sftp-addr: "nonsense" is not host:port`},
		{[]string{"serve", "--db", "postgres://u:hunter2@127.0.0.1:1/x", "--admin-addr", "off"}, 1, "database postgres://127.0.0.1:1/x is unreachable"},
		{[]string{"files", "put", "-", "/a/../../etc/passwd"}, 1, `invalid path: contains a ".." element`},
		{[]string{"files", "ls", "/missing"}, 1, "file does not exist"},
		{[]string{"files", "mkdir", "/a\\b"}, 1, "backslash"},
		{[]string{"files", "frob"}, 2, `unknown command "frob"`},
		{[]string{"files", "mv", "/a"}, 2, "want 2 arguments"},
	}
	for _, c := range cases {
		_, stderr, code := pier(t, dir, strings.NewReader(""), c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("pier %q: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("pier %q leaked a password: %q", c.args, stderr)
		}
		if lines := strings.Count(strings.TrimSpace(stderr), "\n"); code != 0 && lines > 0 && !strings.Contains(stderr, "Usage") {
			t.Errorf("pier %q: error takes %d lines, want one: %q", c.args, lines+1, stderr)
		}
	}
	// The unreachable S3 endpoint is reported before any database file is made.
	s3dir := t.TempDir()
	cmd := exec.Command(pierBin, "serve", "--storage", "s3://127.0.0.1:1/bucket?tls=false", "--admin-addr", "off")
	cmd.Dir = s3dir
	cmd.Env = append(os.Environ(), "PIER_S3_ACCESS_KEY=k", "PIER_S3_SECRET_KEY=s3cret-value")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "127.0.0.1:1") || strings.Contains(string(out), "s3cret-value") {
		t.Errorf("unreachable S3: err %v, output %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(s3dir, "pier-data", "pier.db")); err == nil {
		t.Error("a database file was created although storage was unreachable")
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServe(t *testing.T) {
	t.Run("zero-config", func(t *testing.T) {
		dir := testServe(t, nil, "catalog=sqlite:pier-data/pier.db", "blobs=disk:pier-data/blobs")
		if _, err := os.Stat(filepath.Join(dir, "pier-data", "pier.db")); err != nil {
			t.Errorf("no embedded database in ./pier-data: %v", err)
		}
	})
	t.Run("postgres+s3", func(t *testing.T) {
		dir := testServe(t, []string{"--db", testenv.PostgresURL(t), "--storage", testenv.S3URL(t)}, "catalog=postgres://", `blobs="s3://`)
		if _, err := os.Stat(filepath.Join(dir, "pier-data", "pier.db")); err == nil {
			t.Errorf("an embedded database was created although --db names PostgreSQL")
		}
	})
}

// testServe starts pier serve, waits until it is ready, stops it with
// SIGTERM and checks its log names what it used.
func testServe(t *testing.T, flags []string, wantLog ...string) string {
	dir := t.TempDir()
	admin := freeAddr(t)
	cmd := exec.Command(pierBin, append([]string{"serve", "--admin-addr", admin, "--sftp-addr", freeAddr(t), "--dav-addr", freeAddr(t)}, flags...)...)
	cmd.Dir = dir
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := false
	for range 100 {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ready = true
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ready {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("pier serve never became ready:\n%s", logs.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("serve did not stop within 10 s of SIGTERM")
	}
	for _, want := range append(wantLog, "shutting down") {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("start-up log lacks %q:\n%s", want, logs.String())
		}
	}
	if secret := os.Getenv("PIER_S3_SECRET_KEY"); secret != "" && strings.Contains(logs.String(), secret) {
		t.Errorf("the log shows the S3 secret")
	}
	return dir
}

// TestServeShutdownGrace: pier serve exits within its shutdown grace and
// a small margin, with status 0, when clients hold connections open; the
// connections are closed, not left to linger.
func TestServeShutdownGrace(t *testing.T) {
	dir := t.TempDir()
	admin, dav := freeAddr(t), freeAddr(t)
	const grace, margin = 500 * time.Millisecond, 2 * time.Second
	cmd := exec.Command(pierBin, "serve", "--admin-addr", admin, "--sftp-addr", "off", "--dav-addr", dav,
		"--shutdown-grace", grace.String())
	cmd.Dir = dir
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	var held []net.Conn
	for _, addr := range []string{dav, admin} {
		var c net.Conn
		var err error
		for range 100 {
			if c, err = net.Dial("tcp", addr); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("pier serve never listened on %s: %v\n%s", addr, err, logs.String())
		}
		defer c.Close()
		held = append(held, c) // a connection whose request never completes
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err // for the deferred wait
		t.Logf("pier serve exited %v after SIGTERM: %v", time.Since(start).Round(time.Millisecond), err)
		if err != nil {
			t.Errorf("pier serve: %v\n%s", err, logs.String())
		}
	case <-time.After(grace + margin):
		t.Fatalf("pier serve still running %v after SIGTERM", grace+margin)
	}
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(margin))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection to %s still open after exit", c.RemoteAddr())
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("connection to %s still open after exit", c.RemoteAddr())
		}
	}
}

// TestKillMidUpload kills pier while it streams an upload: nothing may
// become visible, and GC must remove what the upload had stored.
func TestKillMidUpload(t *testing.T) {
	t.Run("sqlite+disk", func(t *testing.T) {
		testKillMidUpload(t, nil)
	})
	t.Run("postgres+s3", func(t *testing.T) {
		testKillMidUpload(t, []string{"PIER_DB=" + testenv.PostgresURL(t), "PIER_STORAGE=" + testenv.S3URL(t)})
	})
}

// testKillMidUpload runs with the embedded default, or with the stores
// that env (PIER_DB=…, PIER_STORAGE=…) names.
func testKillMidUpload(t *testing.T, env []string) {
	dir := t.TempDir()
	if _, stderr, code := pierEnv(t, dir, env, nil, "files", "mkdir", "/acme/inbound"); code != 0 {
		t.Fatalf("mkdir: %s", stderr)
	}
	cmd := exec.Command(pierBin, "files", "put", "-", "/acme/inbound/big.edi")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// 40 MiB: more than two 16 MiB parts, so S3 holds uploaded parts.
	chunk := bytes.Repeat([]byte("UNB+UNOC:3+SENDER+RECEIVER'\n"), 1<<14)
	for sent := 0; sent < 40<<20; sent += len(chunk) {
		if _, err := stdin.Write(chunk); err != nil {
			t.Fatalf("upload died early: %v\n%s", err, logs.String())
		}
	}
	time.Sleep(500 * time.Millisecond) // let it push a part
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	out, stderr, code := pierEnv(t, dir, env, nil, "files", "ls", "/acme/inbound")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("after the kill /acme/inbound lists %q (exit %d, %s)", out, code, stderr)
	}
	out, _, _ = pierEnv(t, dir, env, nil, "gc")
	if !strings.Contains(out, "removed 0 abandoned uploads") {
		t.Fatalf("default GC collected a young upload: %s", out)
	}
	out, stderr, code = pierEnv(t, dir, env, nil, "gc", "--upload-age", "0s")
	if code != 0 || !strings.Contains(out, "removed 1 abandoned uploads") {
		t.Fatalf("gc: %q exit %d %s", out, code, stderr)
	}
	// The blob store is empty again, including uploaded parts.
	cfgStorage := "file:" + filepath.Join(dir, "pier-data", "blobs")
	if env != nil {
		cfgStorage = strings.TrimPrefix(env[1], "PIER_STORAGE=")
	}
	bs, _, err := node.OpenBlobs(context.Background(), cfgStorage, node.BlobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	bs.Walk(context.Background(), func(storage.BlobInfo) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs remain after GC", n)
	}
	if lp, ok := bs.(interface {
		PendingUploads(context.Context) (int, error)
	}); ok {
		if k, err := lp.PendingUploads(context.Background()); err != nil || k != 0 {
			t.Fatalf("%d incomplete multipart uploads remain after GC (%v)", k, err)
		}
	}
	if env == nil {
		tmps, _ := os.ReadDir(filepath.Join(dir, "pier-data", "blobs", "tmp"))
		if len(tmps) != 0 {
			t.Fatalf("%d temporary files remain", len(tmps))
		}
	}
}

// TestInterruptAbortsUpload sends SIGINT during an upload: pier must abort
// it cleanly (no entry, no blob, no bookkeeping left for GC) and say so.
func TestInterruptAbortsUpload(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(pierBin, "files", "put", "-", "/big.edi")
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 8 {
		if _, err := stdin.Write(chunk); err != nil {
			t.Fatalf("upload died early: %v\n%s", err, logs.String())
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() { // keep feeding, as a client would, until pier exits
		for {
			if _, err := stdin.Write(chunk); err != nil {
				return
			}
		}
	}()
	err := cmd.Wait()
	if err == nil || !strings.Contains(logs.String(), "upload /big.edi") {
		t.Fatalf("interrupted upload: err %v, stderr %q", err, logs.String())
	}
	if out, _, _ := pier(t, dir, nil, "files", "ls", "/"); strings.TrimSpace(out) != "" {
		t.Fatalf("interrupted upload is visible: %q", out)
	}
	if out, _, _ := pier(t, dir, nil, "gc", "--upload-age", "0s", "--sweep-age", "0s"); !strings.Contains(out, "removed 0 abandoned uploads, 0 released blobs, 0 unknown blobs") {
		t.Fatalf("the interrupted upload left work for GC: %s", out)
	}
}
