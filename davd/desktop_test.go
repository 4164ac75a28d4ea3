package davd_test

// Desktop clients, replayed from public captures of their request
// sequences: Windows Explorer's mini-redirector (Microsoft-WebDAV-MiniRedir,
// and DavClnt before it, send OPTIONS to the server root before any
// credentials and give up on a 401 or a redirect to a login page — the
// logs in Nextcloud's issue 2979 and pull request 2986, ownCloud's
// documentation pull request 2668; then PROPFIND Depth 0 with "translate: f",
// and an empty PUT, LOCK, PUT, PROPPATCH of the Win32 times, UNLOCK to save)
// and macOS Finder (WebDAVFS: OPTIONS, PROPFIND of the root, probes of
// .ql_disablethumbnails, .metadata_never_index, ._. and .DS_Store, as the
// nginx-dav-ext-module issues 1 and 40 log them; it needs DAV class 2 and
// writes AppleDouble "._NAME" and .DS_Store files wherever it copies).

import (
	"crypto/md5" // #nosec G501 -- the checksum sync tools send, not security
	"crypto/sha1"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// client sends a request as a desktop client would, to any URL of the server.
func (e *env) client(t *testing.T, user, agent, method, path string, body string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(e.url, "/dav")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", agent)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return resp{res.StatusCode, string(b), res.Header}
}

func davClass2(t *testing.T, what string, r resp) {
	t.Helper()
	expect(t, what, r, 200)
	if !strings.Contains(r.header.Get("DAV"), "2") || r.header.Get("MS-Author-Via") != "DAV" || !strings.Contains(r.header.Get("Allow"), "PROPFIND") {
		t.Errorf("%s: headers %v", what, r.header)
	}
}

const miniRedir = "Microsoft-WebDAV-MiniRedir/10.0.19045"

func TestWindowsMiniRedirector(t *testing.T) {
	e := start(t, false)
	// net use * https://host/dav/acme/staff: OPTIONS to the root first,
	// without credentials (DavClnt, then the mini-redirector).
	davClass2(t, "OPTIONS / (DavClnt)", e.client(t, "", "DavClnt", "OPTIONS", "/", "", "translate", "f"))
	davClass2(t, "OPTIONS /", e.client(t, "", miniRedir, "OPTIONS", "/", "", "translate", "f"))
	davClass2(t, "OPTIONS /dav/acme/staff", e.client(t, "", miniRedir, "OPTIONS", "/dav/acme/staff", "", "translate", "f"))
	davClass2(t, "OPTIONS of a path that does not exist", e.client(t, "", miniRedir, "OPTIONS", "/dav/globex/secret", ""))
	r := e.client(t, "", miniRedir, "PROPFIND", "/dav/acme/staff", "", "Depth", "0", "translate", "f")
	expect(t, "PROPFIND without credentials", r, 401)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("challenge %q", r.header.Get("WWW-Authenticate"))
	}
	expect(t, "PROPFIND", e.client(t, "anna", miniRedir, "PROPFIND", "/dav/acme/staff", "", "Depth", "0", "translate", "f"), 207)
	expect(t, "PROPFIND Depth 1", e.client(t, "anna", miniRedir, "PROPFIND", "/dav/acme/staff/", "", "Depth", "1", "translate", "f"), 207)
	expect(t, "desktop.ini", e.client(t, "anna", miniRedir, "PROPFIND", "/dav/acme/staff/desktop.ini", "", "Depth", "0"), 404)
	// Explorer saves a new file: an empty PUT, LOCK, the content under the
	// lock, its Win32 times by PROPPATCH, UNLOCK.
	f := "/dav/acme/staff/New%20Text%20Document.txt"
	expect(t, "empty PUT", e.client(t, "anna", miniRedir, "PUT", f, ""), 201)
	r = e.client(t, "anna", miniRedir, "LOCK", f, `<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>ACME\anna</D:href></D:owner></D:lockinfo>`,
		"Timeout", "Second-3600", "Depth", "0", "Content-Type", "text/xml; charset=\"utf-8\"")
	expect(t, "LOCK", r, 200)
	token := strings.Trim(r.header.Get("Lock-Token"), "<>")
	expect(t, "PUT under the lock", e.client(t, "anna", miniRedir, "PUT", f, "hello from Windows", "If", "(<"+token+">)"), 204)
	r = e.client(t, "anna", miniRedir, "PROPPATCH", f, `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Thu, 04 Dec 2025 10:00:00 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Thu, 04 Dec 2025 10:00:01 GMT</Z:Win32LastAccessTime><Z:Win32LastModifiedTime>Thu, 04 Dec 2025 10:00:01 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>`,
		"If", "(<"+token+">)", "Content-Type", "text/xml; charset=\"utf-8\"")
	if r.code != 207 || strings.Contains(r.body, "HTTP/1.1 4") {
		t.Errorf("PROPPATCH of the Win32 times: %d %s", r.code, r.body)
	}
	expect(t, "UNLOCK", e.client(t, "anna", miniRedir, "UNLOCK", f, "", "Lock-Token", "<"+token+">"), 204)
	if r := e.client(t, "anna", miniRedir, "GET", f, "", "translate", "f"); r.code != 200 || r.body != "hello from Windows" {
		t.Errorf("GET: %d %q", r.code, r.body)
	}
}

const finder = "WebDAVFS/3.0.0 (03008000) Darwin/22.6.0 (x86_64)"

const finderPropfind = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop>
<D:getlastmodified/><D:getcontentlength/><D:creationdate/><D:resourcetype/>
</D:prop></D:propfind>`

func TestMacFinder(t *testing.T) {
	e := start(t, false)
	e.addStaff(t, "bob", "/acme full")
	// Connect to Server: https://host/ leads to the folders.
	r := e.client(t, "", finder, "PROPFIND", "/", finderPropfind, "Depth", "0")
	if r.code != 301 || r.header.Get("Location") != "/dav/" {
		t.Errorf("PROPFIND /: %d %v", r.code, r.header)
	}
	davClass2(t, "OPTIONS /dav/", e.client(t, "", finder, "OPTIONS", "/dav/", ""))
	expect(t, "PROPFIND without credentials", e.client(t, "", finder, "PROPFIND", "/dav/", finderPropfind, "Depth", "0"), 401)
	expect(t, "PROPFIND", e.client(t, "anna", finder, "PROPFIND", "/dav/", finderPropfind, "Depth", "0"), 207)
	for _, probe := range []string{"/dav/.ql_disablethumbnails", "/dav/.metadata_never_index", "/dav/._.", "/dav/.DS_Store", "/dav/acme/._staff"} {
		expect(t, "probe "+probe, e.client(t, "anna", finder, "PROPFIND", probe, finderPropfind, "Depth", "0"), 404)
	}
	// A copy: the file, then its AppleDouble companion, which Finder reads
	// back; a .DS_Store for the folder's view.
	dir := "/dav/acme/staff/"
	expect(t, "PUT file", e.client(t, "anna", finder, "PUT", dir+"price%20list.pdf", "%PDF-1.7"), 201)
	double := "\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "
	expect(t, "PUT ._file", e.client(t, "anna", finder, "PUT", dir+"._price%20list.pdf", double), 201)
	expect(t, "PROPFIND ._file", e.client(t, "anna", finder, "PROPFIND", dir+"._price%20list.pdf", finderPropfind, "Depth", "0"), 207)
	if r := e.client(t, "anna", finder, "GET", dir+"._price%20list.pdf", ""); r.body != double {
		t.Errorf("._file read back: %d %q", r.code, r.body)
	}
	expect(t, "PUT .DS_Store", e.client(t, "anna", finder, "PUT", dir+".DS_Store", "Bud1"), 201)
	// Listings: the writer sees them (a sync does not send them again);
	// everyone else, over WebDAV and SFTP alike, does not.
	href := regexp.MustCompile(`<D:href>([^<]*)</D:href>`)
	listing := func(user string) string {
		r := e.client(t, user, finder, "PROPFIND", dir, finderPropfind, "Depth", "1")
		expect(t, user+" lists", r, 207)
		var names []string
		for _, m := range href.FindAllStringSubmatch(r.body, -1) {
			names = append(names, strings.TrimPrefix(m[1], dir))
		}
		return strings.Join(names, " ")
	}
	if got := listing("anna"); !strings.Contains(got, "._price%20list.pdf") || !strings.Contains(got, ".DS_Store") {
		t.Errorf("the writer's listing: %s", got)
	}
	if got := listing("bob"); strings.Contains(got, "._") || strings.Contains(got, ".DS_Store") || !strings.Contains(got, "price%20list.pdf") {
		t.Errorf("another user's listing: %s", got)
	}
	// By name they stay reachable, and deleting the file's companion works.
	expect(t, "bob stats the ._file", e.client(t, "bob", finder, "PROPFIND", dir+"._price%20list.pdf", finderPropfind, "Depth", "0"), 207)
	expect(t, "DELETE ._file", e.client(t, "anna", finder, "DELETE", dir+"._price%20list.pdf", ""), 204)
}

// TestOwnCloudChecksums: rclone's webdav remote (vendor nextcloud or
// owncloud) sends OC-Checksum with every PUT and reads oc:checksums from
// listings to compare files. A checksum sent is checked before anything
// is published, and listed; without one, listings offer what is known.
func TestOwnCloudChecksums(t *testing.T) {
	e := start(t, false)
	body := "UNB+UNOC:3'"
	sum := sha1.Sum([]byte(body))
	sha := hex.EncodeToString(sum[:])
	expect(t, "PUT with SHA1", e.do(t, "anna", "PUT", "/acme/staff/a.edi", strings.NewReader(body), "OC-Checksum", "SHA1:"+strings.ToUpper(sha)), 201)
	expect(t, "PUT without", e.do(t, "anna", "PUT", "/acme/staff/b.edi", strings.NewReader(body+"b")), 201)
	expect(t, "PUT with Adler32", e.do(t, "anna", "PUT", "/acme/staff/c.edi", strings.NewReader(body+"c"), "OC-Checksum", "Adler32:0a1b2c3d"), 201)
	const propfind = `<?xml version="1.0"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:prop><d:displayname /><d:getlastmodified /><d:getcontentlength /><d:resourcetype /><d:getcontenttype /><oc:checksums /></d:prop>
</d:propfind>`
	r := e.do(t, "anna", "PROPFIND", "/acme/staff/", strings.NewReader(propfind), "Depth", "1")
	if r.code != 207 || !strings.Contains(r.body, "SHA1:"+sha) || strings.Count(r.body, "SHA1:") != 1 {
		t.Errorf("PROPFIND: %d %s; want SHA1:%s for a.edi only", r.code, r.body, sha)
	}

	// A body that does not match its checksum publishes nothing: the file
	// keeps its content.
	r = e.do(t, "anna", "PUT", "/acme/staff/a.edi", strings.NewReader("corrupted"), "OC-Checksum", "SHA1:"+sha)
	expect(t, "PUT with a wrong SHA1", r, 400)
	m := md5.Sum([]byte(body))
	expect(t, "PUT with a wrong MD5", e.do(t, "anna", "PUT", "/acme/staff/a.edi", strings.NewReader("corrupted"), "OC-Checksum", "MD5:"+hex.EncodeToString(m[:])), 400)
	if g := e.do(t, "anna", "GET", "/acme/staff/a.edi", nil); g.code != 200 || g.body != body {
		t.Errorf("after refused PUTs: %d %q; want %q", g.code, g.body, body)
	}
	for _, bad := range []string{"SHA1:xyz", "SHA1", "MD5:" + sha} {
		expect(t, "OC-Checksum "+bad, e.do(t, "anna", "PUT", "/acme/staff/d.edi", strings.NewReader(body), "OC-Checksum", bad), 400)
	}
	if g := e.do(t, "anna", "GET", "/acme/staff/d.edi", nil); g.code != 404 {
		t.Errorf("a PUT with a malformed checksum published: %d", g.code)
	}
}
