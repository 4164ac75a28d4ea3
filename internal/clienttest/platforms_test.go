package clienttest

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pier/internal/testenv"
	"pier/storage"
)

// TestOldPlatforms: Debian's JSch 0.1.54 and curl with libssh2 1.10, as
// integration suites embed them, cannot use the main listener; on the
// compatibility listener an account marked for it logs in with a password
// or an RSA key (JSch signs with SHA-1), and an account not marked does
// not.
func TestOldPlatforms(t *testing.T) {
	w := newWorld(t, false, nil)
	compileJSch(t, w)
	jar, _, java := testenv.JSch(t)
	jschRun := func(env []string) (string, error) {
		return testenv.Run(t, 2*time.Minute, t.TempDir(), env, "ls\t"+outbound+"\n", java, "-cp", jar+":"+jsch.classes, "JschFlow")
	}
	ecdsa := func(addr string) string { return "PIER_KNOWN_HOSTS=" + w.knownHosts(t, addr, "ecdsa-sha2-nistp256") }
	conn := func(addr, login string) []string {
		return []string{"PIER_HOST=127.0.0.1", "PIER_PORT=" + port(addr), "PIER_USER=" + login, ecdsa(addr)}
	}
	for _, c := range []struct {
		what string
		env  []string
		ok   bool
		says string
	}{
		{"JSch on the main listener", append(conn(w.sftpAddr, "acme-edi"), "PIER_PASSWORD="+password), false, "Algorithm negotiation fail"},
		{"JSch, password, marked account", append(conn(w.compatAddr, "legacy"), "PIER_PASSWORD="+password), true, "ls order 1.edi"},
		{"JSch, RSA key, marked account", append(conn(w.compatAddr, "legacy"), "PIER_KEY="+w.keys["legacy"]), true, "ls order 1.edi"},
		{"JSch, account not marked", append(conn(w.compatAddr, "acme-edi"), "PIER_PASSWORD="+password), false, "Auth fail"},
	} {
		out, err := jschRun(c.env)
		if (err == nil) != c.ok || !strings.Contains(out, c.says) {
			t.Errorf("%s: %v, want success %v and %q:\n%s", c.what, err, c.ok, c.says, out)
		}
	}
	curl := testenv.Program(t, "curl")
	pin := w.pins("ecdsa-sha2-nistp256")[0]
	for _, c := range []struct {
		what, addr, login string
		ok                bool
	}{
		{"curl on the main listener", w.sftpAddr, "acme-edi", false},
		{"curl, marked account", w.compatAddr, "legacy", true},
		{"curl, account not marked", w.compatAddr, "acme-edi", false},
	} {
		out, err := testenv.Run(t, time.Minute, t.TempDir(), nil, "", curl, "-sS", "--fail", "-u", c.login+":"+password,
			"--hostpubsha256", pin, "sftp://127.0.0.1:"+port(c.addr)+outbound+"/")
		if (err == nil) != c.ok || c.ok && !strings.Contains(out, "order 1.edi") {
			t.Errorf("%s: %v, want success %v:\n%s", c.what, err, c.ok, out)
		}
	}
}

// TestErrorsWhereClientsLook: what pier refuses by design or cannot do
// reaches the client as a sentence it shows: ssh and legacy scp learn
// that pier speaks SFTP only, a full store says "storage full" (SFTP) and
// 507 (WebDAV); and the hash commands answer.
func TestErrorsWhereClientsLook(t *testing.T) {
	w := newWorld(t, false, func(b storage.BlobStore) storage.BlobStore { return testenv.FullBlobs(b, 64<<10) })
	work := t.TempDir()
	ssh := append(w.sshOpts(t, "anna", w.sftpAddr), "-p", port(w.sftpAddr), "anna@127.0.0.1")
	out, err := testenv.Run(t, time.Minute, work, nil, "", testenv.Program(t, "ssh"), append(ssh, "ls", "/")...)
	if err == nil || !strings.Contains(out, "pier: this server speaks SFTP only") {
		t.Errorf("ssh host ls: %v\n%s", err, out)
	}
	sum := md5.Sum(orderBody)
	out, err = testenv.Run(t, time.Minute, work, nil, "", testenv.Program(t, "ssh"), append(ssh, "md5sum", `'/acme/outbound/order 1.edi'`)...)
	if err != nil || !strings.HasPrefix(out, hex.EncodeToString(sum[:])+"  /acme/outbound/order 1.edi") {
		t.Errorf("ssh host md5sum: %v\n%s", err, out)
	}
	small, _ := localFile(t, work, "small.edi", time.Time{})
	scp := append(w.sshOpts(t, "anna", w.sftpAddr), "-O", "-P", port(w.sftpAddr), small, "anna@127.0.0.1:/acme/staff/legacy.edi")
	if out, err := testenv.Run(t, time.Minute, work, nil, "", testenv.Program(t, "scp"), scp...); err == nil || !strings.Contains(out, "speaks SFTP only") {
		t.Errorf("scp -O: %v\n%s", err, out)
	}

	// Over SFTP the status is a failure with the text "storage full"
	// (SFTP v3 has no code for it): lftp shows the text; OpenSSH's sftp
	// and curl (libssh2) show their own words for the code; paramiko
	// swallows errors of CLOSE and of pipelined writes, and its put() then
	// finds no file. Every one exits non-zero, and nothing is published.
	big := filepath.Join(work, "big.bin")
	os.WriteFile(big, make([]byte, 1<<20), 0o600)
	for _, c := range []struct {
		name string
		run  func(t *testing.T, w *world, login string, ops []op) (string, error)
		says string
	}{
		{"lftp", runLftp, "storage full"}, {"curl", runCurlSFTP, "curl: ("},
		{"OpenSSH sftp", runOpenSSHSFTP, "Failure"}, {"paramiko", runParamiko, "ERROR: put"},
	} {
		login, dest := "anna", "/acme/staff/"+slugOf(c.name)+".bin"
		if c.name == "curl" {
			login, dest = "legacy", inbound+"/curl.edi" // the compatibility listener's partner
		}
		out, err := c.run(t, w, login, []op{{"put", big, dest}})
		t.Logf("%s into a full store: %v\n%s", c.name, err, out)
		if err == nil || !strings.Contains(out, c.says) {
			t.Errorf("%s into a full store: %v, want a failure saying %q", c.name, err, c.says)
		}
	}
	out, err = testenv.Run(t, time.Minute, work, nil, "", testenv.Program(t, "curl"), "-sS", "-o", "/dev/null", "-w", "%{http_code}",
		"--cacert", w.caFile, "-u", "anna:"+password, "-T", big, w.davURL+"/acme/staff/big3.bin")
	if strings.TrimSpace(out) != "507" {
		t.Errorf("curl PUT into a full store: %v %q", err, out)
	}
	for _, p := range []string{"/acme/staff/lftp.bin", inbound + "/curl.edi", "/acme/staff/openssh-sftp.bin", "/acme/staff/paramiko.bin", "/acme/staff/big3.bin"} {
		if _, err := w.stat(p); err == nil {
			t.Errorf("%s was published", p)
		}
	}
}
