package credential

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const goodHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yYh6Yc5pvtZ7QW9ZuRWgJTD6CxqURkZ5bXu0tHUMvCo"

func TestDecodeHash(t *testing.T) {
	p, salt, key, err := decodeHash(goodHash)
	if err != nil {
		t.Fatal(err)
	}
	want := Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	if p != want || string(salt) != "somesaltsomesalt" || len(key) != 32 {
		t.Fatalf("decodeHash = %+v %q %d-byte key, want %+v", p, salt, len(key), want)
	}
	if got := encodeHash(p, salt, key); got != goodHash {
		t.Fatalf("encodeHash(decodeHash(h)) = %q, want %q", got, goodHash)
	}
}

func TestDecodeHashRefuses(t *testing.T) {
	salt16 := "c29tZXNhbHRzb21lc2FsdA"
	key32 := "yYh6Yc5pvtZ7QW9ZuRWgJTD6CxqURkZ5bXu0tHUMvCo"
	h := func(costs string) string { return "$argon2id$v=19$" + costs + "$" + salt16 + "$" + key32 }
	for _, c := range []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrMalformedHash},
		{"plain text", "hunter2", ErrMalformedHash},
		{"bcrypt", "$2b$12$abcdefghijklmnopqrstuu5zOgRWdZ5b3a6wRq0Wq7Z4QHnQZkS.6", ErrUnsupportedHash},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32, ErrUnsupportedHash},
		{"argon2d", "$argon2d$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32, ErrUnsupportedHash},
		{"version 16", "$argon2id$v=16$m=19456,t=2,p=1$" + salt16 + "$" + key32, ErrUnsupportedHash},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt16 + "$" + key32, ErrMalformedHash},
		{"extra field", goodHash + "$", ErrMalformedHash},
		{"missing hash", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16, ErrMalformedHash},
		{"order", h("t=2,m=19456,p=1"), ErrMalformedHash},
		{"spaces", h("m=19456, t=2, p=1"), ErrMalformedHash},
		{"leading zero", h("m=019456,t=2,p=1"), ErrMalformedHash},
		{"sign", h("m=+19456,t=2,p=1"), ErrMalformedHash},
		{"negative", h("m=19456,t=-2,p=1"), ErrMalformedHash},
		{"hex", h("m=0x4c00,t=2,p=1"), ErrMalformedHash},
		{"empty value", h("m=,t=2,p=1"), ErrMalformedHash},
		{"keyid", h("m=19456,t=2,p=1,keyid=abc"), ErrMalformedHash},
		{"overflow", h("m=4294967296,t=2,p=1"), ErrMalformedHash},
		{"memory 2 GiB", h("m=2097152,t=2,p=1"), ErrMalformedHash},
		{"time 1000", h("m=19456,t=1000,p=1"), ErrMalformedHash},
		{"time 0", h("m=19456,t=0,p=1"), ErrMalformedHash},
		{"threads 0", h("m=19456,t=2,p=0"), ErrMalformedHash},
		{"threads 255", h("m=19456,t=2,p=255"), ErrMalformedHash},
		{"threads 256", h("m=19456,t=2,p=256"), ErrMalformedHash},
		{"memory below 8p", h("m=8,t=2,p=4"), ErrMalformedHash},
		{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "==$" + key32, ErrMalformedHash},
		{"url base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + strings.ReplaceAll(key32, "+", "-") + "_", ErrMalformedHash},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key32, ErrMalformedHash},
		{"short key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$c2hvcnQ", ErrMalformedHash},
		{"long key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + strings.Repeat("A", 100), ErrMalformedHash},
		{"trailing bits", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16[:len(salt16)-1] + "B$" + key32, ErrMalformedHash},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := decodeHash(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("decodeHash(%q) = %v, want %v", c.in, err, c.want)
			}
		})
	}
}

// FuzzDecode: the parser never panics, accepts only hashes within the
// limits, and what it accepts re-encodes to the same string.
func FuzzDecode(f *testing.F) {
	f.Add(goodHash)
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=1048577,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yYh6Yc5pvtZ7QW9ZuRWgJTD6CxqURkZ5bXu0tHUMvCo")
	f.Add("$argon2i$v=19$m=19456,t=2,p=1$$")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decodeHash(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedHash) {
				t.Fatalf("decodeHash(%q): error %v wraps no sentinel", s, err)
			}
			return
		}
		if err := p.inLimits(); err != nil {
			t.Fatalf("decodeHash(%q) accepted %+v: %v", s, p, err)
		}
		if got := encodeHash(p, salt, key); got != s {
			t.Fatalf("decodeHash(%q) re-encodes as %q", s, got)
		}
	})
}

func TestParamsValidate(t *testing.T) {
	for _, c := range []struct {
		p  Params
		ok bool
	}{
		{DefaultParams(), true},
		{Params{Memory: 47104, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{Params{Memory: 12288, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{Params{Memory: 7168, Time: 5, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{Params{Memory: 65536, Time: 3, Threads: 4, SaltLen: 32, KeyLen: 64}, true},
		{Params{Memory: 19455, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{Params{Memory: 19456, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{Params{Memory: 7167, Time: 9, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32}, false},
		{Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 8}, false},
		{Params{Memory: 2 << 20, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{Params{Memory: 19456, Time: 101, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{Params{}, false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", c.p, err, c.ok)
		}
	}
}

func TestWeakerThan(t *testing.T) {
	d := DefaultParams()
	up := func(f func(*Params)) Params { p := d; f(&p); return p }
	for _, c := range []struct {
		stored Params
		want   bool
	}{
		{d, false},
		{up(func(p *Params) { p.Memory *= 2 }), false}, // stronger stays
		{up(func(p *Params) { p.Memory-- }), true},
		{up(func(p *Params) { p.Time = 1 }), true},
		{up(func(p *Params) { p.SaltLen = 8 }), true},
		{up(func(p *Params) { p.KeyLen = 16 }), true},
		{up(func(p *Params) { p.Threads = 4 }), false}, // parallelism is not strength
	} {
		if got := c.stored.weakerThan(d); got != c.want {
			t.Errorf("%+v.weakerThan(default) = %v, want %v", c.stored, got, c.want)
		}
	}
	if !bytes.Equal([]byte(encodeHash(d, []byte("somesaltsomesalt"), make([]byte, 32)))[:31], []byte("$argon2id$v=19$m=19456,t=2,p=1$")) {
		t.Error("encodeHash does not write the PHC prefix")
	}
}
