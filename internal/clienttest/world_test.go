package clienttest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/auth"
	"pier/authfs"
	"pier/authz"
	"pier/credential"
	"pier/davd"
	"pier/identity"
	"pier/internal/testenv"
	"pier/locks"
	"pier/sftpd"
	"pier/storage"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

const password = "correct horse battery staple"

// world is a running pier over one backend: the SFTP listener, the SFTP
// compatibility listener and WebDAV over TLS with the self-signed
// certificate pier makes, all over the extranet of the README's example.
type world struct {
	backend string
	dir     string
	ids     *identity.Store
	store   *storage.FS
	access  *authfs.FS

	sftpAddr, compatAddr string
	davURL               string // https://127.0.0.1:PORT/dav
	caFile               string // the WebDAV certificate, as a partner gets it
	hostKeys             []ssh.PublicKey
	keys                 map[string]string // login -> private key file
}

// The extranet: partner acme drops EDI files into /acme/inbound (create,
// *.edi only, as the README's example) and fetches from /acme/outbound;
// legacy is acme's old integration platform, marked for the compatibility
// listener; anna is staff with every right on /acme.
const (
	inbound  = "/acme/inbound"
	outbound = "/acme/outbound"
	order    = "/acme/outbound/order 1.edi"
)

var orderBody = []byte("UNA:+.? 'UNB+UNOC:3+HQ+ACME+261201:1200+1'UNH+1+ORDERS:D:96A:UN'BGM+220+PO-1+9'\n")

func backendName(prod bool) string {
	if prod {
		return "postgres+s3"
	}
	return "sqlite+disk"
}

// newWorld starts pier on SQLite and disk, or PostgreSQL and MinIO with
// prod set; wrap, if set, wraps the blob store (to fill it on purpose).
func newWorld(t *testing.T, prod bool, wrap func(storage.BlobStore) storage.BlobStore) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{backend: backendName(prod), dir: t.TempDir(), keys: map[string]string{}}
	d, blobs := testenv.Backend(t, prod, w.dir)
	if wrap != nil {
		blobs = wrap(blobs)
	}
	w.ids, w.store = identity.New(d), storage.New(sqlcatalog.New(d), blobs)
	hasher, err := credential.NewHasher(credential.DefaultParams(), 2)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	w.model(t, hash)
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a := auth.New(w.ids, hasher, log)
	w.access = authfs.New(authfs.DefaultConfig(), w.store, w.ids, locks.New(d), log)
	for _, compat := range []bool{false, true} {
		cfg := sftpd.DefaultConfig(filepath.Join(w.dir, "hostkeys"))
		cfg.Compat = compat
		srv, err := sftpd.New(cfg, a, w.access, log.With("listener", map[bool]string{false: "sftp", true: "compat"}[compat]))
		if err != nil {
			t.Fatal(err)
		}
		ln := listen(t)
		go srv.Serve(ln)
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		})
		if compat {
			w.compatAddr = ln.Addr().String()
		} else {
			w.sftpAddr = ln.Addr().String()
		}
	}
	keys, err := sftpd.LoadHostKeys(filepath.Join(w.dir, "hostkeys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		w.hostKeys = append(w.hostKeys, k.PublicKey())
	}
	w.startDAV(t, a, log)
	return w
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startDAV serves WebDAV over TLS with the certificate pier makes for
// itself, as node does: the one a partner is given and trusts.
func (w *world) startDAV(t *testing.T, a *auth.Service, log *slog.Logger) {
	ln := listen(t)
	certFile, keyFile, _, err := davd.SelfSigned(filepath.Join(w.dir, "tls"), davd.ListenNames(ln.Addr().String(), nil))
	if err != nil {
		t.Fatal(err)
	}
	tc, _, err := davd.TLSConfig(certFile, keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: davd.New(davd.DefaultConfig(), a, w.access, log), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(tls.NewListener(ln, tc))
	t.Cleanup(func() { srv.Close() })
	w.caFile = certFile
	w.davURL = "https://" + ln.Addr().String() + "/dav"
}

func (w *world) model(t *testing.T, hash string) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []identity.Org{{Slug: "hq", Kind: identity.Internal}, {Slug: "acme"}, {Slug: "globex"}} {
		_, err := w.ids.AddOrg(ctx, o)
		must(err)
	}
	for _, dir := range []string{inbound, outbound, "/acme/staff", "/globex/inbound"} {
		must(w.store.MkdirAll(ctx, vpath.MustParse(dir), "admin"))
	}
	for _, u := range []identity.User{
		{Login: "acme-edi", Org: "acme", PasswordHash: hash},
		{Login: "legacy", Org: "acme", PasswordHash: hash, SSHCompat: true},
		{Login: "anna", Org: "hq", PasswordHash: hash},
	} {
		_, err := w.ids.AddUser(ctx, u)
		must(err)
	}
	grant := func(to, path, perms string, allow []string, max int64) {
		sub, _ := authz.ParseSubject(to)
		p, err := authz.ParsePerms(perms)
		must(err)
		_, err = w.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse(path), Perms: p, Allow: allow, MaxSize: max}, "t")
		must(err)
	}
	for _, partner := range []string{"user:acme-edi", "user:legacy"} {
		grant(partner, inbound, "create", []string{"*.edi"}, 50_000_000)
		grant(partner, outbound, "list,read", nil, 0)
	}
	grant("user:anna", "/acme", "full", nil, 0)
	w.addKey(t, "acme-edi", false)
	w.addKey(t, "anna", false)
	w.addKey(t, "legacy", true)
	u, err := w.store.Create(ctx, vpath.MustParse(order), storage.CreateOptions{By: "anna"})
	must(err)
	u.Write(orderBody)
	_, err = u.Close()
	must(err)
}

// addKey gives a user a key: Ed25519 in OpenSSH's format, or for legacy
// an RSA key in the PEM form JSch 0.1.54 reads.
func (w *world) addKey(t *testing.T, login string, rsaPEM bool) {
	var signer ssh.Signer
	var block *pem.Block
	if rsaPEM {
		key, _ := rsa.GenerateKey(rand.Reader, 2048)
		signer, _ = ssh.NewSignerFromKey(key)
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	} else {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		signer, _ = ssh.NewSignerFromKey(priv)
		block, _ = ssh.MarshalPrivateKey(priv, login)
	}
	file := filepath.Join(w.dir, "id_"+login)
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	w.keys[login] = file
	pub := signer.PublicKey()
	if _, err := w.ids.AddKey(context.Background(), login, identity.Key{Fingerprint: ssh.FingerprintSHA256(pub), Type: pub.Type(),
		PublicKey: string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pub)))}); err != nil {
		t.Fatal(err)
	}
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// knownHosts writes a known_hosts file pinning the host keys of the
// listener at addr, of the given types (all when none is given).
func (w *world) knownHosts(t *testing.T, addr string, types ...string) string {
	var b strings.Builder
	for _, k := range w.hostKeys {
		if len(types) == 0 || contains(types, k.Type()) {
			fmt.Fprintf(&b, "[127.0.0.1]:%s %s", port(addr), ssh.MarshalAuthorizedKey(k))
		}
	}
	f := filepath.Join(w.dir, "known_hosts-"+port(addr)+"-"+strings.Join(types, "-"))
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// pins returns the host keys' SHA-256 fingerprints as base64 without
// padding (ssh2's and curl's form), of the given types (all when none).
func (w *world) pins(types ...string) []string {
	var out []string
	for _, k := range w.hostKeys {
		if len(types) == 0 || contains(types, k.Type()) {
			sum := sha256.Sum256(k.Marshal())
			out = append(out, base64.RawStdEncoding.EncodeToString(sum[:]))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// stat reads an entry from the catalog, whoever may see it.
func (w *world) stat(p string) (storage.Entry, error) {
	return w.store.Stat(context.Background(), vpath.MustParse(p))
}

// content reads a file from the store, whoever may read it.
func (w *world) content(p string) ([]byte, error) {
	f, err := w.store.Open(context.Background(), vpath.MustParse(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(f)
	return b.Bytes(), err
}

// gaps names the server behaviour of issue 9 that a partner's drop needs
// and pier does not have yet, probing the authorising file system as the
// partner: "stat" (see and date one's own recent upload), "list" (a drop
// box lists the uploader's own recent uploads), "temp" (temporary names
// judged by the final name). Empty when all is there.
type gaps map[string]string

func (w *world) gaps(t *testing.T) gaps {
	t.Helper()
	ctx := context.Background()
	s := w.access.Session(authfs.Principal{Login: "acme-edi", Protocol: authz.SFTP})
	g := gaps{}
	probe := vpath.MustParse(inbound + "/probe-" + strings.ReplaceAll(t.Name(), "/", "-") + ".edi")
	up, err := s.Create(ctx, probe, authfs.CreateOptions{})
	if err != nil {
		t.Fatalf("probe upload: %v", err)
	}
	up.Write([]byte("UNB+probe'"))
	if _, err := up.Close(); err != nil {
		t.Fatalf("probe upload: %v", err)
	}
	if _, err := s.Stat(ctx, probe); err != nil {
		g["stat"] = "the uploader's right to see and date their own recent upload in a drop box (issue 9 item 1)"
	}
	listed := false
	for e, err := range s.ReadDir(ctx, probe.Parent()) {
		if err != nil {
			break
		}
		listed = listed || e.Path == probe
	}
	if !listed {
		g["list"] = "drop-box listings that show the uploader's own recent uploads (issue 9 item 1)"
	}
	if up, err := s.Create(ctx, vpath.MustParse(inbound+"/probe.edi.filepart"), authfs.CreateOptions{}); err != nil {
		g["temp"] = "temporary names (.filepart, .part, .partial) judged by the final name (issue 9 item 2)"
	} else {
		up.Abort()
	}
	return g
}

// explain joins the gaps a flow depends on; "" when none is missing.
func (g gaps) explain(needs ...string) string {
	var out []string
	for _, n := range needs {
		if why := g[n]; why != "" {
			out = append(out, why)
		}
	}
	return strings.Join(out, " and ")
}

// localFile writes a file with random EDI-like content and the given
// modification time, and returns its path and content.
func localFile(t *testing.T, dir, name string, mtime time.Time) (string, []byte) {
	t.Helper()
	var r [16]byte
	rand.Read(r[:])
	body := fmt.Appendf(nil, "UNB+UNOC:3+ACME+HQ+%x'UNH+1+DESADV'\n", r)
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return p, body
}

var errNotSupported = errors.New("the client has no way to do this")
