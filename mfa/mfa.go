// Package mfa provides pier's second factors and the secrets around them:
// TOTP codes (RFC 6238, 30 s steps, 6 digits, SHA-1 as every
// authenticator app supports) checked step by step so that a code is
// accepted once; the sealing of TOTP secrets at rest (AES-256-GCM, bound
// to the account); single-use recovery codes; and app passwords for
// clients that cannot ask for a code (WebDAV). Recovery codes and app
// passwords are random with at least 80 bits, so a SHA-256 hash stores
// them safely and finds them with one indexed read.
package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// Period is the length of a TOTP time step.
const Period = 30 * time.Second

// Skew is how many steps before and after the current one a code may
// come from (clocks drift; people type slowly).
const Skew = 1

// Enrolment is a new TOTP secret and the otpauth:// URI that carries it
// to an authenticator app.
type Enrolment struct {
	Secret string // base32, no padding
	URI    string
}

// NewTOTP makes a TOTP secret of 160 bits for account at issuer.
func NewTOTP(issuer, account string) (Enrolment, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, SecretSize: 20,
		Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: k.Secret(), URI: k.URL()}, nil
}

// Step returns the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code returns the code of a step, for tests and tools.
func Code(secret string, step int64) (string, error) {
	if step < 0 {
		return "", errors.New("mfa: negative time step")
	}
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}) // #nosec G115 -- checked ≥ 0
}

// Match returns the step, within Skew of now and after lastUsed, whose
// code is code; ok is false when there is none. The caller must then
// record the step as used, atomically, before accepting (a code is
// accepted once).
func Match(secret, code string, now time.Time, lastUsed int64) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := Step(now)
	for s := cur - Skew; s <= cur+Skew; s++ {
		if s <= lastUsed || s < 0 {
			continue
		}
		if good, err := hotp.ValidateCustom(code, uint64(s), secret, // #nosec G115 -- s ≥ 0: checked above
			hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}); err == nil && good {
			return s, true
		}
	}
	return 0, false
}

// IsCode reports whether s has the form of a TOTP code (6 digits).
func IsCode(s string) bool { return len(s) == 6 && strings.Trim(s, "0123456789") == "" }

var codeAlphabet = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// random returns n random characters of an alphabet without look-alikes
// (no l, o, 0, 1): 5 bits each.
func random(n int) string {
	b := make([]byte, (n*5+7)/8)
	rand.Read(b)
	return codeAlphabet.EncodeToString(b)[:n]
}

// RecoveryCodes makes n recovery codes (80 bits each, "abcd-efgh-jkmn-pqrs")
// and their hashes.
func RecoveryCodes(n int) (codes, hashes []string) {
	for range n {
		c := random(16)
		c = c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:]
		codes = append(codes, c)
		hashes = append(hashes, HashRecoveryCode(c))
	}
	return codes, hashes
}

// IsRecoveryCode reports whether s has the form of a recovery code,
// dashes and case aside.
func IsRecoveryCode(s string) bool {
	s = normalize(s)
	if len(s) != 16 {
		return false
	}
	_, err := codeAlphabet.DecodeString(s)
	return err == nil
}

func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// HashRecoveryCode hashes a recovery code as typed (dashes, spaces and
// case do not matter).
func HashRecoveryCode(code string) string {
	h := sha256.Sum256([]byte("pier-recovery\x00" + normalize(code)))
	return hex.EncodeToString(h[:])
}

// AppPasswordPrefix starts every app password, so that the login gate
// knows one without trying it as a password (no argon2id for it).
const AppPasswordPrefix = "pierapp-"

// NewAppPassword makes an app password (130 bits) and its hash.
func NewAppPassword() (clear, hash string) {
	clear = AppPasswordPrefix + random(26)
	return clear, HashAppPassword(clear)
}

// IsAppPassword reports whether s has the form of an app password.
func IsAppPassword(s string) bool {
	return strings.HasPrefix(s, AppPasswordPrefix) && len(s) == len(AppPasswordPrefix)+26
}

// HashAppPassword hashes an app password for storage and lookup.
func HashAppPassword(s string) string {
	h := sha256.Sum256([]byte("pier-app-password\x00" + s))
	return hex.EncodeToString(h[:])
}

// ErrSealed is returned when a sealed secret does not open: another key,
// another account, or damage.
var ErrSealed = errors.New("mfa: sealed secret does not open with this key for this account")
