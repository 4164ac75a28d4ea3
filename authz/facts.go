package authz

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Facts describe the requester, loaded before the decision: who they are,
// where they belong and whether their account may be used now.
type Facts struct {
	// UserID identifies the account. A login deleted and created again is
	// another account, with another ID.
	UserID int64
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
	// Networks are the source networks the account may connect from;
	// empty means any. A restriction that cannot be read is kept as a
	// network that holds no address, so that it fails closed.
	Networks []netip.Prefix
	// Keys are the account's SSH keys.
	Keys []Key
	// SSHCompat says the account may log in through the SFTP
	// compatibility listener (older algorithms): the user, their
	// organisation or one above it is marked for it.
	SSHCompat bool

	// Protocol is the protocol of the request being decided. It must be one
	// of Protocols when those are restricted; it may be "" otherwise (the
	// CLI's explain and view).
	Protocol Protocol
	// Unreadable names the account's stored restrictions that could not be
	// read ("network", "protocol"): a damaged restriction must not widen
	// into "any", so while one is listed the account may do nothing. Empty
	// means every restriction was read.
	Unreadable []string
	// Session is what the request's connection authenticated with; its
	// zero value binds nothing (the CLI's explain and view).
	Session Session
}

// Key is an SSH public key of the account.
type Key struct {
	// Fingerprint is the key's SHA-256 fingerprint, "SHA256:...".
	Fingerprint string
	// Expires is when the key stops working; the zero time means never.
	Expires time.Time
}

// Session binds the requests of one connection to what it authenticated
// with, so that taking that away ends the connection's rights too.
type Session struct {
	// UserID is the account the connection logged in to; 0 binds none.
	UserID int64
	// From is the connection's source address; the zero Addr is unknown.
	From netip.Addr
	// Key is the fingerprint of the SSH key the connection proved it
	// holds; "" when it did not log in with a key.
	Key string
	// Compat says the connection came through the SFTP compatibility
	// listener, whose older algorithms only accounts marked SSHCompat may
	// use.
	Compat bool
}

// ErrNoAccount is wrapped by loaders when the login names no account.
var ErrNoAccount = errors.New("no such account")

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
	case f.Session.UserID != 0 && f.Session.UserID != f.UserID:
		return false, fmt.Sprintf("account %s is not the account this session logged in to (it was deleted and created again)", who)
	case f.Session.From.IsValid() && !f.fromAllowed():
		return false, fmt.Sprintf("source address %s is not in the networks account %s may use", f.Session.From.Unmap(), who)
	case f.Session.Key != "" && !f.keyUsable(now):
		return false, fmt.Sprintf("key %s of account %s was removed or has expired", f.Session.Key, who)
	case f.Session.Compat && !f.SSHCompat:
		return false, fmt.Sprintf("account %s is not marked for the SSH compatibility listener (pier user ssh-compat %s on, or its organisation)", who, who)
	}
	return true, ""
}

// fromAllowed reports whether the session's source address lies in one of
// the account's networks, or the account has none.
func (f *Facts) fromAllowed() bool {
	if len(f.Networks) == 0 {
		return true
	}
	from := f.Session.From.Unmap()
	for _, n := range f.Networks {
		if n.IsValid() && n.Contains(from) {
			return true
		}
	}
	return false
}

// keyUsable reports whether the session's key is still one of the
// account's keys and has not expired.
func (f *Facts) keyUsable(now time.Time) bool {
	for _, k := range f.Keys {
		if k.Fingerprint == f.Session.Key {
			return k.Expires.IsZero() || now.Before(k.Expires)
		}
	}
	return false
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
