package sftpd_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/auth"
	"pier/authfs"
	"pier/authz"
	"pier/credential"
	"pier/db"
	"pier/identity"
	"pier/internal/testenv"
	"pier/locks"
	"pier/sftpd"
	"pier/storage"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

const password = "correct horse battery staple"

// env is a running SFTP server over a modelled extranet.
type env struct {
	db      *db.DB
	log     *slog.Logger
	checked atomic.Int64 // wrong passwords the gate checked (security_test)
	srv     *sftpd.Server
	addr    string
	dir     string
	ids     *identity.Store
	store   *storage.FS
	locks   *locks.Store
	barrier authfs.Barrier // the defender, when a test sets one
	keyFile string         // private key of acme-edi, OpenSSH format
	signer  ssh.Signer
	keys    map[string]string // login -> private key file
	hostPub ssh.PublicKey     // the Ed25519 host key
	hostAll []ssh.PublicKey   // every host key
}

// start runs a server on the embedded backend, or on PostgreSQL+S3 when
// prod is set.
func start(t *testing.T, prod bool) *env { return startWith(t, prod, nil) }

// startWith lets a test adjust the server configuration.
func startWith(t *testing.T, prod bool, adjust func(*sftpd.Config)) *env {
	return startFull(t, prod, adjust, nil)
}

// startFull also lets a test give the login gate and the server options
// (a defender, MFA, CAs), made once the model is in place.
func startFull(t *testing.T, prod bool, adjust func(*sftpd.Config), options func(*env) ([]auth.Option, []sftpd.Option)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{dir: t.TempDir()}
	d, blobs := testenv.Backend(t, prod, e.dir)
	var err error
	e.db, e.ids, e.store, e.locks = d, identity.New(d), storage.New(sqlcatalog.New(d), blobs), locks.New(d)
	hasher, err := credential.NewHasher(credential.DefaultParams(), 2)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	e.model(t, hash)
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg := sftpd.DefaultConfig(filepath.Join(e.dir, "hostkeys"))
	if adjust != nil {
		adjust(&cfg)
	}
	var authOpts []auth.Option
	var srvOpts []sftpd.Option
	e.log = log
	if options != nil {
		authOpts, srvOpts = options(e)
	}
	access := authfs.New(authfs.DefaultConfig(), e.store, e.ids, e.locks, log)
	if e.barrier != nil {
		access = access.WithBarrier(e.barrier)
	}
	srv, err := sftpd.New(cfg, auth.New(e.ids, hasher, log, authOpts...), access, log, srvOpts...)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	keys, err := sftpd.LoadHostKeys(filepath.Join(e.dir, "hostkeys"))
	if err != nil {
		t.Fatal(err)
	}
	e.hostPub = keys[0].PublicKey()
	for _, k := range keys {
		e.hostAll = append(e.hostAll, k.PublicKey())
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	return e
}

func (e *env) model(t *testing.T, hash string) {
	ctx := context.Background()
	for _, o := range []identity.Org{{Slug: "hq", Kind: identity.Internal}, {Slug: "acme"}, {Slug: "globex"}} {
		if _, err := e.ids.AddOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"/hq", "/acme/inbound", "/acme/outbound", "/acme/staff", "/globex/inbound"} {
		if err := e.store.MkdirAll(ctx, vpath.MustParse(dir), "admin"); err != nil {
			t.Fatal(err)
		}
	}
	users := []identity.User{
		{Login: "acme-edi", Org: "acme", PasswordHash: hash},
		{Login: "anna", Org: "hq", PasswordHash: hash},
		{Login: "sam", Org: "acme", PasswordHash: hash, Status: authz.StatusSuspended},
		{Login: "webonly", Org: "acme", PasswordHash: hash, Protocols: []authz.Protocol{authz.WebDAV}},
	}
	cidrs, _ := identity.ParseCIDRs("10.0.0.0/8")
	users = append(users, identity.User{Login: "faraway", Org: "acme", PasswordHash: hash, CIDRs: cidrs})
	for _, u := range users {
		if _, err := e.ids.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	grant := func(to, path, perms string, allow []string, max int64) {
		sub, _ := authz.ParseSubject(to)
		p, _ := authz.ParsePerms(perms)
		if _, err := e.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse(path), Perms: p, Allow: allow, MaxSize: max}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	grant("user:acme-edi", "/acme/inbound", "create", []string{"*.edi", "*.xml", "*.filepart", "*.bin"}, 2<<30)
	grant("user:acme-edi", "/acme/outbound", "list,read", nil, 0)
	grant("user:anna", "/acme", "full", nil, 0)
	grant("user:sam", "/acme", "full", nil, 0)
	grant("user:webonly", "/acme", "full", nil, 0)
	grant("user:faraway", "/acme", "full", nil, 0)

	e.keys = map[string]string{}
	for _, login := range []string{"acme-edi", "anna"} {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		signer, _ := ssh.NewSignerFromKey(priv)
		block, _ := ssh.MarshalPrivateKey(priv, login+" test key")
		file := filepath.Join(e.dir, "id_"+login)
		os.WriteFile(file, pem.EncodeToMemory(block), 0o600)
		e.keys[login] = file
		if login == "acme-edi" {
			e.signer, e.keyFile = signer, file
		}
		sp, _ := ssh.NewPublicKey(pub)
		if _, err := e.ids.AddKey(ctx, login, identity.Key{Fingerprint: ssh.FingerprintSHA256(sp), Type: sp.Type(),
			PublicKey: string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(sp)))}); err != nil {
			t.Fatal(err)
		}
	}
	// Something for the partner to pick up.
	u, _ := e.store.Create(ctx, vpath.MustParse("/acme/outbound/order 1.edi"), storage.CreateOptions{By: "anna"})
	u.Write([]byte("UNA:+.? 'UNB+UNOC:3+HQ+ACME'"))
	if _, err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) dial(t *testing.T, user string, methods ...ssh.AuthMethod) (*sftp.Client, error) {
	t.Helper()
	conn, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: user, Auth: methods,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	c, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		conn.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c, nil
}

func (e *env) client(t *testing.T, user string) *sftp.Client {
	t.Helper()
	c, err := e.dial(t, user, ssh.Password(password))
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// status is the SFTP status code behind a client error; the client turns
// "no such file" and "permission denied" into fs errors.
func status(err error) uint32 {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fxNoSuchFile
	case errors.Is(err, fs.ErrPermission):
		return fxPermission
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

const (
	fxNoSuchFile  = 2
	fxPermission  = 3
	fxFailure     = 4
	fxUnsupported = 8
)

func TestLoginRules(t *testing.T) {
	e := start(t, false)
	if _, err := e.dial(t, "acme-edi", ssh.Password(password)); err != nil {
		t.Fatalf("password login: %v", err)
	}
	if _, err := e.dial(t, "ACME-EDI", ssh.PublicKeys(e.signer)); err != nil {
		t.Fatalf("key login (login in another case): %v", err)
	}
	for _, c := range []struct {
		user, pw string
	}{
		{"acme-edi", "wrong password, long enough"},
		{"nobody", password},
		{"sam", password},     // suspended
		{"webonly", password}, // WebDAV only
		{"faraway", password}, // allowed networks exclude 127.0.0.1
		{"anna", ""},
	} {
		if _, err := e.dial(t, c.user, ssh.Password(c.pw)); err == nil {
			t.Errorf("%s logged in", c.user)
		}
	}
	if _, err := e.dial(t, "anna", ssh.PublicKeys(e.signer)); err == nil {
		t.Error("anna logged in with acme-edi's key")
	}
}

func TestDropBoxAndHiddenNames(t *testing.T) {
	for _, prod := range []bool{false, true} {
		name := map[bool]string{false: "sqlite+disk", true: "postgres+s3"}[prod]
		t.Run(name, func(t *testing.T) {
			e := start(t, prod)
			c := e.client(t, "acme-edi")
			root, err := c.ReadDir("/")
			if err != nil || len(root) != 1 || root[0].Name() != "acme" {
				t.Fatalf("virtual root: %v %v", names(root), err)
			}
			if got, _ := c.ReadDir("/acme"); !slices.Equal(names(got), []string{"inbound", "outbound"}) {
				t.Fatalf("/acme lists %v", names(got))
			}
			put(t, c, "/acme/inbound/fi le$%<>111.edi", []byte("UNB+1"))
			if err := putErr(c, "/acme/inbound/fi le$%<>111.edi", []byte("again")); err != nil {
				t.Errorf("its own upload again: %v", err)
			}
			if got, err := c.ReadDir("/acme/inbound"); err != nil || !slices.Equal(names(got), []string{"fi le$%<>111.edi"}) {
				t.Errorf("list drop box: %v %v, want its own upload", names(got), err)
			}
			if _, err := c.Open("/acme/inbound/fi le$%<>111.edi"); status(err) != fxPermission {
				t.Errorf("read drop box: %v", err)
			}
			if err := putErr(c, "/acme/inbound/setup.exe", []byte("MZ")); status(err) != fxNoSuchFile {
				t.Errorf("pattern refused upload: %v", err)
			}
			f, err := c.Open("/acme/outbound/order 1.edi")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(f)
			f.Close()
			if !bytes.HasPrefix(b, []byte("UNA")) {
				t.Fatalf("download: %q", b)
			}
			// Hidden: the other organisation, unknown names and traversal
			// all answer "no such file", never "permission denied".
			for _, p := range []string{"/globex", "/globex/inbound", "/hq", "/acme/staff", "/../globex", "/acme/../../globex/inbound", "/acme/outbound/../../globex"} {
				if _, err := c.Stat(p); status(err) != fxNoSuchFile {
					t.Errorf("stat %s: %v", p, err)
				}
				if err := putErr(c, p+"/probe.edi", []byte("x")); status(err) != fxNoSuchFile {
					t.Errorf("put %s: %v", p, err)
				}
			}
			if err := c.Rename("/acme/outbound/order 1.edi", "/globex/inbound/x.edi"); status(err) != fxNoSuchFile && status(err) != fxPermission {
				t.Errorf("rename out of reach: %v", err)
			}
			if err := c.Symlink("/acme/outbound/order 1.edi", "/acme/inbound/link.edi"); status(err) != fxUnsupported {
				t.Errorf("symlink: %v", err)
			}
			if err := c.Link("/acme/outbound/order 1.edi", "/acme/inbound/hard.edi"); status(err) != fxUnsupported {
				t.Errorf("hard link: %v", err)
			}
			if _, err := c.Stat("/acme/in\x00bound"); err == nil {
				t.Error("NUL in a path accepted")
			}
			long := "/acme/inbound/" + string(bytes.Repeat([]byte("x"), 300)) + ".edi"
			if err := putErr(c, long, []byte("x")); status(err) != fxFailure {
				t.Errorf("over-long name: %v", err)
			}
			// WinSCP style: upload under a temporary name, rename, set time.
			put(t, c, "/acme/inbound/order 2.edi.filepart", []byte("UNB+2"))
			if err := c.PosixRename("/acme/inbound/order 2.edi.filepart", "/acme/inbound/order 2.edi"); err != nil {
				t.Errorf("rename own upload: %v", err)
			}
			when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
			if err := c.Chtimes("/acme/inbound/order 2.edi", when, when); err != nil {
				t.Errorf("set time of own upload: %v", err)
			}
			staff := e.client(t, "anna")
			st, err := staff.Stat("/acme/inbound/order 2.edi")
			if err != nil || !st.ModTime().Equal(when) {
				t.Errorf("staff sees %v %v", st, err)
			}
		})
	}
}

func names(fis []fs.FileInfo) []string {
	var out []string
	for _, fi := range fis {
		out = append(out, fi.Name())
	}
	return out
}

func put(t *testing.T, c *sftp.Client, p string, data []byte) {
	t.Helper()
	if err := putErr(c, p, data); err != nil {
		t.Fatalf("put %s: %v", p, err)
	}
}

func putErr(c *sftp.Client, p string, data []byte) error {
	f, err := c.Create(p)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestBigConcurrentUpload sends 64 MiB with 64 concurrent writes (they
// arrive out of order) and reads it back with concurrent reads.
func TestBigConcurrentUpload(t *testing.T) {
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite+disk", true: "postgres+s3"}[prod], func(t *testing.T) {
			e := start(t, prod)
			c := e.client(t, "anna")
			data := make([]byte, 64<<20)
			rand.Read(data)
			put(t, c, "/acme/staff/big.bin", data)
			f, err := c.Open("/acme/staff/big.bin")
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			if _, err := f.WriteTo(h); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatal("downloaded content differs")
			}
			e2, _ := e.store.Stat(context.Background(), vpath.MustParse("/acme/staff/big.bin"))
			if want := sha256.Sum256(data); e2.SHA256 != hexs(want[:]) {
				t.Fatal("catalog SHA-256 differs from the content's")
			}
		})
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestCutUploadLeavesNothing drops the connection in the middle of an
// upload: the file must not appear.
func TestCutUploadLeavesNothing(t *testing.T) {
	testenv.NoLeaks(t)
	e := start(t, false)
	conn, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: "anna", Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create("/acme/staff/cut.bin")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 3<<20))
	conn.Close() // no close of the file: the client vanished
	e.waitIdle(t)
	if _, err := e.store.Stat(context.Background(), vpath.MustParse("/acme/staff/cut.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("cut upload is visible: %v", err)
	}
}

// TestRefusedRequests: exec and shell run nothing; other subsystems and
// port forwarding are refused.
func TestRefusedRequests(t *testing.T) {
	e := start(t, false)
	conn, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: "anna", Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	// exec and shell run nothing: one line of explanation, exit status 1.
	if out, err := sess.CombinedOutput("cat /etc/passwd"); err == nil || !strings.HasPrefix(string(out), "pier: this server speaks SFTP only") {
		t.Errorf("exec answered: %q %v", out, err)
	}
	sess, _ = conn.NewSession()
	var stderr strings.Builder
	sess.Stderr = &stderr
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Wait(); err == nil || !strings.HasPrefix(stderr.String(), "pier: this server speaks SFTP only") {
		t.Errorf("shell: %v %q", err, stderr.String())
	}
	sess, _ = conn.NewSession()
	if ok, err := sess.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{"netconf"})); ok || err != nil {
		t.Errorf("another subsystem: %v %v", ok, err)
	}
	if _, err := conn.Listen("tcp", "127.0.0.1:0"); err == nil {
		t.Error("remote port forwarding accepted")
	}
	if _, err := conn.Dial("tcp", e.addr); err == nil {
		t.Error("local port forwarding (direct-tcpip) accepted")
	}
}

// TestWebDAVLockBlocksSFTP: one lease model. A file another user locked
// over WebDAV cannot be replaced, renamed or removed over SFTP.
func TestWebDAVLockBlocksSFTP(t *testing.T) {
	e := start(t, false)
	c := e.client(t, "anna")
	put(t, c, "/acme/staff/locked.txt", []byte("v1"))
	ctx := context.Background()
	lockIt := func() string {
		t.Helper()
		l, err := e.locks.Create(ctx, "someone-else", locks.Request{Root: vpath.MustParse("/acme/staff/locked.txt"), Duration: time.Minute, ZeroDepth: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return l.Token
	}
	tok := lockIt()
	if err := putErr(c, "/acme/staff/locked.txt", []byte("v2")); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("overwrite of a locked file: %v", err)
	}
	if err := c.Rename("/acme/staff/locked.txt", "/acme/staff/moved.txt"); err == nil {
		t.Error("rename of a locked file succeeded")
	}
	if err := c.Remove("/acme/staff/locked.txt"); err == nil {
		t.Error("remove of a locked file succeeded")
	}
	if err := c.RemoveAll("/acme/staff"); err == nil {
		t.Error("remove of a folder holding a locked file succeeded")
	}
	if err := e.locks.Unlock(ctx, "someone-else", tok, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	put(t, c, "/acme/staff/locked.txt", []byte("v2"))
	// A lock taken while an upload streams stops its publish.
	f, err := c.Create("/acme/staff/locked.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("v3"))
	tok = lockIt()
	if err := f.Close(); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("upload published over a lock taken meanwhile: %v", err)
	}
	e.locks.Unlock(ctx, "someone-else", tok, time.Now(), nil)
}

// TestIdleTimeout: a client that logs in and then says nothing is
// disconnected after the idle timeout.
func TestIdleTimeout(t *testing.T) {
	e := startWith(t, false, func(c *sftpd.Config) { c.IdleTimeout = time.Second })
	conn, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: "anna", Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan struct{})
	go func() { conn.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a silent connection was still open 10 s after a 1 s idle timeout")
	}
}

// TestExclusiveCreate: O_EXCL refuses an existing file.
func TestExclusiveCreate(t *testing.T) {
	e := start(t, false)
	c := e.client(t, "anna")
	f, err := c.OpenFile("/acme/staff/excl.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("first"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f, err := c.OpenFile("/acme/staff/excl.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL); err == nil {
		f.Close()
		t.Fatal("O_EXCL opened an existing file")
	}
}

// TestSetstat: times are stored; permissions are accepted and ignored,
// unless StrictSetstat refuses them.
func TestSetstat(t *testing.T) {
	for _, strict := range []bool{false, true} {
		e := startWith(t, false, func(c *sftpd.Config) { c.StrictSetstat = strict })
		c := e.client(t, "anna")
		put(t, c, "/acme/staff/s.txt", []byte("x"))
		err := c.Chmod("/acme/staff/s.txt", 0o600)
		if strict && status(err) != fxUnsupported || !strict && err != nil {
			t.Errorf("strict=%v: chmod answered %v", strict, err)
		}
		when := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
		if err := c.Chtimes("/acme/staff/s.txt", when, when); err != nil {
			t.Errorf("strict=%v: chtimes: %v", strict, err)
		}
		if st, _ := c.Stat("/acme/staff/s.txt"); !st.ModTime().Equal(when) {
			t.Errorf("strict=%v: mtime %v", strict, st.ModTime())
		}
		if err := c.Truncate("/acme/staff/s.txt", 0); status(err) != fxUnsupported {
			t.Errorf("truncate: %v", err)
		}
	}
}
