package sftpd_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/internal/testenv"
	"pier/sftpd"
)

func (e *env) port() string { _, p, _ := net.SplitHostPort(e.addr); return p }

// knownHosts writes a known_hosts file that pins the server's host key.
func (e *env) knownHosts(t *testing.T) string {
	f := filepath.Join(e.dir, "known_hosts")
	var b strings.Builder
	for _, k := range e.hostAll {
		fmt.Fprintf(&b, "[127.0.0.1]:%s %s", e.port(), ssh.MarshalAuthorizedKey(k))
	}
	os.WriteFile(f, []byte(b.String()), 0o600)
	return f
}

func (e *env) sshOpts(t *testing.T, login string) []string {
	return []string{"-i", e.keys[login], "-o", "UserKnownHostsFile=" + e.knownHosts(t), "-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=10"}
}

func run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func randomFile(t *testing.T, dir, name string, size int) (string, [32]byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, sha256.Sum256(b)
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestOpenSSHClients(t *testing.T) {
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite+disk", true: "postgres+s3"}[prod], func(t *testing.T) {
			sftpBin, scpBin := testenv.Program(t, "sftp"), testenv.Program(t, "scp")
			e := start(t, prod)
			work := t.TempDir()
			_, sum := randomFile(t, work, "local.bin", 5<<20+123)
			batch := filepath.Join(work, "batch")
			os.WriteFile(batch, []byte(strings.Join([]string{
				"mkdir /acme/staff/sub",
				`put local.bin "/acme/staff/sub/fi le$%<>111.bin"`,
				"ls -l /acme/staff/sub",
				`rename "/acme/staff/sub/fi le$%<>111.bin" /acme/staff/sub/renamed.bin`,
				"get /acme/staff/sub/renamed.bin back.bin",
				"put -p local.bin /acme/staff/sub/dated.bin",
				"rm /acme/staff/sub/renamed.bin",
				"ls /acme/staff/sub",
			}, "\n")+"\n"), 0o600)
			args := append(e.sshOpts(t, "anna"), "-P", e.port(), "-b", batch, "anna@127.0.0.1")
			out, err := run(t, work, sftpBin, args...)
			if err != nil {
				t.Fatalf("sftp -b: %v\n%s", err, out)
			}
			last := out[strings.LastIndex(out, "sftp> ls /acme/staff/sub"):]
			if fileSum(t, filepath.Join(work, "back.bin")) != sum || !strings.Contains(last, "dated.bin") || strings.Contains(last, "renamed.bin") {
				t.Fatalf("sftp -b round trip wrong:\n%s", out)
			}
			// scp (SFTP protocol in OpenSSH 9) must exit 0 both ways.
			scpArgs := append(e.sshOpts(t, "anna"), "-P", e.port())
			if out, err := run(t, work, scpBin, append(scpArgs, "local.bin", "anna@127.0.0.1:/acme/staff/scp.bin")...); err != nil {
				t.Fatalf("scp upload: %v\n%s", err, out)
			}
			if out, err := run(t, work, scpBin, append(scpArgs, "anna@127.0.0.1:/acme/staff/scp.bin", "scp-back.bin")...); err != nil {
				t.Fatalf("scp download: %v\n%s", err, out)
			}
			if fileSum(t, filepath.Join(work, "scp-back.bin")) != sum {
				t.Fatal("scp round trip differs")
			}
			// The partner's batch: drop, no listing, no escape.
			os.WriteFile(batch, []byte("put local.bin /acme/inbound/drop.bin\n"), 0o600)
			if out, err := run(t, work, sftpBin, append(e.sshOpts(t, "acme-edi"), "-P", e.port(), "-b", batch, "acme-edi@127.0.0.1")...); err != nil {
				t.Fatalf("partner drop: %v\n%s", err, out)
			}
			// It lists (and stats) its own upload, as sync tools need.
			os.WriteFile(batch, []byte("ls -l /acme/inbound\n"), 0o600)
			if out, err := run(t, work, sftpBin, append(e.sshOpts(t, "acme-edi"), "-P", e.port(), "-b", batch, "acme-edi@127.0.0.1")...); err != nil || !strings.Contains(string(out), "drop.bin") {
				t.Errorf("partner lists its drop: %v\n%s", err, out)
			}
			for _, cmd := range []string{"get /acme/inbound/drop.bin x", "ls /globex", "cd ../../globex", "put local.bin /globex/inbound/x.bin", "rm /acme/outbound/order 1.edi", "symlink /acme/outbound /acme/inbound/l.bin"} {
				os.WriteFile(batch, []byte(cmd+"\n"), 0o600)
				out, err := run(t, work, sftpBin, append(e.sshOpts(t, "acme-edi"), "-P", e.port(), "-b", batch, "acme-edi@127.0.0.1")...)
				if err == nil {
					t.Errorf("partner %q succeeded:\n%s", cmd, out)
				}
			}
		})
	}
}

// TestCurlSFTP drives curl, whose libssh2 (1.10 in Debian 12) knows no
// ETM MAC: it needs the CompatMACs switch, and fails cleanly without it.
func TestCurlSFTP(t *testing.T) {
	curl := testenv.Program(t, "curl")
	bothBackends(t, func(t *testing.T, prod bool) { testCurlSFTP(t, curl, prod) })
}

func testCurlSFTP(t *testing.T, curl string, prod bool) {
	strict := start(t, prod)
	if out, err := run(t, t.TempDir(), curl, "-sS", "-u", "anna:"+password, "--insecure", "sftp://127.0.0.1:"+strict.port()+"/acme/staff/"); err == nil {
		t.Logf("curl connected without CompatMACs (a newer libssh2): %s", out)
	}
	e := startWith(t, prod, func(c *sftpd.Config) { c.CompatMACs = true })
	work := t.TempDir()
	local, sum := randomFile(t, work, "c.bin", 3<<20)
	pin := sha256.Sum256(e.hostAll[1].Marshal()) // libssh2 prefers ECDSA
	hostSum := base64.StdEncoding.EncodeToString(pin[:])
	url := "sftp://127.0.0.1:" + e.port() + "/acme/staff/curl%20file.bin"
	base := []string{"-sS", "--fail", "-u", "anna:" + password, "--hostpubsha256", hostSum}
	if out, err := run(t, work, curl, append(base, "-T", local, url)...); err != nil {
		t.Fatalf("curl upload: %v\n%s", err, out)
	}
	if out, err := run(t, work, curl, append(base, "-o", "back.bin", url)...); err != nil {
		t.Fatalf("curl download: %v\n%s", err, out)
	}
	if fileSum(t, filepath.Join(work, "back.bin")) != sum {
		t.Fatal("curl round trip differs")
	}
	// A wrong pin must stop curl before it sends the password.
	bad := append([]string{"-sS", "-u", "anna:" + password, "--hostpubsha256", base64.StdEncoding.EncodeToString(make([]byte, 32))}, "-o", "x", url)
	if out, err := run(t, work, curl, bad...); err == nil {
		t.Fatalf("curl accepted a wrong host key pin:\n%s", out)
	}
}

func TestRclone(t *testing.T) {
	rclone := testenv.Program(t, "rclone")
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite+disk", true: "postgres+s3"}[prod], func(t *testing.T) {
			e := start(t, prod)
			work := t.TempDir()
			src := filepath.Join(work, "src")
			os.MkdirAll(filepath.Join(src, "sub dir"), 0o700)
			for i, name := range []string{"a.edi", "fi le$%<>111.txt", "sub dir/ü nicode.xml", "sub dir/empty"} {
				size := []int{100, 2 << 20, 70_000, 0}[i]
				randomFile(t, src, name, size)
			}
			remote := fmt.Sprintf(":sftp,host=127.0.0.1,port=%s,user=anna,key_file=%s,known_hosts_file=%s:/acme/staff/sync",
				e.port(), e.keys["anna"], e.knownHosts(t))
			common := []string{"--config", filepath.Join(work, "rclone.conf"), "--sftp-set-modtime=true"}
			if out, err := run(t, work, rclone, append(common, "copy", src, remote)...); err != nil {
				t.Fatalf("rclone copy: %v\n%s", err, out)
			}
			if out, err := run(t, work, rclone, append(common, "check", "--download", src, remote)...); err != nil {
				t.Fatalf("rclone check --download: %v\n%s", err, out)
			}
			// A second copy transfers nothing: sizes and times match.
			out, err := run(t, work, rclone, append(common, "copy", "-v", src, remote)...)
			if err != nil || strings.Contains(out, "Copied") {
				t.Fatalf("second rclone copy re-sent files: %v\n%s", err, out)
			}
		})
	}
}

func TestLftp(t *testing.T) {
	lftp := testenv.Program(t, "lftp")
	bothBackends(t, func(t *testing.T, prod bool) { testLftp(t, lftp, prod) })
}

func testLftp(t *testing.T, lftp string, prod bool) {
	e := start(t, prod)
	work := t.TempDir()
	_, sum := randomFile(t, work, "l.bin", 1<<20)
	connect := fmt.Sprintf("ssh -a -x -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes", e.keys["anna"], e.knownHosts(t))
	script := fmt.Sprintf(`set sftp:connect-program "%s"; open -u anna, -p %s sftp://127.0.0.1; cd /acme/staff; put l.bin -o "lftp file.bin"; ls; get "lftp file.bin" -o back.bin; rm "lftp file.bin"; bye`, connect, e.port())
	out, err := run(t, work, lftp, "-c", script)
	if err != nil || !strings.Contains(out, "lftp file.bin") {
		t.Fatalf("lftp: %v\n%s", err, out)
	}
	if fileSum(t, filepath.Join(work, "back.bin")) != sum {
		t.Fatal("lftp round trip differs")
	}
}

// TestParallelSessions runs 20 sessions at once, each uploading and
// reading back its own file.
func TestParallelSessions(t *testing.T) {
	bothBackends(t, testParallelSessions)
}

func testParallelSessions(t *testing.T, prod bool) {
	e := start(t, prod)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			c, err := e.dial(t, "anna", ssh.Password(password))
			if err != nil {
				errs <- err
				return
			}
			data := bytes.Repeat([]byte{byte(i)}, 1<<20+i)
			p := fmt.Sprintf("/acme/staff/parallel-%02d.bin", i)
			if err := putErr(c, p, data); err != nil {
				errs <- err
				return
			}
			f, err := c.Open(p)
			if err != nil {
				errs <- err
				return
			}
			var buf bytes.Buffer
			f.WriteTo(&buf)
			f.Close()
			if !bytes.Equal(buf.Bytes(), data) {
				errs <- fmt.Errorf("session %d read back other bytes", i)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_ = time.Second
}

// bothBackends runs fn on SQLite+disk and on PostgreSQL+MinIO.
func bothBackends(t *testing.T, fn func(t *testing.T, prod bool)) {
	t.Run("sqlite+disk", func(t *testing.T) { fn(t, false) })
	t.Run("postgres+s3", func(t *testing.T) { fn(t, true) })
}
