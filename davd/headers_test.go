package davd

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseIf(t *testing.T) {
	good := map[string]int{ // header: number of lists
		`(<opaquelocktoken:a-b>)`:                              1,
		`(<opaquelocktoken:a> ["etag-1"]) (Not <DAV:no-lock>)`: 2,
		`<http://h/dav/x> (<urn:uuid:1>) </dav/y> (["x"])`:     2,
		`(Not<DAV:no-lock>["W/x"])`:                            1,
		` ( <a:b> ) `:                                          1,
		`([W/"x"])`:                                            1,
	}
	for h, n := range good {
		lists, err := parseIf(h)
		if err != nil || len(lists) != n {
			t.Errorf("parseIf(%q) = %d lists, %v; want %d", h, len(lists), err, n)
		}
	}
	for _, h := range []string{"", "(", "()", "(<a>", "<a> (<b>) (<c>", "(<a>) <b> (<c>)", "x", "(Not)", "([)", `(["bad"quote"])`,
		"(<a b>)", "(<>)", "<http://h/x>", strings.Repeat("(<a:b>)", 40)} {
		if _, err := parseIf(h); !errors.Is(err, errBadHeader) {
			t.Errorf("parseIf(%q) accepted", h)
		}
	}
	lists, _ := parseIf(`</dav/a> (Not <urn:x> ["e"])`)
	c := lists[0].conditions
	if lists[0].tag != "/dav/a" || !c[0].not || c[0].token != "urn:x" || c[1].etag != `"e"` || c[1].not {
		t.Errorf("parsed %+v", lists)
	}
}

func FuzzParseIf(f *testing.F) {
	for _, s := range []string{`(<opaquelocktoken:a>)`, `<http://h/dav/x> (<urn:1> ["e"]) (Not <DAV:no-lock>)`, `(Not ["W/x"])`, `((`, `<<>>`, "(\x00)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		lists, err := parseIf(h)
		if err != nil {
			if !errors.Is(err, errBadHeader) {
				t.Fatalf("error %v does not wrap errBadHeader", err)
			}
			return
		}
		n := 0
		for _, l := range lists {
			if len(l.conditions) == 0 {
				t.Fatal("an empty list was accepted")
			}
			for _, c := range l.conditions {
				n++
				if (c.token == "") == (c.etag == "") {
					t.Fatalf("a condition with neither or both: %+v", c)
				}
				if strings.ContainsAny(c.token, "<> \t\r\n") {
					t.Fatalf("token %q", c.token)
				}
				if c.etag != "" && !validETag(c.etag) {
					t.Fatalf("entity tag %q", c.etag)
				}
			}
		}
		if n > maxIfConditions {
			t.Fatalf("%d conditions accepted", n)
		}
	})
}

func TestParseTimeout(t *testing.T) {
	for h, want := range map[string]time.Duration{
		"":                            0,
		"Infinite":                    0,
		"Second-30":                   30 * time.Second,
		"Infinite, Second-4100000000": 0,
		"Second-60, Infinite":         time.Minute,
		"Extra-1, Second-5":           5 * time.Second,
	} {
		if got, err := parseTimeout(h); err != nil || got != want {
			t.Errorf("parseTimeout(%q) = %v, %v; want %v", h, got, err, want)
		}
	}
	for _, h := range []string{"Second-0", "Second--1", "Second-x", "Second-99999999999", strings.Repeat("Second-1,", 40)} {
		if _, err := parseTimeout(h); err == nil {
			t.Errorf("parseTimeout(%q) accepted", h)
		}
	}
}

func FuzzParseTimeout(f *testing.F) {
	for _, s := range []string{"Infinite", "Second-30", "Second-4294967295", "Second-", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		d, err := parseTimeout(h)
		if err == nil && (d < 0 || d > (1<<32)*time.Second) {
			t.Fatalf("parseTimeout(%q) = %v", h, d)
		}
	})
}

func TestParseDestination(t *testing.T) {
	for h, want := range map[string]string{
		"http://host:80/dav/acme/x":    "/acme/x",
		"/dav/acme/a%20b":              "/acme/a b",
		"https://HOST:80/dav/":         "/",
		"/dav":                         "/",
		"http://host:80/dav/acme/x/":   "/acme/x",
		"/dav/acme/%E6%97%A5%E6%9C%AC": "/acme/日本",
	} {
		p, err := parseDestination(h, "host:80", "/dav/")
		if err != nil || p.String() != want {
			t.Errorf("parseDestination(%q) = %q, %v; want %q", h, p, err, want)
		}
	}
	for h, want := range map[string]error{
		"http://evil.example/dav/acme/x": errOtherServer,
		"/davacme/x":                     errOtherServer,
		"/other/x":                       errOtherServer,
		"ftp://host:80/dav/x":            errOtherServer,
		"/dav/acme/../../etc":            nil,
		"/dav/acme/%00":                  nil,
		"/dav/a?q=1":                     errBadHeader,
		"":                               errBadHeader,
		"%zz":                            errBadHeader,
	} {
		_, err := parseDestination(h, "host:80", "/dav/")
		if err == nil || want != nil && !errors.Is(err, want) {
			t.Errorf("parseDestination(%q) = %v, want %v", h, err, want)
		}
	}
}

func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{"http://host/dav/acme/x", "/dav/%2e%2e/x", "/davx", "//host/dav/x", "http://host/dav/a%2fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parseDestination(h, "host", "/dav/")
		if err != nil {
			return
		}
		// Whatever was accepted is a clean path: parsing its text again
		// gives the same path.
		if q, err := parseDestination("/dav"+p.String(), "host", "/dav/"); err != nil || q != p {
			t.Fatalf("%q gave %q, which does not parse back (%v)", h, p, err)
		}
	})
}

func TestConditional(t *testing.T) {
	h := http.Header{}
	if pre, err := conditional(h); pre != nil || err != nil {
		t.Fatal("no conditional header: no check")
	}
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		hdr          [2]string
		etag         string
		exists, want bool
	}{
		{[2]string{"If-Match", `"a"`}, `"a"`, true, true},
		{[2]string{"If-Match", `"a", "b"`}, `"b"`, true, true},
		{[2]string{"If-Match", `"a"`}, `"b"`, true, false},
		{[2]string{"If-Match", `W/"a"`}, `"a"`, true, false},
		{[2]string{"If-Match", "*"}, `"a"`, false, false},
		{[2]string{"If-None-Match", "*"}, `"a"`, true, false},
		{[2]string{"If-None-Match", "*"}, "", false, true},
		{[2]string{"If-None-Match", `W/"a"`}, `"a"`, true, false},
		{[2]string{"If-Unmodified-Since", old.Format(http.TimeFormat)}, `"a"`, true, true},
		{[2]string{"If-Unmodified-Since", old.Add(-time.Second).Format(http.TimeFormat)}, `"a"`, true, false},
		{[2]string{"If-Unmodified-Since", "not a date"}, `"a"`, true, true},
	}
	for _, c := range cases {
		h := http.Header{}
		h.Set(c.hdr[0], c.hdr[1])
		pre, err := conditional(h)
		if err != nil {
			t.Fatalf("%v: %v", c.hdr, err)
		}
		if got := pre(c.etag, old, c.exists); got != c.want {
			t.Errorf("%v on %s (exists %v): %v, want %v", c.hdr, c.etag, c.exists, got, c.want)
		}
	}
}

// FuzzParseChecksum: whatever OC-Checksum holds, an accepted value is
// lower-case hex of the hash's size, or nothing.
func FuzzParseChecksum(f *testing.F) {
	for _, s := range []string{"SHA1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "md5:D41D8CD98F00B204E9800998ECF8427E ADLER32:1", "SHA1:", ":", "SHA1:zz"} {
		f.Add(s)
	}
	lowerHex := func(s string, n int) bool {
		if len(s) != n {
			return false
		}
		for _, c := range s {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	f.Fuzz(func(t *testing.T, h string) {
		s, err := parseChecksum(h)
		if err != nil {
			return
		}
		if s.SHA1 != "" && !lowerHex(s.SHA1, 40) || s.MD5 != "" && !lowerHex(s.MD5, 32) {
			t.Fatalf("parseChecksum(%q) = %+v", h, s)
		}
	})
}
