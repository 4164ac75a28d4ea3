package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Facts describe the requester, loaded before the decision: who they are,
// where they belong and whether their account may be used now.
type Facts struct {
	// Login is the user's login.
	Login string
	// Org is the slug of the user's organisation.
	Org string
	// OrgAncestors are the slugs of the organisations above Org, nearest
	// first (for acme-berlin under acme: ["acme"]).
	OrgAncestors []string
	// Role is the user's job role in Org ("" for none).
	Role string
	// Groups are the user's effective groups, membership through the
	// organisation or the role already resolved by the loader.
	Groups []string
	// Status is the account's status; only StatusActive may do anything.
	Status Status
	// Expires is when the account stops working; the zero time means never.
	Expires time.Time
	// Protocols are the protocols the account may use; empty means all.
	Protocols []Protocol
	// Protocol is the protocol of the request being decided. It must be one
	// of Protocols when those are restricted; it may be "" otherwise (the
	// CLI's explain and view).
	Protocol Protocol
	// Unreadable names the account's stored restrictions that could not be
	// read ("network", "protocol"): a damaged restriction must not widen
	// into "any", so while one is listed the account may do nothing. Empty
	// means every restriction was read.
	Unreadable []string
}

// Usable reports whether the account may do anything at time now, and if
// not, why ("account alice is suspended").
func (f *Facts) Usable(now time.Time) (bool, string) {
	who := f.Login
	if who == "" {
		who = "(no login)"
	}
	switch {
	case f.Status == StatusUnknown || f.Status > StatusExpired:
		return false, fmt.Sprintf("account %s has no known status", who)
	case len(f.Unreadable) == 1:
		return false, fmt.Sprintf("account %s: stored %s restriction is unreadable", who, f.Unreadable[0])
	case len(f.Unreadable) > 1:
		return false, fmt.Sprintf("account %s: stored %s restrictions are unreadable", who, strings.Join(f.Unreadable, " and "))
	case f.Status != StatusActive:
		return false, fmt.Sprintf("account %s is %s", who, f.Status)
	case !f.Expires.IsZero() && !now.Before(f.Expires):
		return false, fmt.Sprintf("account %s expired at %s", who, f.Expires.UTC().Format(time.RFC3339))
	case len(f.Protocols) > 0 && !slices.Contains(f.Protocols, f.Protocol):
		allowed := make([]string, len(f.Protocols))
		for i, p := range f.Protocols {
			allowed[i] = string(p)
		}
		slices.Sort(allowed)
		via := string(f.Protocol)
		if via == "" {
			via = "an unstated protocol"
		}
		return false, fmt.Sprintf("account %s may not use %s (only %s)", who, via, strings.Join(allowed, ", "))
	}
	return true, ""
}

// inOrg reports whether the user's organisation is slug, or lies below it
// when sub is set.
func (f *Facts) inOrg(slug string, sub bool) bool {
	if slug == "" {
		return false
	}
	return f.Org == slug || sub && slices.Contains(f.OrgAncestors, slug)
}

// Status is an account's status. The zero value, StatusUnknown, is refused
// like every status other than StatusActive.
type Status uint8

// Account statuses.
const (
	StatusUnknown   Status = iota // not loaded: refused
	StatusPending                 // self-registered, awaiting approval
	StatusActive                  // may work
	StatusSuspended               // suspended by an administrator or for inactivity
	StatusExpired                 // past its expiry
)

// ErrUnknownStatus is wrapped by ParseStatus errors.
var ErrUnknownStatus = errors.New("authz: unknown account status")

// ParseStatus reads "pending", "active", "suspended" or "expired".
func ParseStatus(s string) (Status, error) {
	for st := StatusPending; st <= StatusExpired; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return StatusUnknown, fmt.Errorf("%w %q", ErrUnknownStatus, clip(s))
}

// String returns the status's name.
func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusActive:
		return "active"
	case StatusSuspended:
		return "suspended"
	case StatusExpired:
		return "expired"
	}
	return "unknown"
}

// Protocol names a front end.
type Protocol string

// The protocols pier serves.
const (
	SFTP   Protocol = "sftp"
	WebDAV Protocol = "webdav"
)
