package davd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"pier/auth"
	"pier/authfs"
	"pier/authz"
	"pier/credential"
	"pier/davd"
	"pier/db"
	"pier/identity"
	"pier/internal/testenv"
	"pier/locks"
	"pier/storage"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

const password = "correct horse battery staple"

type env struct {
	url   string // http://127.0.0.1:port/dav
	addr  string // 127.0.0.1:port
	ids   *identity.Store
	store *storage.FS
	locks *locks.Store
	logs  *syncBuffer // what the server logged
}

// syncBuffer collects log output from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func start(t *testing.T, prod bool) *env { return startWith(t, prod, nil, nil) }

// startWith lets a test adjust the configuration or wrap the catalog
// (to make it fail on purpose).
func startWith(t *testing.T, prod bool, adjust func(*davd.Config), wrap func(storage.Catalog) storage.Catalog) *env {
	return startFull(t, prod, adjust, wrap, nil)
}

// startFull also gives the login gate and the server options (a
// defender, MFA), and what bars open sessions (the defender), made once
// the model is in place.
func startFull(t *testing.T, prod bool, adjust func(*davd.Config), wrap func(storage.Catalog) storage.Catalog,
	options func(*db.DB, *slog.Logger) ([]auth.Option, []davd.Option, authfs.Barrier)) *env {
	t.Helper()
	ctx := context.Background()
	d, blobs := testenv.Backend(t, prod, t.TempDir())
	var cat storage.Catalog = sqlcatalog.New(d)
	if wrap != nil {
		cat = wrap(cat)
	}
	e := &env{ids: identity.New(d), store: storage.New(cat, blobs), logs: &syncBuffer{}}
	hasher, err := credential.NewHasher(credential.DefaultParams(), 2)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := hasher.Hash(ctx, password)
	e.model(t, hash)
	var out io.Writer = e.logs
	if testing.Verbose() {
		out = io.MultiWriter(e.logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(out, nil))
	e.locks = locks.New(d)
	cfg := davd.DefaultConfig()
	if adjust != nil {
		adjust(&cfg)
	}
	var authOpts []auth.Option
	var srvOpts []davd.Option
	access := authfs.New(authfs.DefaultConfig(), e.store, e.ids, e.locks, log)
	if options != nil {
		var bar authfs.Barrier
		if authOpts, srvOpts, bar = options(d, log); bar != nil {
			access = access.WithBarrier(bar)
		}
	}
	srv := davd.New(cfg, auth.New(e.ids, hasher, log, authOpts...), access, log, srvOpts...)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e.url, e.addr = ts.URL+"/dav", ts.Listener.Addr().String()
	return e
}

func (e *env) model(t *testing.T, hash string) {
	ctx := context.Background()
	for _, o := range []identity.Org{{Slug: "hq", Kind: identity.Internal}, {Slug: "acme"}, {Slug: "globex"}} {
		if _, err := e.ids.AddOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"/hq/litmus", "/acme/inbound", "/acme/outbound", "/acme/staff", "/globex/inbound"} {
		if err := e.store.MkdirAll(ctx, vpath.MustParse(dir), "admin"); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []identity.User{{Login: "acme-edi", Org: "acme", PasswordHash: hash},
		{Login: "anna", Org: "hq", PasswordHash: hash}, {Login: "sftponly", Org: "acme", PasswordHash: hash, Protocols: []authz.Protocol{authz.SFTP}}} {
		if _, err := e.ids.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	grant := func(to, path, perms string, max int64) {
		sub, _ := authz.ParseSubject(to)
		p, _ := authz.ParsePerms(perms)
		if _, err := e.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse(path), Perms: p, MaxSize: max}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	grant("user:acme-edi", "/acme/inbound", "create", 1<<20)
	grant("user:acme-edi", "/acme/outbound", "list,read", 0)
	grant("user:anna", "/acme", "full", 0)
	grant("user:anna", "/hq/litmus", "full", 0)
	grant("user:sftponly", "/acme", "full", 0)
	u, _ := e.store.Create(ctx, vpath.MustParse("/acme/outbound/order 1.edi"), storage.CreateOptions{})
	u.Write([]byte("UNB+ORDERS"))
	if _, err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

type resp struct {
	code   int
	body   string
	header http.Header
}

func (e *env) do(t *testing.T, user, method, path string, body io.Reader, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return resp{res.StatusCode, string(b), res.Header}
}

func expect(t *testing.T, what string, r resp, code int) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: status %d, want %d (%.200s)", what, r.code, code, r.body)
	}
}

func TestAuthAndBasics(t *testing.T) {
	e := start(t, false)
	r := e.do(t, "", "PROPFIND", "/", nil, "Depth", "1")
	expect(t, "no credentials", r, 401)
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `realm="pier"`) {
		t.Errorf("challenge %q", r.header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest("PROPFIND", e.url+"/", nil)
	req.SetBasicAuth("anna", "wrong password, long enough")
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != 401 {
		t.Errorf("wrong password: %d", res.StatusCode)
	}
	expect(t, "SFTP-only account", e.do(t, "sftponly", "PROPFIND", "/", nil, "Depth", "0"), 401)
	expect(t, "unknown method", e.do(t, "anna", "TRACE", "/", nil), 405)

	r = e.do(t, "anna", "PROPFIND", "/", nil, "Depth", "1")
	expect(t, "root listing", r, 207)
	if !strings.Contains(r.body, "/dav/acme/") || !strings.Contains(r.body, "/dav/hq/") || strings.Contains(r.body, "globex") {
		t.Errorf("anna's root lists: %s", r.body)
	}
	expect(t, "PUT", e.do(t, "anna", "PUT", "/acme/staff/fi%20le$%25%3C%3E111.txt", strings.NewReader("hello"), "X-OC-Mtime", "1577934245"), 201)
	r = e.do(t, "anna", "GET", "/acme/staff/fi%20le$%25%3C%3E111.txt", nil, "Range", "bytes=1-3")
	expect(t, "ranged GET", r, 206)
	if r.body != "ell" || !strings.HasPrefix(r.header.Get("OC-Checksum"), "SHA256:") || r.header.Get("ETag") == "" {
		t.Errorf("ranged GET body %q headers %v", r.body, r.header)
	}
	if lm := r.header.Get("Last-Modified"); lm != "Thu, 02 Jan 2020 03:04:05 GMT" {
		t.Errorf("Last-Modified %q: X-OC-Mtime not honoured", lm)
	}
	r = e.do(t, "anna", "PROPFIND", "/acme/staff/fi%20le$%25%3C%3E111.txt", nil, "Depth", "0")
	for _, prop := range []string{"<D:getcontentlength>5</D:getcontentlength>", "<D:getlastmodified>", "<D:getetag>", "<D:getcontenttype>text/plain", "<D:resourcetype>", "<D:creationdate>"} {
		if !strings.Contains(r.body, prop) {
			t.Errorf("allprop lacks %s: %s", prop, r.body)
		}
	}
	expect(t, "HEAD on a collection", e.do(t, "anna", "HEAD", "/acme/staff/", nil), 200)
	expect(t, "MKCOL", e.do(t, "anna", "MKCOL", "/acme/staff/new", nil), 201)
	expect(t, "MKCOL without parent", e.do(t, "anna", "MKCOL", "/acme/staff/no/such", nil), 409)
	expect(t, "PUT without parent", e.do(t, "anna", "PUT", "/acme/staff/no/such.txt", strings.NewReader("x")), 409)
	expect(t, "MOVE", e.do(t, "anna", "MOVE", "/acme/staff/fi%20le$%25%3C%3E111.txt", nil, "Destination", e.url+"/acme/staff/new/moved.txt"), 201)
	expect(t, "COPY", e.do(t, "anna", "COPY", "/acme/staff/new/moved.txt", nil, "Destination", e.url+"/acme/staff/copy.txt"), 201)
	expect(t, "COPY to another host", e.do(t, "anna", "COPY", "/acme/staff/copy.txt", nil, "Destination", "http://evil.example/dav/acme/x"), 502)
	expect(t, "MOVE out of reach", e.do(t, "anna", "MOVE", "/acme/staff/copy.txt", nil, "Destination", e.url+"/globex/inbound/x"), 403)
	expect(t, "DELETE", e.do(t, "anna", "DELETE", "/acme/staff/new", nil), 204)
	expect(t, "GET after DELETE", e.do(t, "anna", "GET", "/acme/staff/new/moved.txt", nil), 404)
}

func TestPermissionsThroughWebDAV(t *testing.T) {
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite+disk", true: "postgres+s3"}[prod], func(t *testing.T) {
			e := start(t, prod)
			expect(t, "drop", e.do(t, "acme-edi", "PUT", "/acme/inbound/a.edi", strings.NewReader("UNB")), 201)
			expect(t, "its own upload again", e.do(t, "acme-edi", "PUT", "/acme/inbound/a.edi", strings.NewReader("UNB2")), 204)
			if r := e.do(t, "acme-edi", "PROPFIND", "/acme/inbound/", nil, "Depth", "1"); r.code != 207 || !strings.Contains(r.body, "/dav/acme/inbound/a.edi") {
				t.Errorf("list drop box: %d %s", r.code, r.body)
			}
			expect(t, "read drop box", e.do(t, "acme-edi", "GET", "/acme/inbound/a.edi", nil), 403)
			expect(t, "too large", e.do(t, "acme-edi", "PUT", "/acme/inbound/big.edi", strings.NewReader(strings.Repeat("x", 1<<20+1))), 413)
			expect(t, "too large leaves nothing", e.do(t, "anna", "GET", "/acme/inbound/big.edi", nil), 404)
			expect(t, "read outbound", e.do(t, "acme-edi", "GET", "/acme/outbound/order%201.edi", nil), 200)
			lockBody := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:%s/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
			for _, scope := range []string{"exclusive", "shared"} {
				expect(t, "read-only user locks ("+scope+")", e.do(t, "acme-edi", "LOCK", "/acme/outbound/order%201.edi", strings.NewReader(fmt.Sprintf(lockBody, scope))), 403)
				expect(t, "lock of a hidden path ("+scope+")", e.do(t, "acme-edi", "LOCK", "/globex/inbound/x", strings.NewReader(fmt.Sprintf(lockBody, scope))), 404)
			}
			expect(t, "write outbound", e.do(t, "acme-edi", "PUT", "/acme/outbound/x.edi", strings.NewReader("x")), 403)
			expect(t, "delete outbound", e.do(t, "acme-edi", "DELETE", "/acme/outbound/order%201.edi", nil), 403)
			for _, p := range []string{"/globex/", "/globex/inbound/", "/hq/", "/acme/staff/", "/acme/secret-that-does-not-exist/"} {
				expect(t, "PROPFIND hidden "+p, e.do(t, "acme-edi", "PROPFIND", p, nil, "Depth", "0"), 404)
				expect(t, "GET hidden "+p, e.do(t, "acme-edi", "GET", p+"x", nil), 404)
				if r := e.do(t, "acme-edi", "PUT", p+"x.edi", strings.NewReader("x")); r.code != 404 && r.code != 409 {
					t.Errorf("PUT hidden %s: %d", p, r.code)
				}
			}
			r := e.do(t, "acme-edi", "PROPFIND", "/acme/", nil, "Depth", "1")
			if r.code != 207 || !strings.Contains(r.body, "inbound") || strings.Contains(r.body, "staff") {
				t.Errorf("acme-edi's /acme: %d %s", r.code, r.body)
			}
		})
	}
}

func TestHostileRequests(t *testing.T) {
	e := start(t, false)
	for _, p := range []string{"/%2e%2e/%2e%2e/etc/passwd", "/acme/..%2f..%2fglobex/inbound/", "/acme/%252e%252e/globex/", "/acme%5c..%5cglobex/", "/acme/a%00b", "/../globex/inbound/"} {
		r := e.do(t, "acme-edi", "PROPFIND", p, nil, "Depth", "0")
		if r.code == 207 || r.code/100 == 2 {
			t.Errorf("PROPFIND %s: %d %s", p, r.code, r.body)
		}
		r = e.do(t, "acme-edi", "PUT", p+"x.edi", strings.NewReader("x"))
		if r.code/100 == 2 {
			t.Errorf("PUT %s: %d", p, r.code)
		}
	}
	expect(t, "PROPFIND without Depth", e.do(t, "anna", "PROPFIND", "/acme/", nil), 403)
	r := e.do(t, "anna", "PROPFIND", "/acme/", nil, "Depth", "infinity")
	if r.code != 403 || !strings.Contains(r.body, "propfind-finite-depth") {
		t.Errorf("Depth infinity: %d %s", r.code, r.body)
	}
	big := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>` + strings.Repeat("<D:getetag/>", 200_000) + `</D:prop></D:propfind>`
	expect(t, "2 MB PROPFIND body", e.do(t, "anna", "PROPFIND", "/acme/", strings.NewReader(big), "Depth", "0"), 413)
	// 200 MB sent chunked (no Content-Length): refused after the first MiB.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	huge := io.MultiReader(strings.NewReader(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>`),
		io.LimitReader(repeatReader("<D:getetag/>"), 200<<20))
	req, _ := http.NewRequest("PROPFIND", e.url+"/acme/", struct{ io.Reader }{huge})
	req.SetBasicAuth("anna", password)
	req.Header.Set("Depth", "0")
	if res, err := http.DefaultClient.Do(req); err == nil {
		if res.StatusCode != 413 {
			t.Errorf("200 MB chunked PROPFIND: %d", res.StatusCode)
		}
		res.Body.Close()
	} // an error means the server hung up on the rest of the body: fine
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<20 {
		t.Errorf("heap grew by %d MB on a refused 200 MB body", grown>>20)
	}
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname></D:prop></D:propfind>`
	if r := e.do(t, "anna", "PROPFIND", "/acme/", strings.NewReader(laughs), "Depth", "0"); r.code/100 == 2 && strings.Contains(r.body, "lollollol") {
		t.Errorf("entities expanded: %d", r.code)
	}
}

type repeatReader string

func (r repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r)
	}
	return n, nil
}
