package clienttest

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pier/internal/testenv"
)

// The SFTP clients. Partners log in as acme-edi on the main listener, or
// as legacy on the compatibility listener for the clients that need it
// (JSch 0.1.54, curl with libssh2 1.10); staff as anna.
func sshClients() []*client {
	return []*client{
		{name: "paramiko", proto: "SFTP", partner: "acme-edi", staff: "anna", tempSuffix: ".part", setsTime: true, rename: true,
			needs: []string{"stat"}, run: runParamiko},
		{name: "JSch 0.1.54", proto: "SFTP (compatibility listener)", partner: "legacy", tempSuffix: ".filepart", setsTime: true, rename: true,
			needs: []string{"stat"}, setup: compileJSch, run: runJSch},
		{name: "ssh2-sftp-client", proto: "SFTP", partner: "acme-edi", staff: "anna", tempSuffix: ".part", setsTime: true, rename: true,
			needs: []string{"stat"}, run: runSSH2},
		{name: "OpenSSH sftp", proto: "SFTP", partner: "acme-edi", staff: "anna", tempSuffix: ".part", setsTime: true, keepsTime: true, rename: true,
			needs: []string{"stat"}, run: runOpenSSHSFTP},
		{name: "OpenSSH scp", proto: "SFTP", partner: "acme-edi", staff: "anna", setsTime: true, keepsTime: true, noList: true,
			needs: []string{"stat"}, run: runSCP},
		{name: "curl (SFTP)", proto: "SFTP (compatibility listener)", partner: "legacy", tempSuffix: ".part", setsTime: true, rename: true,
			needs: []string{"stat"}, run: runCurlSFTP}, // its mtime command stats the file first
		{name: "lftp", proto: "SFTP", partner: "acme-edi", staff: "anna", tempSuffix: ".part", rename: true, run: runLftp},
		rcloneSFTP(),
	}
}

// sshEnv is the connection a scripted client is given.
func (w *world) sshEnv(t *testing.T, login string, key bool) []string {
	addr := w.sftpAddr
	if login == "legacy" {
		addr = w.compatAddr
	}
	env := []string{"PIER_HOST=127.0.0.1", "PIER_PORT=" + port(addr), "PIER_USER=" + login,
		"PIER_KNOWN_HOSTS=" + w.knownHosts(t, addr), "PIER_HOSTKEY_SHA256=" + strings.Join(w.pins(), ",")}
	if key {
		return append(env, "PIER_KEY="+w.keys[login])
	}
	return append(env, "PIER_PASSWORD="+password)
}

func testdata(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runParamiko: paramiko with a key, its default put() (which stats the
// file after uploading it) and utime.
func runParamiko(t *testing.T, w *world, login string, ops []op) (string, error) {
	return testenv.Run(t, 2*time.Minute, t.TempDir(), w.sshEnv(t, login, true), opLines(ops),
		testenv.Python(t), testdata(t, "paramiko_flow.py"))
}

var jsch struct {
	once    sync.Once
	classes string
	err     error
}

// compileJSch compiles testdata/JschFlow.java against Debian's JSch, once.
func compileJSch(t *testing.T, _ *world) {
	jar, javac, _ := testenv.JSch(t)
	jsch.once.Do(func() {
		dir, err := os.MkdirTemp("", "pier-jsch-")
		if err != nil {
			jsch.err = err
			return
		}
		out, err := testenv.Run(t, 3*time.Minute, dir, nil, "", javac, "-d", dir, "-cp", jar, testdata(t, "JschFlow.java"))
		if err != nil {
			jsch.err = fmt.Errorf("javac: %v\n%s", err, out)
		}
		jsch.classes = dir
	})
	if jsch.err != nil {
		t.Fatal(jsch.err)
	}
}

// runJSch: Debian's JSch 0.1.54 with a password, ChannelSftp's put,
// rename and setMtime (which stats the file first). JSch knows only
// ECDSA and RSA host keys: its known_hosts holds the ECDSA one.
func runJSch(t *testing.T, w *world, login string, ops []op) (string, error) {
	jar, _, java := testenv.JSch(t)
	env := w.sshEnv(t, login, false)
	addr := w.sftpAddr
	if login == "legacy" {
		addr = w.compatAddr
	}
	env = append(env, "PIER_KNOWN_HOSTS="+w.knownHosts(t, addr, "ecdsa-sha2-nistp256"))
	return testenv.Run(t, 2*time.Minute, t.TempDir(), env, opLines(ops), java, "-cp", jar+":"+jsch.classes, "JschFlow")
}

// nodeScript copies a script next to the npm clients' node_modules, so
// that node finds them (ES modules ignore NODE_PATH).
func nodeScript(t *testing.T, name string) string {
	mods := testenv.NodeModules(t, testdata(t, "npm"))
	dir := t.TempDir()
	if err := os.Symlink(mods, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(testdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runSSH2: ssh2-sftp-client with a password and the host key pinned by
// fingerprint, its put, exists (as partner scripts check an upload),
// rename and ssh2's utimes.
func runSSH2(t *testing.T, w *world, login string, ops []op) (string, error) {
	var steps []op
	for _, o := range ops {
		steps = append(steps, o)
		if o.kind == "put" && strings.HasPrefix(o.b, inbound) && !strings.HasSuffix(o.b, ".exe") {
			steps = append(steps, op{"exists", o.b, ""})
		}
	}
	return testenv.Run(t, 2*time.Minute, t.TempDir(), w.sshEnv(t, login, false), opLines(steps),
		testenv.Program(t, "node"), nodeScript(t, "sftp_flow.cjs"))
}

// sshOpts are OpenSSH's options for a login with its key and the host
// keys pinned.
func (w *world) sshOpts(t *testing.T, login, addr string) []string {
	return []string{"-i", w.keys[login], "-o", "UserKnownHostsFile=" + w.knownHosts(t, addr), "-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=15", "-o", "BatchMode=yes"}
}

// quote quotes a path for sftp's batch files and lftp's commands.
func quote(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }

// runOpenSSHSFTP: sftp -b with a key; put -p keeps the local file's time.
func runOpenSSHSFTP(t *testing.T, w *world, login string, ops []op) (string, error) {
	var b strings.Builder
	for _, o := range ops {
		switch o.kind {
		case "put":
			fmt.Fprintf(&b, "put -p %s %s\n", quote(o.a), quote(o.b))
		case "get":
			fmt.Fprintf(&b, "get %s %s\n", quote(o.a), quote(o.b))
		case "rename":
			fmt.Fprintf(&b, "rename %s %s\n", quote(o.a), quote(o.b))
		case "ls":
			fmt.Fprintf(&b, "ls %s\n", quote(o.a))
		}
	}
	dir := t.TempDir()
	batch := filepath.Join(dir, "batch")
	os.WriteFile(batch, []byte(b.String()), 0o600)
	args := append(w.sshOpts(t, login, w.sftpAddr), "-P", port(w.sftpAddr), "-b", batch, login+"@127.0.0.1")
	return testenv.Run(t, 2*time.Minute, dir, nil, "", testenv.Program(t, "sftp"), args...)
}

// runSCP: OpenSSH 9's scp (SFTP underneath) with -p; it cannot rename or
// list.
func runSCP(t *testing.T, w *world, login string, ops []op) (string, error) {
	var out strings.Builder
	for _, o := range ops {
		args := append(w.sshOpts(t, login, w.sftpAddr), "-P", port(w.sftpAddr))
		switch o.kind {
		case "put":
			args = append(args, "-p", o.a, login+"@127.0.0.1:"+o.b)
		case "get":
			args = append(args, login+"@127.0.0.1:"+o.a, o.b)
		default:
			return out.String(), errNotSupported
		}
		s, err := testenv.Run(t, 2*time.Minute, t.TempDir(), nil, "", testenv.Program(t, "scp"), args...)
		out.WriteString(s)
		if err != nil {
			return out.String(), err
		}
	}
	return out.String(), nil
}

// runCurlSFTP: curl (libssh2 1.10 in Debian 12) on the compatibility
// listener with a password and the ECDSA host key pinned; renames and
// times are quote commands after the transfer.
func runCurlSFTP(t *testing.T, w *world, login string, ops []op) (string, error) {
	base := "sftp://127.0.0.1:" + port(w.compatAddr)
	pin := w.pins("ecdsa-sha2-nistp256")[0]
	var out strings.Builder
	for _, o := range ops {
		args := []string{"-sS", "--fail", "-u", login + ":" + password, "--hostpubsha256", pin}
		switch o.kind {
		case "put":
			args = append(args, "-T", o.a, base+urlPath(o.b))
		case "get":
			args = append(args, "-o", o.b, base+urlPath(o.a))
		case "ls":
			args = append(args, base+urlPath(o.a)+"/")
		case "rename":
			args = append(args, "-Q", "rename "+quote(o.a)+" "+quote(o.b), base+"/")
		case "mtime":
			when := time.Unix(atoi(o.b), 0).UTC().Format(http.TimeFormat)
			args = append(args, "-Q", "mtime "+quote(when)+" "+quote(o.a), base+"/")
		}
		s, err := testenv.Run(t, 2*time.Minute, t.TempDir(), nil, "", testenv.Program(t, "curl"), args...)
		out.WriteString(s)
		if err != nil {
			return out.String(), err
		}
	}
	return out.String(), nil
}

func urlPath(p string) string { return (&url.URL{Path: p}).EscapedPath() }

func atoi(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

// runLftp: lftp's sftp with a key through OpenSSH; commands chained with
// && so that the first failure ends it.
func runLftp(t *testing.T, w *world, login string, ops []op) (string, error) {
	connect := "ssh -a -x " + strings.Join(w.sshOpts(t, login, w.sftpAddr), " ")
	cmds := []string{fmt.Sprintf(`set sftp:connect-program %s`, quote(connect)),
		fmt.Sprintf("open -u %s, -p %s sftp://127.0.0.1", login, port(w.sftpAddr))}
	for _, o := range ops {
		switch o.kind {
		case "put":
			cmds = append(cmds, fmt.Sprintf("put %s -o %s", quote(o.a), quote(o.b)))
		case "get":
			cmds = append(cmds, fmt.Sprintf("get %s -o %s", quote(o.a), quote(o.b)))
		case "rename":
			cmds = append(cmds, fmt.Sprintf("mv %s %s", quote(o.a), quote(o.b)))
		case "ls":
			cmds = append(cmds, "cls -1 "+quote(o.a+"/"))
		}
	}
	return testenv.Run(t, 2*time.Minute, t.TempDir(), nil, "", testenv.Program(t, "lftp"), "-c", strings.Join(cmds, " && "))
}
