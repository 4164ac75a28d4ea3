package credential

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"pier/credential/blocklist"
)

// Policy defaults and bounds, in Unicode code points after NFKC.
const (
	DefaultMinLength = 15  // NIST SP 800-63B rev 4 when the password is the only factor
	DefaultMaxLength = 256 // NIST: accept at least 64
	MinMinLength     = 8   // NIST's floor, for passwords used with a second factor
	MinMaxLength     = 64
	MaxMaxLength     = MaxPasswordBytes / 4 // so that every accepted password can be hashed
)

// Policy decides whether a new password is acceptable, following NIST SP
// 800-63B rev 4: length bounds, a blocklist and context words; no
// composition rules (no "one digit, one capital") and nothing that expires.
// The zero Policy is the default one. Lengths count Unicode code points after
// NFKC normalisation, so "é" is one character however it was typed.
type Policy struct {
	MinLength int // 0 means DefaultMinLength
	MaxLength int // 0 means DefaultMaxLength
}

func (p Policy) withDefaults() Policy {
	if p.MinLength == 0 {
		p.MinLength = DefaultMinLength
	}
	if p.MaxLength == 0 {
		p.MaxLength = DefaultMaxLength
	}
	return p
}

// Validate reports whether the policy is allowed: MinLength at least 8,
// MaxLength between 64 and 1024, and MinLength ≤ MaxLength.
func (p Policy) Validate() error {
	p = p.withDefaults()
	switch {
	case p.MinLength < MinMinLength:
		return fmt.Errorf("credential: password policy: minimum length %d below NIST's %d", p.MinLength, MinMinLength)
	case p.MaxLength < MinMaxLength || p.MaxLength > MaxMaxLength:
		return fmt.Errorf("credential: password policy: maximum length %d outside %d..%d", p.MaxLength, MinMaxLength, MaxMaxLength)
	case p.MinLength > p.MaxLength:
		return fmt.Errorf("credential: password policy: minimum length %d above maximum %d", p.MinLength, p.MaxLength)
	}
	return nil
}

// Check returns nil if password is acceptable, or a *PolicyError naming the
// first rule it breaks (the Rule constants, in order). The context words are
// what the password must not contain: the user's login, names, email address
// and the like, compared case-insensitively; each is also split at
// punctuation and spaces ("jane.doe@acme.example" gives "jane", "doe",
// "acme", "example"), and only words and parts of 4 characters or more count.
// A password is blocklisted when it is in the blocklist, or is a blocklisted
// entry of 8 characters or more followed only by digits, punctuation, symbols
// or spaces ("password123456789"). The error never contains the password.
// An invalid Policy yields its Validate error, which is not a *PolicyError.
func (p Policy) Check(password string, context ...string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p = p.withDefaults()
	if !utf8.ValidString(password) {
		return &PolicyError{RuleEncoding, "must be valid UTF-8 text"}
	}
	if strings.ContainsFunc(password, unicode.IsControl) {
		return &PolicyError{RuleControl, "must not contain control characters such as tab or newline"}
	}
	if len(password) > 4*MaxPasswordBytes { // cheap bound before normalising
		return &PolicyError{RuleMaxLength, fmt.Sprintf("must be at most %d characters", p.MaxLength)}
	}
	pw := norm.NFKC.String(password)
	switch n := utf8.RuneCountInString(pw); {
	case n > p.MaxLength:
		return &PolicyError{RuleMaxLength, fmt.Sprintf("must be at most %d characters (got %d)", p.MaxLength, n)}
	case n < p.MinLength:
		return &PolicyError{RuleMinLength, fmt.Sprintf("must be at least %d characters (got %d)", p.MinLength, n)}
	}
	folded := blocklist.Fold(pw)
	if repetitive(folded) {
		return &PolicyError{RuleRepetitive, "must not be one character or a short sequence repeated"}
	}
	if containsContext(folded, context) {
		return &PolicyError{RuleContext, "must not contain the user's login, name or email address"}
	}
	if blocklist.Contains(folded) {
		return &PolicyError{RuleBlocklist, "is in the list of common or breached passwords"}
	}
	base := strings.TrimRightFunc(folded, func(r rune) bool { return !unicode.IsLetter(r) })
	if base != folded && utf8.RuneCountInString(base) >= 8 && blocklist.Contains(base) {
		return &PolicyError{RuleBlocklist, "is a common or breached password with digits or symbols added"}
	}
	return nil
}

// repetitive reports whether s is a unit of at most 4 code points repeated
// ("aaaa…", "abab…", "1234 1234 …" without the spaces), the last repeat
// possibly cut short.
func repetitive(s string) bool {
	r := []rune(s)
	for period := 1; period <= 4 && 2*period <= len(r); period++ {
		if slices.Equal(r[period:], r[:len(r)-period]) {
			return true
		}
	}
	return false
}

// containsContext reports whether the folded password contains a context
// word, or a part of one, of at least 4 code points.
func containsContext(folded string, context []string) bool {
	for _, c := range context {
		c = blocklist.Fold(c)
		parts := strings.FieldsFunc(c, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		for _, w := range append(parts, strings.TrimSpace(c)) {
			if utf8.RuneCountInString(w) >= 4 && strings.Contains(folded, w) {
				return true
			}
		}
	}
	return false
}
