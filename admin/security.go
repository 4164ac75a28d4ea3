package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"pier/authz"
	"pier/identity"
	"pier/mfa"
)

// The security operations: key lifecycle, second factors, app passwords,
// certificate principals and revocations, organisation policies.

// KeyOptions are what an administrator may set on keys being added.
type KeyOptions struct {
	Expires string // last day the keys work, 2027-01-31; "" never
	Comment string // replaces the file's comments; "" keeps them
}

// AddKeysWith adds the keys of an authorized_keys text with options: all
// or none.
func (s *Service) AddKeysWith(ctx context.Context, a Actor, login, text string, o KeyOptions) ([]KeyView, error) {
	u, err := s.changeUser(ctx, a, "add keys", login)
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(text)
	if err != nil {
		return nil, err
	}
	if len(o.Comment) > 200 || strings.ContainsAny(o.Comment, "\x00\r\n") {
		return nil, &identity.FieldError{Field: "comment", Msg: "at most 200 characters on one line"}
	}
	var expires time.Time
	if o.Expires != "" {
		if expires, err = ParseExpires(o.Expires, s.now()); err != nil {
			return nil, err
		}
	}
	for i := range keys {
		keys[i].Expires = expires
		if o.Comment != "" {
			keys[i].Comment = o.Comment
		}
	}
	ctx = acting(ctx, a)
	if err := s.keysFree(ctx, u.Login, keys); err != nil {
		return nil, err
	}
	if err := s.addKeys(ctx, u.Login, keys); err != nil {
		return nil, err
	}
	return s.ListKeys(ctx, a, u.Login)
}

// SetKeyExpiry sets when a user's key stops working: "2027-01-31", or
// "never".
func (s *Service) SetKeyExpiry(ctx context.Context, a Actor, login, fingerprint, expires string) (time.Time, error) {
	u, err := s.changeUser(ctx, a, "change keys", login)
	if err != nil {
		return time.Time{}, err
	}
	var t time.Time
	if expires != "never" {
		if t, err = ParseExpires(expires, s.now()); err != nil {
			return t, err
		}
	}
	return t, s.ids.SetKeyExpiry(acting(ctx, a), u.Login, fingerprint, t)
}

// Enrolment is a new second factor, shown once.
type Enrolment struct {
	Login    string
	URI      string   // otpauth://totp/...
	Recovery []string // single-use recovery codes
}

// EnrolMFA gives a user a new TOTP secret, sealed with sealer, and 10
// recovery codes, replacing any earlier ones.
func (s *Service) EnrolMFA(ctx context.Context, a Actor, login, issuer string, sealer *mfa.Sealer) (Enrolment, error) {
	u, err := s.changeUser(ctx, a, "enrol second factors", login)
	if err != nil {
		return Enrolment{}, err
	}
	if err := checkIssuer(issuer); err != nil {
		return Enrolment{}, err
	}
	if sealer == nil {
		return Enrolment{}, ErrNoMFAKey
	}
	e, err := mfa.NewTOTP(issuer, u.Login)
	if err != nil {
		return Enrolment{}, err
	}
	codes, hashes := mfa.RecoveryCodes(10)
	if err := s.ids.SetTOTP(acting(ctx, a), u.Login, sealer.Seal(u.ID, e.Secret), hashes); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Login: u.Login, URI: e.URI, Recovery: codes}, nil
}

// checkIssuer accepts the name an authenticator app shows beside the
// code: 1 to 64 printable characters, no colon (the app would take it for
// the end of the issuer in the URI's label).
func checkIssuer(issuer string) error {
	bad := issuer == "" || utf8.RuneCountInString(issuer) > 64 || !utf8.ValidString(issuer) ||
		strings.ContainsFunc(issuer, func(r rune) bool { return r == ':' || !unicode.IsPrint(r) })
	if bad {
		return &identity.FieldError{Field: "issuer", Msg: "want 1 to 64 printable characters, no colon"}
	}
	return nil
}

// RemoveMFA removes a user's second factor and recovery codes.
func (s *Service) RemoveMFA(ctx context.Context, a Actor, login string) error {
	u, err := s.changeUser(ctx, a, "remove second factors", login)
	if err != nil {
		return err
	}
	return s.ids.RemoveTOTP(acting(ctx, a), u.Login)
}

// MFAView says whether a user has a second factor.
type MFAView struct {
	Login         string `json:"login"`
	Enrolled      bool   `json:"enrolled"`
	Since         string `json:"since,omitempty"`
	RecoveryCodes int    `json:"recovery_codes_left"`
}

// MFAStatus reports a user's second factor.
func (s *Service) MFAStatus(ctx context.Context, a Actor, login string) (MFAView, error) {
	u, err := s.userInScope(ctx, a, login)
	if err != nil {
		return MFAView{}, err
	}
	v := MFAView{Login: u.Login}
	t, err := s.ids.GetTOTP(ctx, u.ID)
	if errors.Is(err, identity.ErrNotFound) {
		return v, nil
	} else if err != nil {
		return v, err
	}
	v.Enrolled, v.Since = true, TimeText(t.Created)
	v.RecoveryCodes, err = s.ids.RecoveryCodesLeft(ctx, u.ID)
	return v, err
}

// AppPasswordView is an app password as the CLI and the API show it:
// never the password, never its hash.
type AppPasswordView struct {
	Name     string `json:"name"`
	Created  string `json:"created"`
	LastUsed string `json:"last_used,omitempty"`
}

// AddAppPassword makes a named app password for a user and returns it,
// the one time it is ever shown.
func (s *Service) AddAppPassword(ctx context.Context, a Actor, login, name string) (string, error) {
	u, err := s.changeUser(ctx, a, "add app passwords", login)
	if err != nil {
		return "", err
	}
	clear, hash := mfa.NewAppPassword()
	if _, err := s.ids.AddAppPassword(acting(ctx, a), u.Login, name, hash); err != nil {
		return "", err
	}
	return clear, nil
}

// ListAppPasswords lists a user's app passwords.
func (s *Service) ListAppPasswords(ctx context.Context, a Actor, login string) ([]AppPasswordView, error) {
	u, err := s.userInScope(ctx, a, login)
	if err != nil {
		return nil, err
	}
	aps, err := s.ids.AppPasswords(ctx, u.Login)
	if err != nil {
		return nil, err
	}
	out := []AppPasswordView{}
	for _, ap := range aps {
		out = append(out, AppPasswordView{Name: ap.Name, Created: TimeText(ap.Created), LastUsed: TimeText(ap.LastUsed)})
	}
	return out, nil
}

// RevokeAppPassword deletes a user's app password by name.
func (s *Service) RevokeAppPassword(ctx context.Context, a Actor, login, name string) error {
	u, err := s.changeUser(ctx, a, "revoke app passwords", login)
	if err != nil {
		return err
	}
	return s.ids.RevokeAppPassword(acting(ctx, a), u.Login, name)
}

// SetPrincipals sets the SSH certificate principals that name a user
// besides the login. Only a super administrator may: certificates and
// their authorities are trusted for the whole installation.
func (s *Service) SetPrincipals(ctx context.Context, a Actor, login string, principals []string) (UserView, error) {
	if err := superOnly(a, "map certificate principals"); err != nil {
		return UserView{}, err
	}
	u, err := s.ids.UpdateUser(acting(ctx, a), login, func(u *identity.User) error { u.Principals = principals; return nil })
	return View(u), err
}

// RevokeCert revokes SSH user certificates (super administrators only).
func (s *Service) RevokeCert(ctx context.Context, a Actor, r authz.Revocation, reason string) error {
	if err := superOnly(a, "revoke certificates"); err != nil {
		return err
	}
	return s.ids.RevokeCert(acting(ctx, a), r, reason)
}

// UnrevokeCert lifts a revocation (super administrators only).
func (s *Service) UnrevokeCert(ctx context.Context, a Actor, r authz.Revocation) error {
	if err := superOnly(a, "lift certificate revocations"); err != nil {
		return err
	}
	return s.ids.UnrevokeCert(acting(ctx, a), r)
}

// CertRevocations lists the revocations.
func (s *Service) CertRevocations(ctx context.Context, a Actor) ([]identity.CertRevocation, error) {
	if err := canRead(a); err != nil {
		return nil, err
	}
	return s.ids.CertRevocations(ctx)
}

// PolicyView is an organisation's own policy and the one in effect.
type PolicyView struct {
	Org       string          `json:"org"`
	Own       identity.Policy `json:"own"`
	Effective identity.Policy `json:"effective"`
}

// OrgPolicy shows an organisation's policy; defaults fills what no
// organisation sets.
func (s *Service) OrgPolicy(ctx context.Context, a Actor, slug string, defaults identity.Policy) (PolicyView, error) {
	if err := s.inScope(ctx, a, slug); err != nil {
		return PolicyView{}, err
	}
	own, err := s.ids.OrgPolicy(ctx, slug)
	if err != nil {
		return PolicyView{}, err
	}
	eff, err := s.ids.EffectivePolicy(ctx, slug, defaults)
	return PolicyView{Org: slug, Own: own, Effective: eff}, err
}

// SetOrgPolicy sets an organisation's own policy. Only a super
// administrator may: an organisation administrator must not lift the MFA
// rule or the inactivity suspension that applies to them.
func (s *Service) SetOrgPolicy(ctx context.Context, a Actor, slug string, p identity.Policy) error {
	if err := superOnly(a, fmt.Sprintf("set the security policy of %s", slug)); err != nil {
		return err
	}
	return s.ids.SetOrgPolicy(acting(ctx, a), slug, p)
}
