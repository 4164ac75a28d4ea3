package credential

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestHasher(t testing.TB, p Params, n int) *Hasher {
	t.Helper()
	h, err := NewHasher(p, n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	ctx := t.Context()
	h := newTestHasher(t, Params{}, 2)
	const pw = "correct horse battery staple"
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash = %q, want the PHC form at default params", enc)
	}
	if strings.Contains(enc, pw) {
		t.Fatal("hash contains the password")
	}
	if again, _ := h.Hash(ctx, pw); again == enc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, c := range []struct {
		name, pw string
		ok       bool
	}{
		{"right", pw, true},
		{"wrong", "correct horse battery stapler", false},
		{"case", "Correct horse battery staple", false},
		{"empty", "", false},
		{"invalid UTF-8", "correct\xffhorse", false},
	} {
		ok, rehash, err := h.Verify(ctx, enc, c.pw)
		if err != nil || ok != c.ok || rehash {
			t.Errorf("%s: Verify = %v, %v, %v; want %v, false, nil", c.name, ok, rehash, err, c.ok)
		}
	}
}

// TestNormalisation: the same password typed composed (NFC), decomposed
// (NFD, as macOS sends it) or in fullwidth forms verifies against one hash.
func TestNormalisation(t *testing.T) {
	ctx := t.Context()
	h := newTestHasher(t, Params{}, 2)
	enc, err := h.Hash(ctx, "Müller café ＡＢＣ 2026")
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"Müller café ABC 2026", "Mu\u0308ller cafe\u0301 ABC 2026"} {
		if ok, _, err := h.Verify(ctx, enc, pw); !ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want a match after NFKC", pw, ok, err)
		}
	}
}

func TestVerifyTampered(t *testing.T) {
	ctx := t.Context()
	h := newTestHasher(t, Params{}, 2)
	const pw = "an ordinary passphrase"
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(enc, '$')
	flip := func(s string, at int) string {
		b := []byte(s)
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		return string(b)
	}
	// Changed hash or salt bytes: a mismatch, not an error.
	for _, bad := range []string{flip(enc, i+1), flip(enc, i-2), strings.Replace(enc, "t=2", "t=3", 1)} {
		if ok, _, err := h.Verify(ctx, bad, pw); ok || err != nil {
			t.Errorf("Verify(tampered %q) = %v, %v; want false, nil", bad, ok, err)
		}
	}
	// Absurd parameters: refused before any work.
	h.derive = func(_, _ []byte, p Params) []byte {
		t.Errorf("derived a key with %+v: the hash should have been refused first", p)
		return nil
	}
	for _, bad := range []string{
		strings.Replace(enc, "m=19456", "m=4194304", 1),
		strings.Replace(enc, "t=2", "t=1000000", 1),
		strings.Replace(enc, "$argon2id$", "$argon2i$", 1),
		enc[:i],
		"",
	} {
		ok, _, err := h.Verify(ctx, bad, pw)
		if ok || (!errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedHash)) {
			t.Errorf("Verify(%q) = %v, %v; want a malformed or unsupported hash error", bad, ok, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := t.Context()
	old := newTestHasher(t, Params{}, 1)
	enc, err := old.Hash(ctx, "a passphrase from 2026")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    Params
		want bool
	}{
		{"same", Params{}, false},
		{"more memory", Params{Memory: 32 * 1024}, true},
		{"more passes", Params{Time: 3}, true},
		{"longer key", Params{KeyLen: 64}, true},
		{"more threads only", Params{Threads: 2}, false},
		{"weaker but valid", Params{Memory: 12288, Time: 3}, true}, // t raised
		{"less memory more time", Params{Memory: 9216, Time: 4}, true},
	} {
		h := newTestHasher(t, c.p, 1)
		ok, rehash, err := h.Verify(ctx, enc, "a passphrase from 2026")
		if !ok || err != nil || rehash != c.want {
			t.Errorf("%s: Verify = %v, %v, %v; want true, %v, nil", c.name, ok, rehash, err, c.want)
		}
		if ok, rehash, _ := h.Verify(ctx, enc, "wrong"); ok || rehash {
			t.Errorf("%s: wrong password gives needsRehash", c.name)
		}
	}
}

func TestNewHasher(t *testing.T) {
	if _, err := NewHasher(Params{Memory: 1024}, 1); err == nil {
		t.Error("NewHasher accepted 1 MiB at t=2, below OWASP's minimum")
	}
	h := newTestHasher(t, Params{}, 0)
	if h.Params != DefaultParams() || cap(h.sem) < 1 {
		t.Errorf("NewHasher(Params{}, 0) = %+v with %d slots", h.Params, cap(h.sem))
	}
	var zero Hasher
	if _, err := zero.Hash(t.Context(), "x"); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("zero Hasher: Hash error %v, want ErrNotInitialised", err)
	}
}

func TestHashRefusesUnhashable(t *testing.T) {
	h := newTestHasher(t, Params{}, 1)
	for _, pw := range []string{"bad\xffutf8", strings.Repeat("é", MaxPasswordBytes/2+1), strings.Repeat("x", 5*MaxPasswordBytes)} {
		if _, err := h.Hash(t.Context(), pw); !errors.Is(err, ErrPassword) {
			t.Errorf("Hash(%d bytes) error %v, want ErrPassword", len(pw), err)
		}
	}
	// The longest password a Policy can accept still hashes.
	if _, err := h.Hash(t.Context(), strings.Repeat("😀", MaxMaxLength)); err != nil {
		t.Errorf("Hash(%d emoji) = %v", MaxMaxLength, err)
	}
}

// TestConcurrencyBound counts the derivations in progress through the
// derive hook: never more than the bound, and the bound is reached. Under a
// bound of 2 the first two derivations wait for each other, which would
// never happen under a wrong bound of 1; a short sleep gives a broken
// semaphore every chance to let more through.
func TestConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 2} {
		h := newTestHasher(t, Params{}, limit)
		var inFlight, peak atomic.Int32
		met := make(chan struct{})
		var meet sync.Once
		h.derive = func(pw, salt []byte, p Params) []byte {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
			}
			if limit == 2 {
				if n == 2 {
					meet.Do(func() { close(met) })
				}
				select {
				case <-met:
				case <-time.After(10 * time.Second):
					t.Error("two derivations never ran at once under maxConcurrent=2")
				}
			}
			time.Sleep(time.Millisecond)
			return make([]byte, p.KeyLen)
		}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				if _, err := h.Hash(t.Context(), "a passphrase"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := peak.Load(); got != int32(limit) {
			t.Errorf("maxConcurrent=%d: peak of %d derivations at once", limit, got)
		}
	}
}

// TestWaitHonoursContext: with every slot taken, Hash and Verify wait and
// give up when their context ends, without hashing.
func TestWaitHonoursContext(t *testing.T) {
	h := newTestHasher(t, Params{}, 1)
	h.sem <- struct{}{} // occupy the only slot
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "a passphrase"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash with no free slot: %v, want DeadlineExceeded", err)
	}
	cancelled, cancel2 := context.WithCancel(t.Context())
	cancel2()
	<-h.sem // free the slot: a cancelled context still must not hash
	if ok, _, err := h.Verify(cancelled, goodHash, "x"); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with cancelled context: %v, %v; want Canceled", ok, err)
	}
	if _, err := h.Hash(t.Context(), "a passphrase"); err != nil {
		t.Errorf("Hash after the slot was freed: %v", err)
	}
}

// BenchmarkHash measures one hash at the default parameters (OWASP's
// minimum). Measured on the reference machine (AMD EPYC, 2 cores), 2026-11:
// 26.8–32.4 ms/op, 19,925,660 B/op, 34 allocs/op.
func BenchmarkHash(b *testing.B) {
	h := newTestHasher(b, Params{}, 1)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
