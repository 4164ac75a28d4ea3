package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// selfCPU is this process's CPU time and that of its waited-for children
// (OpenSSH's sftp and ssh, curl): the client side of a phase.
func selfCPU() time.Duration {
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += tv(ru.Utime) + tv(ru.Stime)
		}
	}
	return total
}

// procMem reads VmRSS and VmHWM (the peak since start or the last
// resetPeak) of a process, in bytes.
func procMem(pid int) (rss, peak uint64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(data)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

// resetPeak starts a new peak RSS measurement of pid (Linux 4.0+).
func resetPeak(pid int) {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// pierNode is one `pier serve` process under measurement.
type pierNode struct {
	name     string
	bin      string
	args     []string // --data, --db, --storage
	env      []string
	sftpPort int
	davURL   string // http(s)://127.0.0.1:PORT/dav
	adminURL string
	cmd      *exec.Cmd
	log      *os.File
	pprof    bool   // the admin endpoint serves /debug/pprof
	keepLog  string // directory to copy the log into when the node stops
}

// run runs a pier admin command against the node's store.
func (p *pierNode) run(ctx context.Context, stdin string, args ...string) (string, error) {
	// Store flags go after the command and its subcommand (`files` stops
	// parsing flags at the first argument).
	k := 1
	if args[0] != "gc" {
		k = 2
	}
	full := slices.Concat(args[:k], p.args, args[k:])
	cmd := exec.CommandContext(ctx, p.bin, full...)
	cmd.Env = p.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("pier %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// setup gives the node's store the bench's organisation, user and grant.
// A second node on the same database finds them there.
func (p *pierNode) setup(ctx context.Context, pubKey, password string) error {
	if out, err := p.run(ctx, "", "user", "show", benchUser); err == nil && strings.Contains(out, benchUser) {
		return nil
	}
	steps := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"org", "add", "acme", "--kind", "internal"}},
		{"", []string{"user", "add", benchUser, "--org", "acme", "--key", pubKey}},
		{password + "\n", []string{"user", "passwd", benchUser, "--stdin"}},
		{"", []string{"grant", "add", "--to", "user:" + benchUser, "--path", "/acme", "--perms", "full"}},
	}
	for _, s := range steps {
		if _, err := p.run(ctx, s.stdin, s.args...); err != nil {
			return err
		}
	}
	return nil
}

// start runs `pier serve` and waits until its listeners answer.
func (p *pierNode) start(ctx context.Context, tls bool, extra ...string) error {
	ports := make([]int, 3)
	for i := range ports {
		port, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = port
	}
	p.sftpPort = ports[0]
	args := append([]string{"serve"}, p.args...)
	args = append(args, "--sftp-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--dav-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--admin-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--gc-interval", "0")
	scheme := "https"
	if !tls {
		args = append(args, "--dav-insecure")
		scheme = "http"
	}
	// Extra flags the binary may not know (an older pier measured as the
	// baseline) are dropped.
	help, _ := exec.Command(p.bin, "serve", "--help").CombinedOutput()
	for i := 0; i < len(extra); i++ {
		name, _, _ := strings.Cut(extra[i], "=")
		known := regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(strings.TrimLeft(name, "-")) + `\b`).Match(help)
		if !strings.Contains(extra[i], "=") && i+1 < len(extra) && !strings.HasPrefix(extra[i+1], "--") {
			if known {
				args = append(args, extra[i], extra[i+1])
			}
			i++
			continue
		}
		if known {
			args = append(args, extra[i])
			p.pprof = p.pprof || extra[i] == "--admin-pprof"
		}
	}
	p.davURL = fmt.Sprintf("%s://127.0.0.1:%d/dav", scheme, ports[1])
	p.adminURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	log, err := os.CreateTemp("", "pier-bench-"+p.name+"-*.log")
	if err != nil {
		return err
	}
	p.log = log
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Env = p.env
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("pier %s did not become ready: see %s", p.name, log.Name())
}

func (p *pierNode) pid() int { return p.cmd.Process.Pid }

func (p *pierNode) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	if p.log != nil {
		p.log.Close()
		if p.keepLog != "" {
			exec.Command("cp", p.log.Name(), filepath.Join(p.keepLog, "pier-"+p.name+".log")).Run()
		}
		os.Remove(p.log.Name())
	}
}

// sshd is OpenSSH's server with internal-sftp on a private port: the
// baseline of the SFTP layer.
type sshd struct {
	port int
	dir  string // where uploads go
	cmd  *exec.Cmd
}

func startSSHD(ctx context.Context, work, pubKey string) (*sshd, error) {
	bin, err := exec.LookPath("sshd")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/sshd"); err2 != nil {
			return nil, errors.New("OpenSSH's sshd is not installed (apt-get install openssh-server)")
		}
		bin = "/usr/sbin/sshd"
	}
	dir := filepath.Join(work, "sshd")
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		return nil, err
	}
	os.MkdirAll("/run/sshd", 0o755) // its privilege separation directory
	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(pubKey)
	if err != nil {
		return nil, err
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sshd_config")
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowTcpForwarding no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
`, port, hostKey, auth, filepath.Join(dir, "sshd.pid"))
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	s := &sshd{port: port, dir: filepath.Join(dir, "files"), cmd: exec.Command(bin, "-D", "-e", "-f", conf)}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	for range 100 {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("sshd did not start listening")
}

func (s *sshd) pid() int { return s.cmd.Process.Pid }

func (s *sshd) stop() {
	if s != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	}
}
