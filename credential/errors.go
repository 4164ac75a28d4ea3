package credential

import "errors"

// Sentinels. Use errors.Is: the errors returned wrap them with detail.
var (
	// ErrPolicy is wrapped by every *PolicyError: a password refused by a Policy.
	ErrPolicy = errors.New("password refused by policy")
	// ErrKey is wrapped by every *KeyError: an SSH public key refused.
	ErrKey = errors.New("SSH public key refused")
	// ErrMalformedHash means a stored password hash cannot be parsed or has
	// parameters outside the limits (see MaxMemory): a corrupt or tampered
	// record, never a wrong password.
	ErrMalformedHash = errors.New("malformed password hash")
	// ErrUnsupportedHash means a stored hash uses another algorithm or
	// version than argon2id v=19.
	ErrUnsupportedHash = errors.New("unsupported password hash")
	// ErrPassword means a password cannot be hashed at all: invalid UTF-8 or
	// longer than MaxPasswordBytes. A Policy refuses such passwords earlier.
	ErrPassword = errors.New("password cannot be hashed")
	// ErrNotInitialised means a Hasher was not made by NewHasher.
	ErrNotInitialised = errors.New("credential: Hasher not made by NewHasher")
)

// Rule names a password policy rule, as carried by a PolicyError.
type Rule string

// The rules of Policy.Check, in the order they are checked.
const (
	RuleEncoding   Rule = "encoding"   // not valid UTF-8
	RuleControl    Rule = "control"    // contains control characters
	RuleMaxLength  Rule = "max-length" // too long
	RuleMinLength  Rule = "min-length" // too short
	RuleRepetitive Rule = "repetitive" // one character or a short sequence repeated
	RuleContext    Rule = "context"    // contains the login, name or email
	RuleBlocklist  Rule = "blocklist"  // a common or breached password
)

// PolicyError is a password refused by a Policy. Msg completes the sentence
// "password …" and never contains the password or a part of it, so the error
// can be shown to the user and logged.
type PolicyError struct {
	Rule Rule
	Msg  string // e.g. "must be at least 15 characters (got 9)"
}

func (e *PolicyError) Error() string { return "password " + e.Msg }

// Unwrap makes errors.Is(err, ErrPolicy) true.
func (e *PolicyError) Unwrap() error { return ErrPolicy }

// KeyError is an SSH public key refused by ParseAuthorizedKey. Msg is one
// line meant for the person who supplied the key, e.g. "RSA key of 1024 bits:
// at least 2048 required".
type KeyError struct {
	Msg string
}

func (e *KeyError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrKey) true.
func (e *KeyError) Unwrap() error { return ErrKey }
