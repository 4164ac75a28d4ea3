package credential

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Params are argon2id's cost parameters and sizes. They travel inside every
// encoded hash, so a Hasher can verify hashes made with other Params.
type Params struct {
	Memory  uint32 // memory in KiB (argon2's m)
	Time    uint32 // number of passes (argon2's t)
	Threads uint8  // degree of parallelism (argon2's p)
	SaltLen uint32 // random salt, in bytes
	KeyLen  uint32 // derived key (the stored hash), in bytes
}

// DefaultParams returns OWASP's minimum recommendation for argon2id (19 MiB,
// t=2, p=1) with a 16-byte salt and a 32-byte key. A hash costs about 20 MB
// and 25–30 ms on pier's reference machine.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// withDefaults fills the zero fields of p from DefaultParams.
func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	return p
}

// Limits on the parameters of a stored hash. A hash beyond them is refused
// with ErrMalformedHash before any work, so that a tampered database row
// cannot make the server allocate gigabytes or spin for minutes.
const (
	MaxMemory  = 1 << 20 // KiB: 1 GiB
	MaxTime    = 100
	MaxThreads = 64
	MinSaltLen = 8 // RFC 9106 allows 8; pier writes 16
	MaxSaltLen = 64
	MinKeyLen  = 16
	MaxKeyLen  = 64
)

// owaspMinMemory returns, from OWASP's table of equivalent argon2id settings
// (Password Storage Cheat Sheet), the least memory in KiB for t passes.
func owaspMinMemory(t uint32) uint32 {
	switch t {
	case 1:
		return 47104
	case 2:
		return 19456
	case 3:
		return 12288
	case 4:
		return 9216
	}
	return 7168
}

// Validate reports whether p is fit for new hashes: within the limits above,
// a salt and key of at least 16 bytes, and at least one of OWASP's minimum
// settings (46 MiB with t=1, 19 MiB with t=2, 12 MiB with t=3, 9 MiB with
// t=4, 7 MiB with t≥5).
func (p Params) Validate() error {
	if err := p.inLimits(); err != nil {
		return err
	}
	if p.SaltLen < 16 || p.KeyLen < 16 {
		return fmt.Errorf("credential: argon2id salt and key must be at least 16 bytes (got %d and %d)", p.SaltLen, p.KeyLen)
	}
	if need := owaspMinMemory(p.Time); p.Memory < need {
		return fmt.Errorf("credential: argon2id with t=%d needs at least %d KiB of memory (got %d): OWASP minimum", p.Time, need, p.Memory)
	}
	return nil
}

// inLimits checks the limits that apply to stored hashes too.
func (p Params) inLimits() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("argon2id t=%d outside 1..%d", p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("argon2id p=%d outside 1..%d", p.Threads, MaxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemory:
		return fmt.Errorf("argon2id m=%d outside %d..%d KiB", p.Memory, 8*uint32(p.Threads), MaxMemory)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("argon2id salt of %d bytes outside %d..%d", p.SaltLen, MinSaltLen, MaxSaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("argon2id hash of %d bytes outside %d..%d", p.KeyLen, MinKeyLen, MaxKeyLen)
	}
	return nil
}

// weakerThan reports whether a hash made with p should be redone with q.
// Threads are not a strength: changing them alone triggers no rehash.
func (p Params) weakerThan(q Params) bool {
	return p.Memory < q.Memory || p.Time < q.Time || p.SaltLen < q.SaltLen || p.KeyLen < q.KeyLen
}

// The PHC string format: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, with
// salt and hash in standard base64 without padding.
const (
	phcAlgorithm = "argon2id"
	phcVersion   = "v=19" // argon2.Version, 0x13
)

var b64 = base64.RawStdEncoding.Strict()

func encodeHash(p Params, salt, key []byte) string {
	return fmt.Sprintf("$%s$%s$m=%d,t=%d,p=%d$%s$%s",
		phcAlgorithm, phcVersion, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodeHash parses an encoded hash strictly: only the form encodeHash
// writes is accepted, so decodeHash(encodeHash(...)) round-trips and any
// other string is refused. Params.SaltLen and KeyLen are those of the
// decoded salt and key.
func decodeHash(s string) (p Params, salt, key []byte, err error) {
	fields := strings.Split(s, "$")
	if len(fields) < 2 || fields[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: not a PHC string", ErrMalformedHash)
	}
	if fields[1] != phcAlgorithm {
		return p, nil, nil, fmt.Errorf("%w: algorithm %.20q, want %s", ErrUnsupportedHash, fields[1], phcAlgorithm)
	}
	if len(fields) != 6 {
		return p, nil, nil, fmt.Errorf("%w: %d fields, want $argon2id$v=19$m=…,t=…,p=…$salt$hash", ErrMalformedHash, len(fields)-1)
	}
	if fields[2] != phcVersion {
		return p, nil, nil, fmt.Errorf("%w: argon2id version %.20q, want %s", ErrUnsupportedHash, fields[2], phcVersion)
	}
	if p, err = parseCosts(fields[3]); err != nil {
		return p, nil, nil, err
	}
	if salt, err = b64.DecodeString(fields[4]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt: not unpadded base64", ErrMalformedHash)
	}
	if key, err = b64.DecodeString(fields[5]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: hash: not unpadded base64", ErrMalformedHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key)) // #nosec G115 -- from a hash string of at most MaxHashBytes
	if err := p.inLimits(); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// parseCosts parses "m=19456,t=2,p=1": exactly these keys in this order,
// decimal numbers without sign or leading zeros.
func parseCosts(s string) (p Params, err error) {
	var vals [3]uint64
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return p, fmt.Errorf("%w: parameters must be m=…,t=…,p=…", ErrMalformedHash)
	}
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(parts[i], name)
		if !ok || digits == "" || len(digits) > 10 || (digits[0] == '0' && len(digits) > 1) || strings.Trim(digits, "0123456789") != "" {
			return p, fmt.Errorf("%w: parameters must be m=…,t=…,p=… in decimal", ErrMalformedHash)
		}
		if vals[i], err = strconv.ParseUint(digits, 10, 32); err != nil {
			return p, fmt.Errorf("%w: parameter %s out of range", ErrMalformedHash, name[:1])
		}
	}
	if vals[2] > 255 {
		return p, fmt.Errorf("%w: argon2id p=%d outside 1..%d", ErrMalformedHash, vals[2], MaxThreads)
	}
	return Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}, nil // #nosec G115 -- parsed with bitSize 32, p checked ≤ 255
}
