// Package auth authenticates users for every front end with the same
// rules: the account must exist, be active, not expired, allowed to use the
// protocol and connecting from an allowed network, and the password
// (argon2id) or public key must match. A refusal is not an error: callers
// get ok=false and the client learns nothing more than "denied", while the
// real reason goes to the log.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/audit"
	"pier/authz"
	"pier/credential"
	"pier/defender"
	"pier/identity"
	"pier/internal/untrusted"
	"pier/mfa"
	"pier/secevent"
)

// Service checks credentials against the identity store.
type Service struct {
	ids    *identity.Store
	hasher *credential.Hasher
	log    *slog.Logger
	audit  audit.Recorder // nil: logins are only logged
	now    func() time.Time
	// external checks the passwords of accounts another system manages
	// (identity.User.Source set); nil: pier's own hashes for everyone.
	external PasswordChecker

	guard    Guard
	events   secevent.Sink
	sealer   *mfa.Sealer     // nil: no MFA key, so no code can be checked
	defaults identity.Policy // the node's policy where organisations set none
	cas      map[string]ssh.PublicKey

	dummyMu sync.Mutex
	dummy   string // a hash verified for unknown users, so timing does not tell
}

// Guard is the defender as the login gate uses it: asked before a
// guessable credential is checked, told of every failure (it makes the
// failure wait) and of every login.
type Guard interface {
	Check(ctx context.Context, login string, from netip.Addr) defender.Verdict
	Failed(ctx context.Context, login string, from netip.Addr, protocol string, k defender.Kind)
	Succeeded(ctx context.Context, userID int64, from netip.Addr)
}

var _ Guard = (*defender.Defender)(nil)

// Option configures a Service.
type Option func(*Service)

// WithGuard puts a defender in front of every credential check.
func WithGuard(g Guard) Option { return func(s *Service) { s.guard = g } }

// WithEvents sends security events (logins, refusals) to e instead of the
// log.
func WithEvents(e secevent.Sink) Option { return func(s *Service) { s.events = e } }

// WithMFA lets the service check one-time codes with the key that seals
// TOTP secrets, and sets the policy that applies where no organisation
// sets one.
func WithMFA(sealer *mfa.Sealer, defaults identity.Policy) Option {
	return func(s *Service) { s.sealer, s.defaults = sealer, defaults }
}

// WithUserCAs accepts SSH user certificates signed by these authorities.
func WithUserCAs(cas []ssh.PublicKey) Option {
	return func(s *Service) {
		for _, k := range cas {
			s.cas[ssh.FingerprintSHA256(k)] = k
		}
	}
}

// New returns an authentication service.
func New(ids *identity.Store, hasher *credential.Hasher, log *slog.Logger, opts ...Option) *Service {
	s := &Service{ids: ids, hasher: hasher, log: log, now: time.Now, cas: map[string]ssh.PublicKey{}}
	for _, o := range opts {
		o(s)
	}
	if s.guard == nil {
		s.guard = (*defender.Defender)(nil) // admits everything, records nothing
	}
	if s.events == nil {
		s.events = secevent.Log{L: log}
	}
	return s
}

// WithAudit returns the service recording every login, refused or not,
// and every SFTP session's end in the audit trail.
func (s *Service) WithAudit(rec audit.Recorder) *Service {
	c := s.clone()
	c.audit = rec
	return c
}

// clone copies the service's settings (not its dummy hash).
func (s *Service) clone() *Service {
	return &Service{ids: s.ids, hasher: s.hasher, log: s.log, audit: s.audit, now: s.now, external: s.external,
		guard: s.guard, events: s.events, sealer: s.sealer, defaults: s.defaults, cas: s.cas}
}

// PasswordChecker checks the password of an account that another system
// manages (a directory: identity.User.Source is set). A wrong password is
// (false, nil); an error means the system could not answer.
type PasswordChecker interface {
	CheckPassword(ctx context.Context, u identity.User, password string) (bool, error)
}

// WithPasswordChecker returns the service asking c, instead of pier's
// own hash, for the passwords of accounts whose Source is set. Every
// other rule (status, expiry, networks, protocols, audit) stays pier's.
func (s *Service) WithPasswordChecker(c PasswordChecker) *Service {
	clone := s.clone()
	clone.external = c
	return clone
}

// externallyChecked reports whether another system checks u's password.
func (s *Service) externallyChecked(u identity.User) bool { return u.Source != "" && s.external != nil }

// verify checks u's password: with the system that manages the account,
// or against pier's hash (rehash: the hash's parameters are outdated).
func (s *Service) verify(ctx context.Context, u identity.User, password string) (ok, rehash bool, err error) {
	if s.externallyChecked(u) {
		ok, err = s.checkExternal(ctx, u, password)
		return ok, false, err
	}
	return s.hasher.Verify(ctx, u.PasswordHash, password)
}

// checkExternal asks the external checker while spending the time of a
// hash verification alongside, so that a directory account answers no
// faster than an unknown login: which logins exist does not show.
func (s *Service) checkExternal(ctx context.Context, u identity.User, password string) (bool, error) {
	burnt := make(chan struct{})
	go func() { defer close(burnt); s.burn(ctx, password) }()
	ok, err := s.external.CheckPassword(ctx, u, password)
	<-burnt
	return ok, err
}

func (s *Service) record(ctx context.Context, r audit.Record) {
	if s.audit != nil {
		r.Time = s.now()
		audit.Logged(ctx, s.audit, s.log, r)
	}
}

func fromText(a Attempt) string {
	if a.From.IsValid() {
		return a.From.Unmap().String()
	}
	return ""
}

// Attempt describes one login attempt.
type Attempt struct {
	Login    string
	From     netip.Addr
	Protocol authz.Protocol
	// Compat says the attempt came through the SFTP compatibility
	// listener: only accounts marked for it may log in there.
	Compat bool
}

// AdminAPI is the protocol name of logins to the administration API and
// web console, in logs and the audit trail. An account's protocol
// restrictions name file protocols and do not apply to it.
const AdminAPI authz.Protocol = "api"

// Account is who a login authenticated: the account, not just its login
// text, so that a session ends with the account it logged in to.
type Account struct {
	Login  string
	UserID int64
	// Key is the fingerprint of the SSH key used, "" for none.
	Key string
	// Cert is the SSH certificate used; its zero value means none.
	Cert authz.Cert
	// AppPassword is the ID of the app password used, 0 for none.
	AppPassword int64
	// stamp identifies the stored password hash (or app password hash)
	// the login matched, so a cached login can tell that it changed.
	stamp [32]byte
}

// Binding is what a session of this account, logged in by attempt at, is
// bound to.
func (a Account) Binding(at Attempt) authz.Session {
	return authz.Session{UserID: a.UserID, From: at.From, Key: a.Key, Cert: a.Cert, AppPassword: a.AppPassword, Compat: at.Compat}
}

// method names how an account logged in, for the log.
func (a Account) method() string {
	switch {
	case a.Cert.Key != "":
		return "certificate"
	case a.Key != "":
		return "publickey"
	case a.AppPassword != 0:
		return "app-password"
	}
	return "password"
}

// Password checks a login and one secret, for front ends that cannot ask
// for more (WebDAV): the account's password, or one of its app passwords.
// An account with a second factor logs in this way only with an app
// password.
func (s *Service) Password(ctx context.Context, a Attempt, password string) (Account, bool, error) {
	if mfa.IsAppPassword(password) {
		return s.appPassword(ctx, a, password)
	}
	u, ok, err := s.checkPassword(ctx, a, "password", password)
	if err != nil || !ok {
		return Account{}, false, err
	}
	m, err := s.mfaFor(ctx, u)
	if err != nil {
		return Account{}, false, err
	}
	if m.enrolled || m.required {
		return s.fail(ctx, a, "password", defender.WrongPassword, "the account has a second factor: this protocol needs an app password")
	}
	acct := Account{Login: u.Login, UserID: u.ID, stamp: passwordStamp(u)}
	return s.admit(ctx, u, acct, a)
}

// checkPassword asks the guard, finds the user and verifies the
// password; a refusal has been logged and scored when ok is false.
func (s *Service) checkPassword(ctx context.Context, a Attempt, method, password string) (identity.User, bool, error) {
	if v := s.guard.Check(ctx, a.Login, a.From); v.Refuse {
		_, _, err := s.fail(ctx, a, method, defender.Guarded, v.Reason)
		return identity.User{}, false, err
	}
	u, err := s.ids.GetUser(ctx, a.Login)
	if errors.Is(err, identity.ErrNotFound) {
		s.burn(ctx, password)
		_, _, err := s.fail(ctx, a, method, defender.UnknownLogin, "no such user")
		return u, false, err
	} else if err != nil {
		return u, false, err
	}
	if u.PasswordHash == "" && !s.externallyChecked(u) {
		s.burn(ctx, password)
		_, _, err := s.fail(ctx, a, method, defender.WrongPassword, "account has no password")
		return u, false, err
	}
	ok, rehash, err := s.verify(ctx, u, password)
	if err != nil {
		return u, false, err
	}
	if !ok {
		_, _, err := s.fail(ctx, a, method, defender.WrongPassword, "wrong password")
		return u, false, err
	}
	if rehash {
		s.upgrade(ctx, u.Login, password)
	}
	return u, true, nil
}

func passwordStamp(u identity.User) [32]byte { return sha256.Sum256([]byte(u.PasswordHash)) }

// admit completes a login whose credentials hold: the account must be
// usable now. A refusal is scored: after a right password it would
// otherwise answer faster than a wrong one, and tell.
func (s *Service) admit(ctx context.Context, u identity.User, acct Account, a Attempt) (Account, bool, error) {
	why, err := s.refusal(ctx, u, acct, a)
	if err != nil {
		return Account{}, false, err
	}
	if why != "" {
		return s.fail(ctx, a, acct.method(), defender.WrongPassword, why)
	}
	return acct, true, nil
}

// appPassword checks an app password: one indexed read, no hashing cost.
func (s *Service) appPassword(ctx context.Context, a Attempt, password string) (Account, bool, error) {
	if v := s.guard.Check(ctx, a.Login, a.From); v.Refuse {
		return s.fail(ctx, a, "app-password", defender.Guarded, v.Reason)
	}
	ap, err := s.ids.AppPasswordByHash(ctx, mfa.HashAppPassword(password))
	if errors.Is(err, identity.ErrNotFound) {
		return s.fail(ctx, a, "app-password", defender.WrongPassword, "no such app password")
	} else if err != nil {
		return Account{}, false, err
	}
	if ap.Login != identity.CanonicalLogin(a.Login) {
		return s.fail(ctx, a, "app-password", defender.WrongPassword, "app password of another user")
	}
	u, err := s.ids.GetUser(ctx, ap.Login)
	if err != nil {
		return Account{}, false, err
	}
	acct := Account{Login: u.Login, UserID: u.ID, AppPassword: ap.ID, stamp: sha256.Sum256([]byte(ap.Hash))}
	return s.admit(ctx, u, acct, a)
}

// Current reports whether an account that logged in with a password
// still may, with the same password, from the same place: a front end that
// caches verified credentials (WebDAV) asks it on every request, so that a
// password change, a suspension or a new network restriction applies at
// once. It costs a database read, not a hash.
func (s *Service) Current(ctx context.Context, acct Account, a Attempt) (bool, error) {
	u, err := s.ids.GetUser(ctx, acct.Login)
	if errors.Is(err, identity.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	stored := u.PasswordHash
	if acct.AppPassword != 0 {
		ap, err := s.ids.AppPasswordByID(ctx, acct.AppPassword)
		if errors.Is(err, identity.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		stored = ap.Hash
	}
	if u.ID != acct.UserID || sha256.Sum256([]byte(stored)) != acct.stamp {
		return false, nil
	}
	why, err := s.refusal(ctx, u, acct, a)
	return why == "" && err == nil, err
}

// PublicKey checks that the key with this fingerprint belongs to login and
// may be used now. SSH clients offer keys before proving them: this is no
// login, and a refusal is not scored.
func (s *Service) PublicKey(ctx context.Context, a Attempt, fingerprint string) (Account, bool, error) {
	k, err := s.ids.KeyByFingerprint(ctx, fingerprint)
	if errors.Is(err, identity.ErrNotFound) {
		return s.deny(ctx, a, "publickey", "unknown key "+fingerprint)
	} else if err != nil {
		return Account{}, false, err
	}
	if k.Login != identity.CanonicalLogin(a.Login) {
		return s.deny(ctx, a, "publickey", "key "+fingerprint+" belongs to another user")
	}
	u, err := s.ids.GetUser(ctx, a.Login)
	if err != nil {
		return Account{}, false, err
	}
	acct := Account{Login: u.Login, UserID: u.ID, Key: fingerprint}
	if why, err := s.refusal(ctx, u, acct, a); err != nil {
		return Account{}, false, err
	} else if why != "" {
		return s.deny(ctx, a, "publickey", why)
	}
	return acct, true, nil
}

// refusal says why an account with valid credentials may not log in now,
// deciding on the same facts, with the same code, as every later request
// of the session (authz.Facts.Usable): status, expiry, protocol, source
// network and, for a key, that the key is still the account's and valid.
// The account's own row is the one just read (u), never a cached copy.
func (s *Service) refusal(ctx context.Context, u identity.User, acct Account, a Attempt) (string, error) {
	f, _, err := s.ids.Facts(ctx, acct.Login)
	if errors.Is(err, authz.ErrNoAccount) {
		return "no such user", nil
	} else if err != nil {
		return "", err
	}
	f.UserID, f.Status, f.Expires, f.Protocols, f.Networks, f.Unreadable = u.ID, u.Status, u.Expires, u.Protocols, u.CIDRs, u.Unreadable
	f.Protocol = a.Protocol
	if a.Protocol == AdminAPI {
		f.Protocols = nil // restrictions name file protocols; the admin API is not one
	}
	f.Session = acct.Binding(a)
	if ok, why := f.Usable(s.now()); !ok {
		return why, nil
	}
	return "", nil
}

// deny logs a refusal.
func (s *Service) deny(ctx context.Context, a Attempt, method, why string) (Account, bool, error) {
	s.events.Record(ctx, secevent.Event{Kind: secevent.LoginRefused, Source: a.From, Login: a.Login,
		Protocol: string(a.Protocol), Method: method, Reason: why})
	s.record(ctx, audit.Record{Actor: untrusted.Text(a.Login), Action: audit.Login, Protocol: string(a.Protocol), From: fromText(a),
		Outcome: audit.Refused, Reason: method + ": " + why})
	return Account{}, false, nil
}

// fail logs a refusal, tells the guard (which scores it and makes it
// wait) and returns the refusal.
func (s *Service) fail(ctx context.Context, a Attempt, method string, k defender.Kind, why string) (Account, bool, error) {
	s.deny(ctx, a, method, why)
	s.guard.Failed(ctx, a.Login, a.From, string(a.Protocol), k)
	return Account{}, false, nil
}

// LoggedIn records a completed login: the protocol has finished
// authenticating (for SSH keys, the client proved it holds the key; a
// key the client only offers is checked by PublicKey but is no login).
func (s *Service) LoggedIn(ctx context.Context, acct Account, a Attempt) {
	now := s.now()
	s.ids.RecordLogin(ctx, acct.Login, now)
	s.guard.Succeeded(ctx, acct.UserID, a.From)
	detail := acct.Key
	switch {
	case acct.Key != "":
		s.ids.TouchKey(ctx, acct.Key, now)
	case acct.Cert.Key != "":
		detail = fmt.Sprintf("serial %d, key ID %q, key %s, CA %s", acct.Cert.Serial, acct.Cert.KeyID, acct.Cert.Key, acct.Cert.CA)
	case acct.AppPassword != 0:
		s.ids.TouchAppPassword(ctx, acct.AppPassword, now)
		detail = fmt.Sprintf("app password %d", acct.AppPassword)
	}
	s.events.Record(ctx, secevent.Event{Kind: secevent.Login, Source: a.From, Login: acct.Login,
		Protocol: string(a.Protocol), Method: acct.method(), Detail: detail})
	r := audit.Record{Actor: acct.Login, Action: audit.Login, Protocol: string(a.Protocol), From: fromText(a), Reason: acct.method()}
	if detail != "" {
		r.Reason += " " + detail
	}
	if a.Protocol == authz.SFTP {
		r.Action = audit.SessionStart
	}
	s.record(ctx, r)
}

// LoggedOut records the end of a session (SFTP) and how long it lasted.
func (s *Service) LoggedOut(ctx context.Context, acct Account, a Attempt, lasted time.Duration, why string) {
	s.record(ctx, audit.Record{Actor: acct.Login, Action: audit.SessionEnd, Protocol: string(a.Protocol), From: fromText(a),
		Millis: lasted.Milliseconds(), Reason: why})
}

// burn spends the time of one verification so that unknown logins and
// key-only accounts answer as slowly as wrong passwords.
func (s *Service) burn(ctx context.Context, password string) {
	if d := s.dummyHash(ctx); d != "" {
		s.hasher.Verify(ctx, d, password)
		return
	}
	// No dummy (hashing failed): hashing the password costs the same.
	s.hasher.Hash(ctx, password)
}

// dummyHash returns the hash burn verifies, made on first use. It is made
// without the request's cancellation and made again after a failure: a
// first request whose context had already ended must not leave it empty,
// or every later unknown login would answer fast and tell.
func (s *Service) dummyHash(ctx context.Context) string {
	s.dummyMu.Lock()
	defer s.dummyMu.Unlock()
	if s.dummy == "" {
		s.dummy, _ = s.hasher.Hash(context.WithoutCancel(ctx), "pier-dummy-password-for-timing")
	}
	return s.dummy
}

// upgrade re-hashes a password whose stored parameters are weaker than
// today's, now that we know it.
func (s *Service) upgrade(ctx context.Context, login, password string) {
	h, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return
	}
	if _, err := s.ids.UpdateUser(ctx, login, func(u *identity.User) error { u.PasswordHash = h; return nil }); err != nil {
		s.log.WarnContext(ctx, "password hash upgrade failed", "login", login, "err", err)
	}
}

// SameLogin reports whether two logins name the same account (logins
// ignore case); an empty login names none.
func SameLogin(a, b string) bool {
	return a != "" && identity.CanonicalLogin(a) == identity.CanonicalLogin(b)
}
