package sftpd

import (
	"slices"
	"testing"
)

func TestParseHashCommand(t *testing.T) {
	for _, c := range []struct {
		in   string
		want hashCommand
		err  bool
	}{
		{in: "md5sum", want: hashCommand{name: "md5sum"}},
		{in: "sha1sum  /acme/out/a.edi", want: hashCommand{"sha1sum", "/acme/out/a.edi", true}},
		// rclone escapes every byte outside [A-Za-z0-9_.,:/@-] and non-ASCII.
		{in: `sha1sum /acme/sync/fi\ le\$\%\<\>111.txt`, want: hashCommand{"sha1sum", "/acme/sync/fi le$%<>111.txt", true}},
		{in: `md5sum /a/ü\ nicode\'s\".xml`, want: hashCommand{"md5sum", `/a/ü nicode's".xml`, true}},
		{in: "md5sum /a/line'\n'break", want: hashCommand{"md5sum", "/a/line\nbreak", true}},
		{in: `sha256sum '/a/fi le $HOME;rm'`, want: hashCommand{"sha256sum", "/a/fi le $HOME;rm", true}},
		{in: `sha256sum "/a/say \"hi\" \\ \$x"`, want: hashCommand{"sha256sum", `/a/say "hi" \ $x`, true}},
		{in: "md5sum -- -dash", want: hashCommand{"md5sum", "-dash", true}},
		{in: "md5sum -", want: hashCommand{name: "md5sum", path: "-"}},
		{in: "ls /", err: true},
		{in: "md5sum /a; rm -rf /", err: true},
		{in: "md5sum $(id)", err: true},
		{in: "md5sum `id`", err: true},
		{in: `md5sum "$HOME"`, err: true},
		{in: "md5sum /a/*", err: true},
		{in: "md5sum /a | sh", err: true},
		{in: "md5sum /a > /b", err: true},
		{in: "md5sum -b /a", err: true},
		{in: "md5sum /a /b", err: true},
		{in: "md5sum 'open", err: true},
		{in: `md5sum "open`, err: true},
		{in: `md5sum /a\`, err: true},
		{in: "md5sum /a\nrm /b", err: true},
		{in: "echo ${ShellId}%ComSpec%", err: true}, // rclone's shell probe
		{in: "", err: true},
	} {
		got, err := parseHashCommand(c.in)
		if c.err != (err != nil) || !c.err && got != c.want {
			t.Errorf("parseHashCommand(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestSumLine(t *testing.T) {
	if got := sumLine("abc", "/a b"); got != "abc  /a b\n" {
		t.Errorf("plain: %q", got)
	}
	if got := sumLine("abc", "/a\\b\nc"); got != "\\abc  /a\\\\b\\nc\n" {
		t.Errorf("escaped: %q", got)
	}
}

func FuzzShellWords(f *testing.F) {
	for _, s := range []string{`md5sum /a\ b`, `sha1sum '/x'"y"`, "a\\\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := shellWords(s)
		if err != nil {
			return
		}
		// Whatever parsed must have come from quoted or plain text: a word
		// never holds a byte the input lacks.
		for _, w := range words {
			for _, b := range []byte(w) {
				if !slices.Contains([]byte(s), b) {
					t.Fatalf("%q: word %q holds %q", s, w, b)
				}
			}
		}
	})
}
