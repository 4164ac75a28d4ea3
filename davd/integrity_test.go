package davd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"pier/authz"
	"pier/davd"
	"pier/identity"
	"pier/internal/testenv"
	"pier/storage"
	"pier/vpath"
)

func backendsDAV(t *testing.T, fn func(t *testing.T, prod bool)) {
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite+disk", true: "postgres+s3"}[prod], func(t *testing.T) { fn(t, prod) })
	}
}

// raw sends a hand-written HTTP request on its own connection and returns
// the status line's code, or 0 when the server hung up without answering.
// half closes the sending side after the request, as a client that stops
// sending does; wait is how long to wait for an answer.
func (e *env) raw(t *testing.T, request string, half bool, wait time.Duration) int {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	if half {
		c.(*net.TCPConn).CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(wait))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func basic(user string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

func (e *env) content(t *testing.T, p string) string {
	t.Helper()
	f, err := e.store.Open(context.Background(), vpath.MustParse(p))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	return string(b)
}

// A PUT whose body breaks publishes nothing and leaves the old version.
func TestPutPublishesWholeBodiesOnly(t *testing.T) {
	backendsDAV(t, func(t *testing.T, prod bool) {
		testenv.NoLeaks(t) // a cut body leaves no goroutine behind
		e := startWith(t, prod, func(c *davd.Config) { c.BodyWindow, c.BodyMinBytes = 500*time.Millisecond, 1024 }, nil)
		expect(t, "first version", e.do(t, "anna", "PUT", "/acme/staff/doc.txt", strings.NewReader("v1")), 201)
		head := "PUT /dav/acme/staff/doc.txt HTTP/1.1\r\nHost: x\r\nAuthorization: " + basic("anna") + "\r\n"
		cases := []struct {
			name    string
			request string
			half    bool
			want    int // 0: the server may also just hang up
		}{
			{"malformed chunked body", head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", false, 400},
			{"fewer bytes than Content-Length", head + "Content-Length: 100\r\n\r\nonly twenty bytes..", true, 400},
			{"chunked body cut before its end", head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true, 400},
			{"a client that stops sending", head + "Content-Length: 100000\r\n\r\n" + strings.Repeat("x", 100), false, 408},
		}
		for _, c := range cases {
			code := e.raw(t, c.request, c.half, 10*time.Second)
			if code != c.want && code != 0 {
				t.Errorf("%s: status %d, want %d", c.name, code, c.want)
			}
			if got := e.content(t, "/acme/staff/doc.txt"); got != "v1" {
				t.Fatalf("%s: the file now reads %q, want the old version", c.name, got)
			}
		}
		// Nothing new appeared either.
		for _, c := range cases {
			e.raw(t, strings.Replace(c.request, "doc.txt", "new.txt", 1), c.half, 10*time.Second)
		}
		if r := e.do(t, "anna", "GET", "/acme/staff/new.txt", nil); r.code != 404 {
			t.Errorf("a broken PUT to a new name: GET answers %d", r.code)
		}
		if !strings.Contains(e.logs.String(), "upload cut: nothing published") {
			t.Error("no log line for the cut uploads")
		}
	})
}

// failingPublish is a catalog whose publish of anna's uploads fails after
// the body arrived: a database that went away at the worst moment.
type failingPublish struct{ storage.Catalog }

func (c failingPublish) Publish(ctx context.Context, p vpath.Path, f storage.NewFile, o storage.PublishOptions) (storage.Entry, error) {
	if f.CreatedBy == "anna" {
		return storage.Entry{}, errors.New("connection reset by the database")
	}
	return c.Catalog.Publish(ctx, p, f, o)
}

func TestPutPublishFailureIs5xx(t *testing.T) {
	e := startWith(t, false, nil, func(c storage.Catalog) storage.Catalog { return failingPublish{c} })
	r := e.do(t, "anna", "PUT", "/acme/staff/doc.txt", strings.NewReader("whole body"))
	expect(t, "a publish that fails", r, 500)
	if strings.Contains(r.body, "database") {
		t.Errorf("the answer leaks the cause: %q", r.body)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "webdav request failed") || !strings.Contains(logs, "database") {
		t.Errorf("no log line names the failure: %s", logs)
	}
}

// addTess adds a contractor with full rights on /acme but for programs.
func addTess(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.ids.AddOrg(ctx, identity.Org{Slug: "contractors"}); err != nil {
		t.Fatal(err)
	}
	hash, _ := e.ids.GetUser(ctx, "anna")
	if _, err := e.ids.AddUser(ctx, identity.User{Login: "tess", Org: "contractors", PasswordHash: hash.PasswordHash}); err != nil {
		t.Fatal(err)
	}
	sub, _ := authz.ParseSubject("user:tess")
	if _, err := e.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/acme/staff"), Perms: authz.Full, Deny: []string{"*.exe"}}, "t"); err != nil {
		t.Fatal(err)
	}
}

// Folder actions obey the decision for every entry they reach, and a
// replacing MOVE or COPY is one step: refused, it leaves the target alone.
func TestFolderActionsOverWebDAV(t *testing.T) {
	backendsDAV(t, func(t *testing.T, prod bool) {
		e := start(t, prod)
		addTess(t, e)
		for _, p := range []string{"/acme/staff/tools/", "/acme/staff/docs/"} {
			expect(t, "MKCOL "+p, e.do(t, "anna", "MKCOL", p, nil), 201)
		}
		expect(t, "setup.exe", e.do(t, "anna", "PUT", "/acme/staff/tools/setup.exe", strings.NewReader("MZ")), 201)
		expect(t, "readme", e.do(t, "anna", "PUT", "/acme/staff/tools/readme.txt", strings.NewReader("r")), 201)
		expect(t, "doc", e.do(t, "anna", "PUT", "/acme/staff/docs/a.txt", strings.NewReader("a")), 201)
		r := e.do(t, "tess", "PROPFIND", "/acme/staff/tools/", nil, "Depth", "1")
		if strings.Contains(r.body, "setup.exe") {
			t.Fatal("tess sees the program the deny pattern hides")
		}
		expect(t, "DELETE a folder holding a hidden program", e.do(t, "tess", "DELETE", "/acme/staff/tools/", nil), 403)
		expect(t, "MOVE it", e.do(t, "tess", "MOVE", "/acme/staff/tools/", nil, "Destination", e.url+"/acme/staff/docs/tools/"), 403)
		expect(t, "COPY it", e.do(t, "tess", "COPY", "/acme/staff/tools/", nil, "Destination", e.url+"/acme/staff/docs/tools/"), 403)
		expect(t, "replace it with Overwrite: T", e.do(t, "tess", "MOVE", "/acme/staff/docs/", nil, "Destination", e.url+"/acme/staff/tools/", "Overwrite", "T"), 403)
		expect(t, "replace it by a COPY", e.do(t, "tess", "COPY", "/acme/staff/docs/", nil, "Destination", e.url+"/acme/staff/tools/", "Overwrite", "T"), 403)
		if got := e.content(t, "/acme/staff/tools/setup.exe"); got != "MZ" {
			t.Fatalf("the program: %q", got)
		}
		if got := e.content(t, "/acme/staff/tools/readme.txt"); got != "r" {
			t.Fatalf("a refused replace changed its target: readme reads %q", got)
		}
		// Staff without a deny pattern replace the folder in one step.
		expect(t, "replace with Overwrite: T", e.do(t, "anna", "MOVE", "/acme/staff/docs/", nil, "Destination", e.url+"/acme/staff/tools/", "Overwrite", "T"), 204)
		if got := e.content(t, "/acme/staff/tools/a.txt"); got != "a" {
			t.Fatalf("after the replacing move: %q", got)
		}
		if got := e.content(t, "/acme/staff/tools/setup.exe"); !strings.Contains(got, "not exist") {
			t.Fatalf("the replaced folder's content is still there: %q", got)
		}
		expect(t, "Overwrite: F onto an existing name", e.do(t, "anna", "COPY", "/acme/staff/tools/a.txt", nil, "Destination", e.url+"/acme/staff/tools/a.txt2", "Overwrite", "F"), 201)
		expect(t, "Overwrite: F refuses", e.do(t, "anna", "COPY", "/acme/staff/tools/a.txt", nil, "Destination", e.url+"/acme/staff/tools/a.txt2", "Overwrite", "F"), 412)
	})
}

// Conditional PUTs: no lost update.
func TestConditionalPut(t *testing.T) {
	backendsDAV(t, func(t *testing.T, prod bool) {
		e := start(t, prod)
		r := e.do(t, "anna", "PUT", "/acme/staff/c.txt", strings.NewReader("v1"))
		expect(t, "create", r, 201)
		etag := r.header.Get("ETag")
		if g := e.do(t, "anna", "GET", "/acme/staff/c.txt", nil); g.header.Get("ETag") != etag || etag == "" {
			t.Fatalf("PUT answered ETag %q, GET %q", etag, g.header.Get("ETag"))
		}
		if p := e.do(t, "anna", "PROPFIND", "/acme/staff/c.txt", nil, "Depth", "0"); !strings.Contains(p.body, "<D:getetag>"+strings.ReplaceAll(etag, `"`, "&#34;")+"</D:getetag>") && !strings.Contains(p.body, "<D:getetag>"+etag+"</D:getetag>") {
			t.Fatalf("PROPFIND's ETag is not %s: %s", etag, p.body)
		}
		expect(t, "If-Match a stale tag", e.do(t, "anna", "PUT", "/acme/staff/c.txt", strings.NewReader("lost"), "If-Match", `"0000000000000000-1"`), 412)
		expect(t, "If-None-Match: * on an existing file", e.do(t, "anna", "PUT", "/acme/staff/c.txt", strings.NewReader("lost"), "If-None-Match", "*"), 412)
		expect(t, "If-Unmodified-Since before the last change", e.do(t, "anna", "PUT", "/acme/staff/c.txt", strings.NewReader("lost"), "If-Unmodified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"), 412)
		expect(t, "If-Match: * on a new name", e.do(t, "anna", "PUT", "/acme/staff/none.txt", strings.NewReader("x"), "If-Match", "*"), 412)
		if got := e.content(t, "/acme/staff/c.txt"); got != "v1" {
			t.Fatalf("a failed precondition changed the file: %q", got)
		}
		r = e.do(t, "anna", "PUT", "/acme/staff/c.txt", strings.NewReader("v2"), "If-Match", etag)
		expect(t, "If-Match the current tag", r, 204)
		if r.header.Get("ETag") == etag || r.header.Get("ETag") == "" {
			t.Errorf("the new version's ETag %q", r.header.Get("ETag"))
		}
		expect(t, "If-None-Match: * on a new name", e.do(t, "anna", "PUT", "/acme/staff/d.txt", strings.NewReader("x"), "If-None-Match", "*"), 201)
		expect(t, "a malformed If-Match", e.do(t, "anna", "PUT", "/acme/staff/d.txt", strings.NewReader("x"), "If-Match", "no-quotes"), 400)
	})
}

const exclusiveLock = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`

// Every LOCK is stored, answers the Timeout granted, and is released with
// or without angle brackets; locks on new names are few and short.
func TestLocksAreReal(t *testing.T) {
	backendsDAV(t, func(t *testing.T, prod bool) {
		e := start(t, prod)
		expect(t, "a file", e.do(t, "anna", "PUT", "/acme/staff/l.txt", strings.NewReader("x")), 201)
		// Depth 0, no owner, Timeout: Infinite: the shape of x/net/webdav's
		// internal probe, which used to lock nothing.
		r := e.do(t, "anna", "LOCK", "/acme/staff/l.txt", strings.NewReader(exclusiveLock), "Depth", "0", "Timeout", "Infinite")
		expect(t, "LOCK", r, 200)
		token := strings.Trim(r.header.Get("Lock-Token"), "<>")
		if !strings.Contains(r.body, "<D:timeout>Second-86400</D:timeout>") {
			t.Errorf("the timeout answered is not the one granted: %s", r.body)
		}
		if _, err := e.ids.AddUser(context.Background(), identity.User{Login: "bert", Org: "hq", PasswordHash: mustHash(t, e)}); err != nil {
			t.Fatal(err)
		}
		grant(t, e, "user:bert", "/acme/staff", "full")
		expect(t, "another user's PUT", e.do(t, "bert", "PUT", "/acme/staff/l.txt", strings.NewReader("y")), 423)
		expect(t, "the owner without the token", e.do(t, "anna", "PUT", "/acme/staff/l.txt", strings.NewReader("y")), 423)
		expect(t, "the owner with it", e.do(t, "anna", "PUT", "/acme/staff/l.txt", strings.NewReader("y"), "If", "(<"+token+">)"), 204)
		r = e.do(t, "anna", "LOCK", "/acme/staff/l.txt", nil, "If", "(<"+token+">)", "Timeout", "Second-120")
		expect(t, "refresh", r, 200)
		if !strings.Contains(r.body, "<D:timeout>Second-120</D:timeout>") {
			t.Errorf("refresh answered %s", r.body)
		}
		// Refreshing needs the right to change the resource.
		sub, _ := authz.ParseSubject("user:anna")
		grants, _ := e.ids.ListGrants(context.Background())
		for _, g := range grants {
			if g.Subject == sub && g.Path == vpath.MustParse("/acme") {
				e.ids.RemoveGrant(context.Background(), g.ID)
			}
		}
		grant(t, e, "user:anna", "/acme", "readonly")
		expect(t, "refresh without the right to change", e.do(t, "anna", "LOCK", "/acme/staff/l.txt", nil, "If", "(<"+token+">)"), 403)
		expect(t, "UNLOCK without angle brackets", e.do(t, "anna", "UNLOCK", "/acme/staff/l.txt", nil, "Lock-Token", token), 204)
		expect(t, "bert's PUT after the unlock", e.do(t, "bert", "PUT", "/acme/staff/l.txt", strings.NewReader("z")), 204)

		// A create-only partner cannot reserve future names for long.
		granted := 0
		for i := range 25 {
			r := e.do(t, "acme-edi", "LOCK", fmt.Sprintf("/acme/inbound/future-%d.edi", i), strings.NewReader(exclusiveLock), "Timeout", "Infinite")
			if r.code == 201 {
				granted++
				if !strings.Contains(r.body, "<D:timeout>Second-600</D:timeout>") {
					t.Fatalf("a lock on a new name: %s", r.body)
				}
				continue
			}
			if r.code/100 != 4 {
				t.Fatalf("lock %d over the cap: %d, want a 4xx", i, r.code)
			}
		}
		if granted != 20 {
			t.Errorf("%d locks on new names granted, want 20", granted)
		}
	})
}

func mustHash(t *testing.T, e *env) string {
	t.Helper()
	u, err := e.ids.GetUser(context.Background(), "anna")
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}

func grant(t *testing.T, e *env, to, path, perms string) {
	t.Helper()
	sub, _ := authz.ParseSubject(to)
	p, _ := authz.ParsePerms(perms)
	if _, err := e.ids.AddGrant(context.Background(), authz.Grant{Subject: sub, Path: vpath.MustParse(path), Perms: p}, "t"); err != nil {
		t.Fatal(err)
	}
}

// A password change or a suspension applies to the next request; a
// download running when the account is suspended stops within seconds.
func TestRevocationOverWebDAV(t *testing.T) {
	backendsDAV(t, func(t *testing.T, prod bool) {
		testenv.NoLeaks(t) // nor does a download cut short
		e := startWith(t, prod, func(c *davd.Config) { c.Revalidate = 500 * time.Millisecond }, nil)
		ctx := context.Background()
		expect(t, "logged in", e.do(t, "anna", "PROPFIND", "/acme/", nil, "Depth", "0"), 207)
		// Another password's hash: the password anna logged in with is no longer hers.
		if _, err := e.ids.UpdateUser(ctx, "anna", func(u *identity.User) error {
			u.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		expect(t, "the old password right after a change", e.do(t, "anna", "PROPFIND", "/acme/", nil, "Depth", "0"), 401)

		big := strings.Repeat("0123456789abcdef", 4<<20) // 64 MiB
		u, _ := e.store.Create(ctx, vpath.MustParse("/acme/outbound/big.bin"), storage.CreateOptions{By: "admin"})
		u.Write([]byte(big))
		if _, err := u.Close(); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", e.url+"/acme/outbound/big.bin", nil)
		req.SetBasicAuth("acme-edi", password)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("download: %v", err)
		}
		defer res.Body.Close()
		buf := make([]byte, 32<<10)
		io.ReadFull(res.Body, buf)
		if _, err := e.ids.SetStatus(ctx, "acme-edi", authz.StatusSuspended); err != nil {
			t.Fatal(err)
		}
		suspended := time.Now()
		var n int64
		for {
			m, err := res.Body.Read(buf)
			n += int64(m)
			if err != nil {
				break
			}
			time.Sleep(5 * time.Millisecond) // a slow client
		}
		if n >= int64(len(big))-32<<10 {
			t.Fatalf("the download of a suspended account ran to the end (%d bytes)", n)
		}
		took := time.Since(suspended)
		t.Logf("the download stopped %v after the suspension, at byte %d of %d", took, n, len(big))
		if took > 5*time.Second {
			t.Errorf("the download stopped %v after the suspension", took)
		}
		expect(t, "the next request", e.do(t, "acme-edi", "PROPFIND", "/acme/", nil, "Depth", "0"), 401)
	})
}
