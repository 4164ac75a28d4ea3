package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pier/db"
)

// MFARule says whom an organisation requires a second factor of.
type MFARule string

// The rules. The empty rule inherits the parent organisation's.
const (
	MFAInherit MFARule = ""
	MFAOff     MFARule = "off"    // optional: enrolled users use it, nobody must
	MFAAdmins  MFARule = "admins" // users with an administrator role (pier user admin)
	MFAStaff   MFARule = "staff"  // users of internal organisations, and administrators
	MFAAll     MFARule = "all"
)

// Policy is an organisation's security policy. Zero fields inherit the
// parent organisation's setting (and at the top, the node's defaults).
type Policy struct {
	MFA MFARule
	// MFAKeys: "yes" asks a code after a key or certificate too, of users
	// the rule covers; "no" lets keys and certificates stand alone.
	MFAKeys string
	// InactiveDays suspends active accounts with no login for that many
	// days; -1 never does.
	InactiveDays int
	// DeleteDays deletes accounts suspended for inactivity that many days
	// later; -1 never does.
	DeleteDays int
}

// ParseMFARule reads off, admins, staff or all.
func ParseMFARule(s string) (MFARule, error) {
	switch r := MFARule(strings.ToLower(s)); r {
	case MFAOff, MFAAdmins, MFAStaff, MFAAll, MFAInherit:
		return r, nil
	}
	return "", fieldErr("mfa", "%q: want off, admins, staff, all or \"\" (inherit)", clip(s))
}

func (p Policy) validate() error {
	if _, err := ParseMFARule(string(p.MFA)); err != nil {
		return err
	}
	if p.MFAKeys != "" && p.MFAKeys != "yes" && p.MFAKeys != "no" {
		return fieldErr("mfa-keys", "%q: want yes, no or \"\" (inherit)", clip(p.MFAKeys))
	}
	if p.InactiveDays < -1 || p.DeleteDays < -1 {
		return fieldErr("days", "want a number of days, or -1 for never")
	}
	return nil
}

// RequiresMFA reports whether the rule asks a second factor of a user of
// an organisation of that kind, who is an administrator or not.
func (p Policy) RequiresMFA(kind OrgKind, admin bool) bool {
	switch p.MFA {
	case MFAAll:
		return true
	case MFAStaff:
		return kind == Internal || admin
	case MFAAdmins:
		return admin
	}
	return false
}

// SetOrgPolicy stores an organisation's own policy.
func (s *Store) SetOrgPolicy(ctx context.Context, slug string, p Policy) error {
	if err := p.validate(); err != nil {
		return err
	}
	return s.write(ctx, &change{op: "org.policy", subject: "org " + slug, after: p}, func(tx *db.Tx) error {
		oid, err := orgID(ctx, tx, slug)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM org_policies WHERE org_id = ?", oid); err != nil {
			return err
		}
		if p == (Policy{}) {
			return nil
		}
		_, err = tx.Exec(ctx, "INSERT INTO org_policies (org_id, mfa, mfa_keys, inactive_days, delete_days) VALUES (?, ?, ?, ?, ?)",
			oid, string(p.MFA), p.MFAKeys, p.InactiveDays, p.DeleteDays)
		return err
	})
}

// OrgPolicy returns an organisation's own policy, nothing inherited.
func (s *Store) OrgPolicy(ctx context.Context, slug string) (Policy, error) {
	if _, err := orgID(ctx, s.db, slug); err != nil {
		return Policy{}, err
	}
	return ownPolicy(ctx, s.db, slug)
}

func ownPolicy(ctx context.Context, q queryRower, slug string) (Policy, error) {
	var p Policy
	var mfa string
	err := q.QueryRow(ctx, `SELECT p.mfa, p.mfa_keys, p.inactive_days, p.delete_days FROM org_policies p
		JOIN orgs o ON o.id = p.org_id WHERE o.slug = ?`, slug).Scan(&mfa, &p.MFAKeys, &p.InactiveDays, &p.DeleteDays)
	if errors.Is(err, sql.ErrNoRows) {
		return Policy{}, nil
	}
	p.MFA = MFARule(mfa)
	return p, err
}

// EffectivePolicy resolves the policy that applies to an organisation's
// users: each field from the organisation itself, else the nearest
// organisation above that sets it, else defaults.
func (s *Store) EffectivePolicy(ctx context.Context, slug string, defaults Policy) (Policy, error) {
	anc, err := ancestors(ctx, s.db, slug)
	if err != nil {
		return Policy{}, err
	}
	var out Policy
	for _, o := range append([]string{slug}, anc...) {
		p, err := ownPolicy(ctx, s.db, o)
		if err != nil {
			return Policy{}, fmt.Errorf("policy of %s: %w", o, err)
		}
		out = merge(out, p)
	}
	return merge(out, defaults), nil
}

// merge fills the fields of p that inherit from q.
func merge(p, q Policy) Policy {
	if p.MFA == MFAInherit {
		p.MFA = q.MFA
	}
	if p.MFAKeys == "" {
		p.MFAKeys = q.MFAKeys
	}
	if p.InactiveDays == 0 {
		p.InactiveDays = q.InactiveDays
	}
	if p.DeleteDays == 0 {
		p.DeleteDays = q.DeleteDays
	}
	return p
}
