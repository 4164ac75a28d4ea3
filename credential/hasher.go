package credential

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"runtime"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// MaxPasswordBytes bounds a password's length in bytes after NFKC
// normalisation. Policy.Validate keeps MaxLength at most MaxPasswordBytes/4
// code points, so every password a Policy accepts can be hashed.
const MaxPasswordBytes = 4096

// Hasher hashes and verifies passwords with argon2id. At most maxConcurrent
// hashes (given to NewHasher) run at once; the others wait their turn or
// until their context ends. Peak memory is about maxConcurrent × Memory KiB,
// more while verifying stored hashes with larger parameters (up to
// MaxMemory). A Hasher is safe for concurrent use.
type Hasher struct {
	Params // for new hashes; Verify reads each stored hash's own
	sem    chan struct{}
	// derive computes the key; nil means argon2.IDKey. Tests replace it to
	// observe concurrency.
	derive func(password, salt []byte, p Params) []byte
}

// NewHasher returns a Hasher that makes new hashes with p (zero fields take
// DefaultParams' values) and runs at most maxConcurrent hashes at once
// (GOMAXPROCS when maxConcurrent < 1). It refuses parameters weaker than
// OWASP's minimum (see Params.Validate).
func NewHasher(p Params, maxConcurrent int) (*Hasher, error) {
	p = p.withDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if maxConcurrent < 1 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	return &Hasher{Params: p, sem: make(chan struct{}, maxConcurrent)}, nil
}

// Hash returns the PHC encoding of password hashed with a new random salt,
// e.g. "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>". The password is
// normalised to NFKC first. Hash does not check a Policy: that is the
// caller's job when a password is chosen. The error is ctx's if ctx ends
// while waiting for a turn; a hash once started runs to completion.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	pw, err := preparePassword(password)
	if err != nil {
		return "", err
	}
	salt := make([]byte, h.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("credential: salt: %w", err)
	}
	key, err := h.run(ctx, pw, salt, h.Params)
	if err != nil {
		return "", err
	}
	return encodeHash(h.Params, salt, key), nil
}

// Verify reports whether password matches the encoded hash. A wrong
// password is ok == false with a nil error; an error means the hash could
// not be checked: ErrMalformedHash or ErrUnsupportedHash for a bad stored
// hash, or ctx's error. needsRehash is true when ok and the stored hash's
// parameters are weaker than the Hasher's: the caller should then store
// Hash(password) in its place.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	pw, err := preparePassword(password)
	if err != nil {
		return false, false, nil // Hash never accepted such a password
	}
	got, err := h.run(ctx, pw, salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p.weakerThan(h.Params), nil
}

// run derives the key once a turn is free.
func (h *Hasher) run(ctx context.Context, password, salt []byte, p Params) ([]byte, error) {
	if h.sem == nil {
		return nil, ErrNotInitialised
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.sem }()
	if h.derive != nil {
		return h.derive(password, salt, p), nil
	}
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// preparePassword normalises a password to NFKC (NIST SP 800-63B) and
// refuses what can never be hashed.
func preparePassword(password string) ([]byte, error) {
	if !utf8.ValidString(password) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrPassword)
	}
	// NFKC shrinks text at most threefold (Hangul jamo), so longer input can
	// be refused before normalising it.
	if len(password) > 4*MaxPasswordBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrPassword, MaxPasswordBytes)
	}
	pw := norm.NFKC.String(password)
	if len(pw) > MaxPasswordBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrPassword, MaxPasswordBytes)
	}
	return []byte(pw), nil
}
