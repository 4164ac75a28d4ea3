package paritytest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
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

type outcome string

const (
	ok       outcome = "ok"
	denied   outcome = "denied"
	notFound outcome = "not found"
	tooBig   outcome = "too large"
)

// matrix is the policy, in the order it runs (later cases see earlier
// uploads). Users: acme-edi has a drop box on /acme/inbound (create, *.edi
// only, 1 KiB) and reads /acme/outbound; anna (group staff) reads and
// writes /acme without delete; boss has everything on /acme; nobody in
// particular may see /globex or /hq.
var matrix = []struct {
	user, op, path, to string
	want               outcome
}{
	{"acme-edi", "create", "/acme/inbound/a.edi", "", ok},
	{"acme-edi", "create", "/acme/inbound/a.edi", "", ok}, // its own upload again (a retry)
	{"acme-edi", "create", "/acme/inbound/setup.exe", "", notFound},
	{"acme-edi", "create", "/acme/inbound/big.edi", "big", tooBig},
	{"acme-edi", "list", "/acme/inbound", "", ok}, // its own uploads only
	{"acme-edi", "read", "/acme/inbound/a.edi", "", denied},
	{"acme-edi", "stat", "/acme/inbound/a.edi", "", ok},
	{"acme-edi", "stat", "/acme/inbound/free.edi", "", notFound},
	{"acme-edi", "stat", "/acme/inbound", "", ok},
	{"acme-edi", "list", "/acme/outbound", "", ok},
	{"acme-edi", "read", "/acme/outbound/po.edi", "", ok},
	{"acme-edi", "create", "/acme/outbound/x.edi", "", denied},
	{"acme-edi", "delete", "/acme/outbound/po.edi", "", denied},
	{"acme-edi", "mkdir", "/acme/inbound/sub", "", denied},
	{"acme-edi", "stat", "/acme/private", "", notFound},
	{"acme-edi", "list", "/globex", "", notFound},
	{"acme-edi", "read", "/globex/inbound/x.edi", "", notFound},
	{"acme-edi", "create", "/globex/inbound/x.edi", "", notFound},
	{"acme-edi", "stat", "/hq", "", notFound},
	{"acme-edi", "rename", "/acme/outbound/po.edi", "/acme/inbound/po.edi", denied},
	{"anna", "read", "/acme/inbound/a.edi", "", ok},
	{"anna", "list", "/acme/inbound", "", ok},
	{"anna", "create", "/acme/outbound/new.pdf", "", ok},
	{"anna", "create", "/acme/outbound/new.pdf", "", ok}, // overwrite
	{"anna", "mkdir", "/acme/outbound/archive", "", ok},
	{"anna", "delete", "/acme/outbound/new.pdf", "", denied},
	{"anna", "rename", "/acme/outbound/po.edi", "/acme/outbound/archive/po.edi", denied},
	{"anna", "list", "/globex", "", notFound},
	{"anna", "read", "/acme/private/secret.txt", "", ok},
	// A drop box does not learn that a name is taken: its upload is kept
	// beside the other file, and it sees its own.
	{"anna", "create", "/acme/inbound/taken.edi", "", ok},
	{"acme-edi", "stat", "/acme/inbound/taken.edi", "", notFound},
	{"acme-edi", "create", "/acme/inbound/taken.edi", "", ok},
	{"acme-edi", "stat", "/acme/inbound/taken.edi", "", ok},
	{"anna", "read", "/acme/inbound/taken.edi", "", ok},
	{"boss", "rename", "/acme/outbound/po.edi", "/acme/outbound/archive/po.edi", ok},
	{"boss", "delete", "/acme/outbound/new.pdf", "", ok},
	{"boss", "read", "/acme/outbound/new.pdf", "", notFound},
	{"boss", "rename", "/acme/outbound/archive/po.edi", "/globex/inbound/po.edi", denied},
	{"boss", "delete", "/acme/inbound/a.edi", "", ok},
	{"sam", "list", "/acme", "", notFound}, // suspended
}

func TestSameDecisionsOverSFTPAndWebDAV(t *testing.T) {
	viaSFTP, viaDAV := newWorld(t), newWorld(t)
	for i, c := range matrix {
		s := viaSFTP.sftpDo(t, c.user, c.op, c.path, c.to)
		d := viaDAV.davDo(t, c.user, c.op, c.path, c.to)
		if s != c.want || d != c.want {
			t.Errorf("case %d: %s %s %s %s: SFTP %s, WebDAV %s, want %s", i, c.user, c.op, c.path, c.to, s, d, c.want)
		}
	}
}

type world struct {
	sftpAddr, davURL string
	clients          map[string]*sftp.Client
}

func newWorld(t *testing.T) *world {
	ctx := context.Background()
	dir := t.TempDir()
	d, blobs := testenv.Backend(t, false, dir)
	ids, store, ls := identity.New(d), storage.New(sqlcatalog.New(d), blobs), locks.New(d)
	hasher, _ := credential.NewHasher(credential.DefaultParams(), 2)
	hash, _ := hasher.Hash(ctx, password)
	for _, o := range []identity.Org{{Slug: "hq", Kind: identity.Internal}, {Slug: "acme"}, {Slug: "globex"}} {
		must(t, second(ids.AddOrg(ctx, o)))
	}
	for _, p := range []string{"/hq", "/acme/inbound", "/acme/outbound", "/acme/private", "/globex/inbound"} {
		must(t, store.MkdirAll(ctx, vpath.MustParse(p), "admin"))
	}
	for _, u := range []identity.User{{Login: "acme-edi", Org: "acme"}, {Login: "anna", Org: "hq"}, {Login: "boss", Org: "hq"},
		{Login: "sam", Org: "acme", Status: authz.StatusSuspended}} {
		u.PasswordHash = hash
		must(t, second(ids.AddUser(ctx, u)))
	}
	must(t, second(ids.AddGroup(ctx, "staff", "")))
	must(t, ids.AddMember(ctx, "staff", authz.Subject{Kind: authz.UserSubject, Name: "anna"}))
	for _, g := range []struct {
		to, path, perms string
		allow           []string
		max             int64
	}{
		{"user:acme-edi", "/acme/inbound", "create", []string{"*.edi"}, 1024},
		{"user:acme-edi", "/acme/outbound", "list,read", nil, 0},
		{"group:staff", "/acme", "list,read,create,overwrite,mkdir", nil, 0},
		{"user:boss", "/acme", "full", nil, 0},
		{"user:sam", "/acme", "full", nil, 0},
	} {
		sub, _ := authz.ParseSubject(g.to)
		p, _ := authz.ParsePerms(g.perms)
		must(t, second(ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse(g.path), Perms: p, Allow: g.allow, MaxSize: g.max}, "t")))
	}
	for _, f := range []string{"/acme/outbound/po.edi", "/acme/private/secret.txt"} {
		u, _ := store.Create(ctx, vpath.MustParse(f), storage.CreateOptions{})
		u.Write([]byte("content"))
		must(t, second(u.Close()))
	}
	log := slog.New(slog.DiscardHandler)
	a, access := auth.New(ids, hasher, log), authfs.New(authfs.DefaultConfig(), store, ids, ls, log)
	srv, err := sftpd.New(sftpd.DefaultConfig(filepath.Join(dir, "hostkeys")), a, access, log)
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	hs := httptest.NewServer(davd.New(davd.DefaultConfig(), a, access, log))
	t.Cleanup(hs.Close)
	return &world{sftpAddr: ln.Addr().String(), davURL: hs.URL + "/dav", clients: map[string]*sftp.Client{}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func second[T any](_ T, err error) error { return err }

func body(to string) []byte {
	if to == "big" {
		return bytes.Repeat([]byte("x"), 2048)
	}
	return []byte("UNB+data")
}

func (w *world) client(t *testing.T, user string) (*sftp.Client, error) {
	if c, ok := w.clients[user]; ok {
		return c, nil
	}
	conn, err := ssh.Dial("tcp", w.sftpAddr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		return nil, err
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	w.clients[user] = c
	return c, nil
}

func (w *world) sftpDo(t *testing.T, user, op, p, to string) outcome {
	c, err := w.client(t, user)
	if err != nil {
		return notFound // a refused login: the user sees nothing
	}
	switch op {
	case "stat":
		_, err = c.Stat(p)
	case "list":
		_, err = c.ReadDir(p)
	case "read":
		var f *sftp.File
		if f, err = c.Open(p); err == nil {
			_, err = io.ReadAll(f)
			f.Close()
		}
	case "create":
		var f *sftp.File
		if f, err = c.Create(p); err == nil {
			_, err = f.Write(body(to))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	case "mkdir":
		err = c.Mkdir(p)
	case "delete":
		err = c.Remove(p)
	case "rename":
		err = c.Rename(p, to)
	}
	switch {
	case err == nil:
		return ok
	case errors.Is(err, fs.ErrNotExist):
		return notFound
	case errors.Is(err, fs.ErrPermission):
		return denied
	case strings.Contains(err.Error(), "too large"):
		return tooBig
	}
	return outcome("error: " + err.Error())
}

func (w *world) davDo(t *testing.T, user, op, p, to string) outcome {
	method, hdr := map[string]string{"stat": "PROPFIND", "list": "PROPFIND", "read": "GET", "create": "PUT",
		"mkdir": "MKCOL", "delete": "DELETE", "rename": "MOVE"}[op], http.Header{}
	var rd io.Reader
	switch op {
	case "stat":
		hdr.Set("Depth", "0")
	case "list":
		hdr.Set("Depth", "1")
	case "create":
		rd = bytes.NewReader(body(to))
	case "rename":
		hdr.Set("Destination", w.davURL+to)
	}
	req, _ := http.NewRequest(method, w.davURL+p, rd)
	req.Header = hdr
	req.SetBasicAuth(user, password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch {
	case res.StatusCode/100 == 2:
		return ok
	case res.StatusCode == 403:
		return denied
	case res.StatusCode == 404, res.StatusCode == 401:
		return notFound
	case res.StatusCode == 413:
		return tooBig
	}
	return outcome("status " + res.Status)
}
