package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/authz"
	"pier/defender"
	"pier/identity"
	"pier/mfa"
	"pier/secevent"
)

// Step is where a login stands after a front end that can ask for more
// (SSH) had a credential checked.
type Step uint8

// The steps.
const (
	Refused  Step = iota // denied; the reason is logged
	Done                 // authenticated
	NeedCode             // the credential holds; a one-time code must follow (Code)
)

// PasswordStep checks a password for a front end that can ask for a
// second factor. For an account with TOTP the password may carry the
// code at its end ("passphrase123456"), for clients that cannot prompt;
// a password alone then answers NeedCode.
func (s *Service) PasswordStep(ctx context.Context, a Attempt, password string) (Account, Step, error) {
	u, err := s.ids.GetUser(ctx, a.Login)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return Account{}, Refused, err
	}
	var m mfaState
	if err == nil {
		if m, err = s.mfaFor(ctx, u); err != nil {
			return Account{}, Refused, err
		}
	}
	if n := len(password) - 6; m.enrolled && n > 0 && mfa.IsCode(password[n:]) {
		// The password with the code at its end, or a password that ends
		// in six digits: the first reading that verifies wins.
		acct, ok, err := s.passwordAndCode(ctx, a, password[:n], password[n:])
		if errors.Is(err, errRefused) {
			return Account{}, Refused, nil
		}
		if err != nil || ok {
			return acct, stepOf(ok), err
		}
	}
	u, ok, err := s.checkPassword(ctx, a, "password", password)
	if err != nil || !ok {
		return Account{}, Refused, err
	}
	acct := Account{Login: u.Login, UserID: u.ID, stamp: passwordStamp(u)}
	if m.required && !m.enrolled {
		_, _, err := s.fail(ctx, a, "password", defender.WrongPassword, "the organisation's policy requires a second factor and the account has none enrolled")
		return Account{}, Refused, err
	}
	if acct, ok, err = s.admit(ctx, u, acct, a); err != nil || !ok {
		return Account{}, Refused, err
	}
	if m.enrolled {
		return acct, NeedCode, nil
	}
	return acct, Done, nil
}

// passwordAndCode tries password+code given in one field. ok false with
// no error means the split reading did not verify as a password, which
// has been neither logged nor scored: the whole field is tried next.
func (s *Service) passwordAndCode(ctx context.Context, a Attempt, password, code string) (Account, bool, error) {
	u, err := s.ids.GetUser(ctx, a.Login)
	if err != nil || u.PasswordHash == "" && !s.externallyChecked(u) {
		return Account{}, false, nil
	}
	if v := s.guard.Check(ctx, a.Login, a.From); v.Refuse {
		return Account{}, false, nil // the whole-field check refuses and scores it
	}
	ok, _, err := s.verify(ctx, u, password)
	if err != nil || !ok {
		return Account{}, false, err
	}
	acct := Account{Login: u.Login, UserID: u.ID, stamp: passwordStamp(u)}
	if good, err := s.Code(ctx, acct, a, code); err != nil || !good {
		return Account{}, false, errOr(err, errRefused)
	}
	acct, ok, err = s.admit(ctx, u, acct, a)
	if err == nil && !ok {
		err = errRefused
	}
	return acct, ok, err
}

// errRefused ends a password+code attempt refused after its password part
// verified: the refusal is logged and scored, and the whole field is not
// tried as a password.
var errRefused = errors.New("refused")

func errOr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

func stepOf(ok bool) Step {
	if ok {
		return Done
	}
	return Refused
}

// Code checks a one-time code, or a recovery code, for an account whose
// first factor held. A TOTP code is accepted once: the step it belongs to
// is recorded in the database first, on whichever node sees it first.
func (s *Service) Code(ctx context.Context, acct Account, a Attempt, code string) (bool, error) {
	if v := s.guard.Check(ctx, a.Login, a.From); v.Refuse {
		_, ok, err := s.fail(ctx, a, "code", defender.Guarded, v.Reason)
		return ok, err
	}
	t, err := s.ids.GetTOTP(ctx, acct.UserID)
	if errors.Is(err, identity.ErrNotFound) {
		_, ok, err := s.fail(ctx, a, "code", defender.WrongPassword, "no second factor enrolled")
		return ok, err
	} else if err != nil {
		return false, err
	}
	if mfa.IsRecoveryCode(code) {
		used, err := s.ids.UseRecoveryCode(ctx, acct.UserID, mfa.HashRecoveryCode(code))
		if err != nil || !used {
			_, ok, ferr := s.fail(ctx, a, "recovery-code", defender.WrongPassword, "wrong or spent recovery code")
			return ok, errors.Join(err, ferr)
		}
		s.events.Record(ctx, secevent.Event{Kind: secevent.RecoveryUsed, Source: a.From, Login: acct.Login, Protocol: string(a.Protocol)})
		return true, nil
	}
	if s.sealer == nil {
		return false, errors.New("auth: a TOTP code came in but this node has no MFA key (--mfa-key)")
	}
	secret, err := s.sealer.Open(acct.UserID, t.Sealed)
	if err != nil {
		return false, fmt.Errorf("auth: TOTP secret of %s: %w", acct.Login, err)
	}
	now := s.now()
	step, ok := mfa.Match(secret, code, now, t.LastStep)
	if ok {
		if ok, err = s.ids.UseTOTPStep(ctx, acct.UserID, step); err != nil {
			return false, err
		}
	}
	if !ok {
		why := "wrong code"
		if _, replay := mfa.Match(secret, code, now, -1); replay {
			why = "code already used (replay refused)"
		}
		_, ok, err := s.fail(ctx, a, "code", defender.WrongPassword, why)
		return ok, err
	}
	return true, nil
}

// KeyStep says, once a client proved its key or certificate, whether the
// account needs a code too: when the organisation's policy asks it of
// keys ("mfa-keys yes") for an account the rule covers or that enrolled.
func (s *Service) KeyStep(ctx context.Context, acct Account, a Attempt) (Step, error) {
	u, err := s.ids.GetUser(ctx, acct.Login)
	if errors.Is(err, identity.ErrNotFound) {
		_, _, err := s.deny(ctx, a, acct.method(), "no such user")
		return Refused, err
	} else if err != nil {
		return Refused, err
	}
	m, err := s.mfaFor(ctx, u)
	if err != nil {
		return Refused, err
	}
	switch {
	case !m.keys || !m.enrolled && !m.required:
		return Done, nil
	case !m.enrolled:
		_, _, err := s.deny(ctx, a, acct.method(), "the organisation's policy requires a code after a key and the account has no second factor enrolled")
		return Refused, err
	}
	return NeedCode, nil
}

// mfaState is what an account's second factor asks of a login.
type mfaState struct {
	enrolled bool // the account has TOTP
	required bool // its organisation's rule covers it
	keys     bool // keys and certificates need a code too
}

func (s *Service) mfaFor(ctx context.Context, u identity.User) (mfaState, error) {
	var m mfaState
	_, err := s.ids.GetTOTP(ctx, u.ID)
	switch {
	case err == nil:
		m.enrolled = true
	case !errors.Is(err, identity.ErrNotFound):
		return m, err
	}
	pol, err := s.ids.EffectivePolicy(ctx, u.Org, s.defaults)
	if err != nil {
		return m, err
	}
	org, err := s.ids.GetOrg(ctx, u.Org)
	if err != nil {
		return m, err
	}
	role, err := s.ids.GetAdminRole(ctx, u.Login)
	if err != nil {
		return m, err
	}
	m.required = pol.RequiresMFA(org.Kind, role.Role != "")
	m.keys = pol.MFAKeys == "yes"
	return m, nil
}

// Certificate checks an SSH user certificate offered for login: signed
// by a configured authority, a user certificate naming the login (or one
// of the account's principals), within its validity window, with no
// critical option but source-address (which x/crypto/ssh enforces on the
// Permissions), not revoked, and the account usable. Like PublicKey it
// keeps no state and scores nothing: clients offer before they prove.
func (s *Service) Certificate(ctx context.Context, a Attempt, cert *ssh.Certificate) (Account, bool, error) {
	if len(s.cas) == 0 {
		return s.deny(ctx, a, "certificate", "no user CA is configured (--ssh-user-ca)")
	}
	if cert.CertType != ssh.UserCert {
		return s.deny(ctx, a, "certificate", "not a user certificate")
	}
	if len(cert.ValidPrincipals) == 0 {
		return s.deny(ctx, a, "certificate", "the certificate names no principal")
	}
	u, err := s.ids.GetUser(ctx, a.Login)
	if errors.Is(err, identity.ErrNotFound) {
		return s.deny(ctx, a, "certificate", "no such user")
	} else if err != nil {
		return Account{}, false, err
	}
	i := slices.IndexFunc(cert.ValidPrincipals, func(p string) bool { return p == u.Login || slices.Contains(u.Principals, p) })
	if i < 0 {
		return s.deny(ctx, a, "certificate", fmt.Sprintf("no principal of the certificate (%q) names the account", cert.ValidPrincipals))
	}
	checker := ssh.CertChecker{
		IsUserAuthority:          func(k ssh.PublicKey) bool { _, ok := s.cas[ssh.FingerprintSHA256(k)]; return ok },
		SupportedCriticalOptions: []string{"source-address"},
		Clock:                    s.now,
	}
	if !checker.IsUserAuthority(cert.SignatureKey) {
		return s.deny(ctx, a, "certificate", "signed by an unknown authority "+ssh.FingerprintSHA256(cert.SignatureKey))
	}
	if err := checker.CheckCert(cert.ValidPrincipals[i], cert); err != nil {
		return s.deny(ctx, a, "certificate", err.Error())
	}
	acct := Account{Login: u.Login, UserID: u.ID, Cert: authz.Cert{Key: ssh.FingerprintSHA256(cert.Key),
		CA: ssh.FingerprintSHA256(cert.SignatureKey), Serial: cert.Serial, KeyID: cert.KeyId}}
	if cert.ValidBefore != ssh.CertTimeInfinity {
		acct.Cert.Expires = time.Unix(int64(cert.ValidBefore), 0) // #nosec G115 -- CheckCert refused ValidBefore beyond MaxInt64
	}
	if why, err := s.refusal(ctx, u, acct, a); err != nil {
		return Account{}, false, err
	} else if why != "" {
		return s.deny(ctx, a, "certificate", why)
	}
	return acct, true, nil
}
