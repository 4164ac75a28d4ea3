package vpath

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	good := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"//", "/"},
		{"a", "/a"},
		{"/a/b/", "/a/b"},
		{"/a//b", "/a/b"},
		{"/fi le$%<>111.txt", "/fi le$%<>111.txt"},
		{"/%2e%2e/..%2f", "/%2e%2e/..%2f"},
		{"/.../a..b/.hidden", "/.../a..b/.hidden"},
		{"/Mu\u0308ller", "/Müller"}, // NFD becomes NFC
		{"/" + strings.Repeat("x", MaxNameLen), "/" + strings.Repeat("x", MaxNameLen)},
		{"/日本語/📦", "/日本語/📦"},
		{"/عربي/עברית.txt", "/عربي/עברית.txt"}, // right-to-left scripts need no controls
	}
	for _, c := range good {
		p, err := Parse(c.in)
		if err != nil || p.String() != c.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", c.in, p, err, c.want)
		}
	}
	bad := []struct{ in, why string }{
		{"/a/../b", `".."`},
		{"..", `".."`},
		{"/a/./b", `"."`},
		{"/a\x00b", "NUL"},
		{"/a\nb", "control"},
		{"/a\x7fb", "control"},
		{"/a\u0085b", "control"},
		{`/a\b`, "backslash"},
		{`..\..\windows`, "backslash"},
		{"/a\xffb", "UTF-8"},
		{"/a\ufffdb", "replacement"},
		// Bidirectional controls: shown as "invoiceexe.txt".
		{"/acme/inbound/invoice\u202Etxt.exe", "bidirectional control character (U+202E)"},
		{"/a\u202Ab", "bidirectional control character (U+202A)"},
		{"/a\u202Bb", "bidirectional"},
		{"/a\u202Cb", "bidirectional"},
		{"/a\u202Db", "bidirectional"},
		{"/a\u2066b", "bidirectional control character (U+2066)"},
		{"/a\u2067b", "bidirectional"},
		{"/a\u2068b", "bidirectional"},
		{"/a\u2069b", "bidirectional control character (U+2069)"},
		{"/a\u200Eb", "bidirectional control character (U+200E)"},
		{"/a\u200Fb", "bidirectional control character (U+200F)"},
		{"/a\u061Cb", "bidirectional control character (U+061C)"},
		// Zero-width characters: "admin" and "ad\u200Bmin" look alike.
		{"/ad\u200Bmin", "zero-width character (U+200B)"},
		{"/a\u200Cb", "zero-width character (U+200C)"},
		{"/a\u200Db", "zero-width character (U+200D)"},
		{"/a\u2060b", "zero-width character (U+2060)"},
		{"/\uFEFFreport.pdf", "zero-width character (U+FEFF)"},
		{"/" + strings.Repeat("x", MaxNameLen+1), "longer than 255"},
		{strings.Repeat("/"+strings.Repeat("y", 250), 20), "longer than 4096"},
		{strings.Repeat("/a", MaxPathDeep+1), "deeper"},
	}
	for _, c := range bad {
		_, err := Parse(c.in)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("Parse(%.40q) = %v; want an invalid-path error about %s", c.in, err, c.why)
		}
	}
}

func TestResolve(t *testing.T) {
	cwd := MustParse("/acme/inbound")
	cases := []struct{ in, want string }{
		{".", "/acme/inbound"},
		{"x.edi", "/acme/inbound/x.edi"},
		{"../outbound/./y", "/acme/outbound/y"},
		{"../../../../etc/passwd", "/etc/passwd"}, // never above the root
		{"/abs/path", "/abs/path"},
		{"", "/acme/inbound"},
	}
	for _, c := range cases {
		p, err := Resolve(cwd, c.in)
		if err != nil || p.String() != c.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", c.in, p, err, c.want)
		}
	}
	if _, err := Resolve(cwd, "a\x00b"); err == nil {
		t.Error("Resolve accepted NUL")
	}
}

func TestPathMethods(t *testing.T) {
	p := MustParse("/acme/inbound/x.edi")
	if p.Name() != "x.edi" || p.Parent().String() != "/acme/inbound" || p.Depth() != 3 {
		t.Fatalf("Name %q Parent %q Depth %d", p.Name(), p.Parent(), p.Depth())
	}
	if !Root().IsRoot() || Root().Parent() != Root() || Root().Name() != "" || len(Root().Elems()) != 0 {
		t.Fatal("root methods")
	}
	if !p.Within(MustParse("/acme")) || !p.Within(Root()) || !p.Within(p) {
		t.Fatal("Within")
	}
	if p.Within(MustParse("/acm")) || MustParse("/acme2").Within(MustParse("/acme")) {
		t.Fatal("Within must compare whole elements")
	}
	if got := p.Rebase(MustParse("/acme"), MustParse("/globex")); got.String() != "/globex/inbound/x.edi" {
		t.Fatalf("Rebase = %s", got)
	}
	if _, err := p.Child("a/b"); err == nil {
		t.Fatal("Child accepted a slash")
	}
	if _, err := p.Child(".."); err == nil {
		t.Fatal("Child accepted ..")
	}
	if c, err := Root().Child("top"); err != nil || c.String() != "/top" {
		t.Fatalf("Root().Child = %s, %v", c, err)
	}
}

// hostile are the bidirectional controls and zero-width characters no
// Path may hold.
const hostile = "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061C" +
	"\u200B\u200C\u200D\u2060\uFEFF"

// FuzzParse checks the invariants every parsed path keeps.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"/a/b", "..", "/a/../b", "a\x00", `a\b`, "/Mu\u0308ller", "//x//", "/%2e%2e",
		"invoice\u202Etxt.exe", "ad\u200Bmin", "/\uFEFFx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		out := p.String()
		if !strings.HasPrefix(out, "/") || !utf8.ValidString(out) || len(out) > MaxPathLen {
			t.Fatalf("bad output %q", out)
		}
		if out != "/" && strings.HasSuffix(out, "/") || strings.Contains(out, "//") || strings.ContainsAny(out, "\x00\\") {
			t.Fatalf("unclean output %q", out)
		}
		if strings.ContainsAny(out, hostile) {
			t.Fatalf("output %q keeps a bidirectional control or zero-width character", out)
		}
		for _, e := range p.Elems() {
			if e == "." || e == ".." || e == "" || len(e) > MaxNameLen {
				t.Fatalf("bad element %q in %q", e, out)
			}
		}
		again, err := Parse(out)
		if err != nil || again != p {
			t.Fatalf("not idempotent: %q -> %q (%v)", out, again, err)
		}
		if p.Parent().Depth() != max(p.Depth()-1, 0) || !p.Within(p.Parent()) {
			t.Fatalf("parent of %q", out)
		}
	})
}

// Names that disguise themselves are refused at the edge, but what the
// store wrote before that rule stays readable.
func TestStoredKeepsOldNames(t *testing.T) {
	for _, s := range []string{"/in/invoice\u202etxt.exe", "/in/a\u200bb.edi"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
		p, err := Stored(s)
		if err != nil || p.String() != s {
			t.Errorf("Stored(%q) = %q, %v", s, p, err)
		}
	}
	for _, s := range []string{"/a\x00b", "/a/../b", "/a\\b"} {
		if _, err := Stored(s); err == nil {
			t.Errorf("Stored(%q) accepted", s)
		}
	}
}
