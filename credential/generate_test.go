package credential

import (
	"regexp"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	shape := regexp.MustCompile(`^[` + generateAlphabet + `]{6}(-[` + generateAlphabet + `]{6}){3}$`)
	seen := make(map[string]bool, 1000)
	counts := make(map[rune]int)
	for range 1000 {
		pw, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(pw) {
			t.Fatalf("Generate() = %q: not 4 groups of 6 from the alphabet", pw)
		}
		if strings.ContainsAny(pw, "0Oo1lI") {
			t.Fatalf("Generate() = %q has an ambiguous character", pw)
		}
		if err := (Policy{}).Check(pw); err != nil {
			t.Fatalf("Generate() = %q fails the default policy: %v", pw, err)
		}
		if seen[pw] {
			t.Fatalf("Generate() repeated %q", pw)
		}
		seen[pw] = true
		for _, r := range strings.ReplaceAll(pw, "-", "") {
			counts[r]++
		}
	}
	// 24,000 draws over 56 symbols: about 429 each (σ ≈ 20). Fair draws
	// stay within ±6σ except with negligible probability.
	if len(counts) != len(generateAlphabet) {
		t.Errorf("%d of %d symbols used", len(counts), len(generateAlphabet))
	}
	for r, n := range counts {
		if n < 300 || n > 560 {
			t.Errorf("symbol %q drawn %d times of 24,000; expected about 429", r, n)
		}
	}
	// A plain byte % 56 would favour the first 256%56 = 32 symbols (5/256
	// against 4/256): 62.5% of draws instead of 57.1%, 17σ away. Fair draws
	// land within 2 points (6σ).
	first := 0
	for _, r := range generateAlphabet[:256%len(generateAlphabet)] {
		first += counts[r]
	}
	if share := float64(first) / 24000; share < 0.551 || share > 0.591 {
		t.Errorf("first 32 symbols drew %.1f%% of 24,000; fair is 57.1%%: biased sampling", 100*share)
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		if _, err := Generate(); err != nil {
			b.Fatal(err)
		}
	}
}
