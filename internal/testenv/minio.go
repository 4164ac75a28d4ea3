package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MinIO is a MinIO server of one test alone, for fault tests that stop or
// kill it. The shared server of scripts/testenv must never be stopped:
// other tests use it at the same time.
type MinIO struct {
	// URL is the storage URL of a bucket created on first use, with plain
	// HTTP; tests append options (&timeout=2s).
	URL       string
	Endpoint  string // 127.0.0.1:PORT
	AccessKey string
	SecretKey string

	cmd  *exec.Cmd
	log  *LogBuffer
	mu   sync.Mutex
	dead bool
}

// Getenv serves the server's credentials under the names s3blob.ParseURL
// reads, and nothing else.
func (m *MinIO) Getenv(name string) string {
	switch name {
	case "PIER_S3_ACCESS_KEY":
		return m.AccessKey
	case "PIER_S3_SECRET_KEY":
		return m.SecretKey
	}
	return ""
}

// Env is the server's credentials as environment entries for a child
// process.
func (m *MinIO) Env() []string {
	return []string{"PIER_S3_ACCESS_KEY=" + m.AccessKey, "PIER_S3_SECRET_KEY=" + m.SecretKey}
}

// StartMinIO starts a private MinIO on free ports with a throwaway data
// directory and waits until it serves S3 requests. It is killed when the test ends.
// The binary is PIER_TEST_MINIO_BIN (set by scripts/testenv), else the
// one scripts/testenv builds into ~/.cache/pier/tools.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := os.Getenv("PIER_TEST_MINIO_BIN")
	if bin == "" {
		tools := os.Getenv("PIER_TOOLS")
		if tools == "" {
			home, _ := os.UserHomeDir()
			tools = filepath.Join(home, ".cache", "pier", "tools")
		}
		bin = filepath.Join(tools, "minio")
	}
	if _, err := os.Stat(bin); err != nil { // #nosec G703 -- scripts/testenv's MinIO, tests only
		msg := "no MinIO binary (" + bin + "): run the tests through scripts/test, which builds it"
		if os.Getenv("PIER_TEST_REQUIRE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var lastErr error
	for range 3 { // a free port may be taken before MinIO binds it
		m, err := startMinIO(t, bin)
		if err == nil {
			return m
		}
		lastErr = err
	}
	t.Fatalf("private MinIO: %v", lastErr)
	return nil
}

func startMinIO(t testing.TB, bin string) (*MinIO, error) {
	addr, console := freeAddr(t), freeAddr(t)
	m := &MinIO{
		Endpoint:  addr,
		AccessKey: Unique("pier-fault-"),
		SecretKey: Unique("secret-") + Unique(""),
		log:       &LogBuffer{},
	}
	m.URL = "s3://" + addr + "/pier-fault?tls=false&create-bucket=true"
	m.cmd = exec.Command(bin, "server", t.TempDir(), "--address", addr, "--console-address", console, // #nosec G204 G702 -- scripts/testenv's MinIO, tests only
		"--certs-dir", t.TempDir())
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off")
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { m.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		m.cmd.Process.Signal(syscall.SIGCONT) // a stopped process cannot die
		m.cmd.Process.Kill()
		<-exited
	})
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return nil, fmt.Errorf("exited at start: %s", m.log.Tail())
		default:
		}
		// The health check answers before the object layer is up; an
		// anonymous S3 request is refused (403) only once it is, and
		// answered 503 "server not initialized" until then.
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden {
				return m, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.cmd.Process.Kill()
	return nil, fmt.Errorf("not ready after 60 s: %s", m.log.Tail())
}

// Stop freezes the server (SIGSTOP): connections stay open and nothing
// answers, as with a hung node.
// It returns once every thread of the server is stopped: a signal is
// delivered asynchronously, and a thread that was running on another core
// could otherwise still answer a request sent right after.
func (m *MinIO) Stop(t testing.TB) {
	t.Helper()
	m.signal(t, syscall.SIGSTOP)
	dir := fmt.Sprintf("/proc/%d/task", m.cmd.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if allStopped(dir) {
			return
		}
	}
	t.Fatalf("private MinIO: not stopped 10 s after SIGSTOP")
}

// allStopped reports whether every thread listed under /proc/PID/task is
// in state T (stopped).
func allStopped(dir string) bool {
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat")) // #nosec G304 -- /proc of the test MinIO, tests only
		if err != nil {
			return false
		}
		// pid (comm) STATE …: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Cont lets a stopped server go on (SIGCONT).
func (m *MinIO) Cont(t testing.TB) { m.signal(t, syscall.SIGCONT) }

// Kill ends the server: connections are refused from then on.
func (m *MinIO) Kill(t testing.TB) {
	m.signal(t, syscall.SIGCONT)
	m.signal(t, syscall.SIGKILL)
	m.mu.Lock()
	m.dead = true
	m.mu.Unlock()
}

func (m *MinIO) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead {
		return
	}
	if err := m.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("private MinIO: %v: %v", sig, err)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// LogBuffer collects output written from many goroutines: a server's
// log, a child's two pipes.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last lines of the output, on one line for an error message.
func (b *LogBuffer) Tail() string {
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}
