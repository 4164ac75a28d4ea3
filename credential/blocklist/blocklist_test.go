package blocklist

import (
	"testing"
	"unicode/utf8"
)

// TestListIsWellFormed checks the invariants that lookup relies on: entries
// sorted bytewise, unique, already folded, valid UTF-8 and non-empty.
func TestListIsWellFormed(t *testing.T) {
	l := load()
	if n := l.len(); n < 90000 {
		t.Fatalf("list has %d entries, want about 96,500", n)
	}
	prev := ""
	for i := range l.len() {
		e := l.entry(i)
		switch {
		case e == "" || !utf8.ValidString(e):
			t.Fatalf("entry %d %q: empty or invalid UTF-8", i, e)
		case i > 0 && e <= prev:
			t.Fatalf("entry %d %q not after %q: list unsorted or duplicated", i, e, prev)
		case Fold(e) != e:
			t.Fatalf("entry %d %q is not folded (%q)", i, e, Fold(e))
		}
		prev = e
	}
}

func TestContains(t *testing.T) {
	for _, c := range []struct {
		pw   string
		want bool
	}{
		{"password", true},
		{"PassWord", true},
		{"123456", true}, // first entry by frequency
		{"qwertyuiopasdfgh", true},
		{"QWERTYUIOPASDFGH", true},
		{"1qaz2wsx3edc4rfv", true},
		{"passwordpassword", true},
		{"ｐａｓｓｗｏｒｄ", true}, // fullwidth folds to ASCII under NFKC
		{"", false},
		{"correct horse battery staple", false},
		{"vX7#kq!2mZ9$wL", false},
		{"password ", false}, // no trimming: the caller decides
	} {
		if got := Contains(c.pw); got != c.want {
			t.Errorf("Contains(%q) = %v, want %v", c.pw, got, c.want)
		}
	}
	// The first and the last entry, the edges of the binary search.
	l := load()
	for _, i := range []int{0, l.len() - 1} {
		if !Contains(l.entry(i)) {
			t.Errorf("entry %d %q not found", i, l.entry(i))
		}
	}
}

// TestMemory reports what the loaded list costs; the figure goes in README.md.
func TestMemory(t *testing.T) {
	l := load()
	size := len(l.data) + 4*cap(l.off)
	t.Logf("%d entries: %d bytes of text + %d of offsets = %.2f MB resident; %d bytes embedded",
		l.len(), len(l.data), 4*cap(l.off), float64(size)/1e6, len(passwordsGz))
	if size > 2<<20 {
		t.Errorf("loaded list takes %d bytes; expected about 1.2 MB", size)
	}
}

func BenchmarkContains(b *testing.B) {
	load()
	for b.Loop() {
		Contains("qwertyuiopasdfgh2024")
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		// Bypass the once to measure a cold load.
		_ = loadUncached()
	}
}
