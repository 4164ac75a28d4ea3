// Package admin is pier's one layer of administrative operations: the
// command line and the REST API both call it, so that what one refuses the
// other refuses too. Every operation takes the Actor who asks, checks that
// the actor's role allows it on that object — a super administrator
// anything, an organisation administrator only within their organisation's
// subtree (and never a grant beyond what their organisation holds), an
// auditor only reads — validates its input, and records the change in
// the audit trail with the actor's name.
//
// Errors: objects outside the actor's scope are not found (ErrNotFound),
// operations the role does not allow are ErrForbidden, bad input is a
// *identity.FieldError naming the field.
package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"pier/audit"
	"pier/authfs"
	"pier/credential"
	"pier/defender"
	"pier/identity"
	"pier/sessions"
	"pier/storage"
)

// Role is what an administrator may do.
type Role string

// The roles. The zero Role administers nothing.
const (
	RoleNone     Role = ""
	RoleSuper    Role = "super"     // everything
	RoleOrgAdmin Role = "org-admin" // users, groups, grants and registrations of one organisation subtree
	RoleAuditor  Role = "auditor"   // reads: lists, audit trail, explain
)

// ParseRole reads a role's name; "none" is RoleNone.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleSuper, RoleOrgAdmin, RoleAuditor:
		return r, nil
	case "none", "":
		return RoleNone, nil
	}
	return RoleNone, &identity.FieldError{Field: "role", Msg: fmt.Sprintf("%q: want super, org-admin, auditor or none", clip(s))}
}

// Actor is who asks for an operation.
type Actor struct {
	// Name is how the audit trail names them: a login, "cli:OSUSER".
	Name string
	Role Role
	// Org is the root of the subtree an organisation administrator or a
	// scoped auditor acts on; "" for the whole tree (super administrators).
	Org string
	// ReadOnly restricts the actor to reading (a read-scoped API token).
	ReadOnly bool
}

// CLI is the command line's actor: the machine's administrator, a super
// administrator named after the operating system user.
func CLI(name string) Actor { return Actor{Name: name, Role: RoleSuper} }

// Errors beyond identity's.
var (
	ErrForbidden = errors.New("forbidden")
	ErrNotFound  = identity.ErrNotFound
	// ErrChanged: the object changed since the version the caller read
	// (If-Match); nothing was written.
	ErrChanged = errors.New("changed since it was read")
	// ErrNoMFAKey refuses an enrolment on a node without the key that
	// seals TOTP secrets.
	ErrNoMFAKey = errors.New("no MFA key on this node (--mfa-key, default DATA/mfa.key): " +
		"'pier user mfa enrol' creates it; every node needs the same file")
)

// Service runs administrative operations on one node's stores.
type Service struct {
	ids    *identity.Store
	store  *storage.FS
	access *authfs.FS
	audit  *audit.Log
	hasher *credential.Hasher
	now    func() time.Time
	// sessions are this node's live sessions (nil: none listed);
	// shared, when set, the other nodes'.
	sessions *sessions.Registry
	shared   *sessions.Shared
	defender *defender.Defender
	// directory syncs users from LDAP; nil without one.
	directory Syncer
}

// New returns the operations over a node's stores.
func New(ids *identity.Store, store *storage.FS, access *authfs.FS, log *audit.Log, hasher *credential.Hasher) *Service {
	return &Service{ids: ids, store: store, access: access, audit: log, hasher: hasher, now: time.Now}
}

// acting returns ctx with the actor named for the audit trail.
func acting(ctx context.Context, a Actor) context.Context { return audit.WithActor(ctx, a.Name) }

// forbidden builds a refusal that says what the role lacks.
func forbidden(a Actor, what string) error {
	role := string(a.Role)
	if role == "" {
		role = "no administrator role"
	}
	return fmt.Errorf("%w: %s may not %s", ErrForbidden, role, what)
}

// canRead checks that the actor administers or audits something.
func canRead(a Actor) error {
	if a.Role == RoleNone {
		return forbidden(a, "administer pier")
	}
	return nil
}

// canWrite checks that the actor may change things: not an auditor, not
// a read-only token.
func canWrite(a Actor, what string) error {
	switch {
	case a.Role == RoleNone, a.Role == RoleAuditor:
		return forbidden(a, what)
	case a.ReadOnly:
		return fmt.Errorf("%w: a read-only token may not %s", ErrForbidden, what)
	}
	return nil
}

// superOnly checks that the actor is a super administrator.
func superOnly(a Actor, what string) error {
	if err := canWrite(a, what); err != nil {
		return err
	}
	if a.Role != RoleSuper {
		return forbidden(a, what)
	}
	return nil
}

// scope is the set of organisations an actor acts on.
type scope struct {
	all  bool
	orgs map[string]bool
}

func (sc scope) has(org string) bool { return sc.all || sc.orgs[org] }

// scopeOf returns the organisations the actor may see: everything for a
// super administrator and an unscoped auditor, else the actor's subtree.
func (s *Service) scopeOf(ctx context.Context, a Actor) (scope, error) {
	if err := canRead(a); err != nil {
		return scope{}, err
	}
	if a.Role == RoleSuper || a.Org == "" && a.Role == RoleAuditor {
		return scope{all: true}, nil
	}
	if a.Org == "" {
		return scope{}, forbidden(a, "act without an organisation")
	}
	orgs, err := s.ids.ListOrgs(ctx)
	if err != nil {
		return scope{}, err
	}
	sc := scope{orgs: map[string]bool{a.Org: true}}
	for changed := true; changed; {
		changed = false
		for _, o := range orgs {
			if !sc.orgs[o.Slug] && sc.orgs[o.Parent] {
				sc.orgs[o.Slug], changed = true, true
			}
		}
	}
	return sc, nil
}

// inScope refuses an organisation outside the actor's scope as not found:
// an organisation administrator does not learn what lies outside theirs.
func (s *Service) inScope(ctx context.Context, a Actor, org string) error {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return err
	}
	if !sc.has(org) {
		return fmt.Errorf("organisation %q: %w", org, ErrNotFound)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
