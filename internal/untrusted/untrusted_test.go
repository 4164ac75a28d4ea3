package untrusted

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	long := strings.Repeat("a", 1000)
	cases := []struct{ in, want string }{
		{"", ""},
		{"acme-edi", "acme-edi"},
		{"Anna Berg ümlaut 日本", "Anna Berg ümlaut 日本"},
		{strings.Repeat("x", MaxLog), strings.Repeat("x", MaxLog)},
		{strings.Repeat("x", MaxLog+1), strings.Repeat("x", MaxLog) + "…[65 bytes]"},
		{long, strings.Repeat("a", MaxLog) + "…[1000 bytes]"},
		// Forged log lines, terminal escapes, NUL.
		{"bob\nlevel=INFO msg=login login=admin", `bob\x0alevel=INFO msg=login login=admin`},
		{"a\r\x00\x1b[31mb\x7f", `a\x0d\x00\x1b[31mb\x7f`},
		// Bidirectional overrides and invisible characters.
		{"invoice\u202etxt.exe", `invoice\u202etxt.exe`},
		{"ad\u200bmin\ufeff", `ad\u200bmin\ufeff`},
		{"x\u2028y\u0085z", `x\u2028y\u0085z`},
		{"tag\U000e0041", `tag\U000e0041`},
		// Invalid UTF-8 and the escape character itself.
		{"a\xffb\xc3", `a\xffb\xc3`},
		{`back\slash`, `back\\slash`},
		// Never cut inside a character or an escape.
		{strings.Repeat("x", MaxLog-1) + "é", strings.Repeat("x", MaxLog-1) + "…[65 bytes]"},
		{strings.Repeat("x", MaxLog-3) + "\n", strings.Repeat("x", MaxLog-3) + "…[62 bytes]"},
	}
	for _, c := range cases {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%.80q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzText checks what every rendering keeps: bounded, valid UTF-8, every
// character plainly visible.
func FuzzText(f *testing.F) {
	for _, s := range []string{"bob", "a\nb", "invoice\u202etxt.exe", "\xff\xfe", strings.Repeat("é", 40)} {
		f.Add(s)
	}
	marker := len("…[") + 20 + len(" bytes]")
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if len(out) > MaxLog+marker || !utf8.ValidString(out) {
			t.Fatalf("Text(%q) = %q: too long or not UTF-8", s, out)
		}
		for _, r := range out {
			if r != '…' && (r < 0x20 || r == 0x7f || strings.ContainsRune("\u0085\u061c\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff", r)) {
				t.Fatalf("Text(%q) = %q keeps %U", s, out, r)
			}
		}
		plain := len(s) <= MaxLog && utf8.ValidString(s) && !strings.ContainsRune(s, '\\')
		for _, r := range s {
			plain = plain && unicode.IsPrint(r)
		}
		if plain && out != s {
			t.Fatalf("Text(%q) = %q changed plain text", s, out)
		}
	})
}
