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
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"pier/audit"
	"pier/authz"
	"pier/credential"
	"pier/identity"
	"pier/internal/untrusted"
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

	dummyMu sync.Mutex
	dummy   string // a hash verified for unknown users, so timing does not tell
}

// New returns an authentication service.
func New(ids *identity.Store, hasher *credential.Hasher, log *slog.Logger) *Service {
	return &Service{ids: ids, hasher: hasher, log: log, now: time.Now}
}

// WithAudit returns the service recording every login, refused or not,
// and every SFTP session's end in the audit trail.
func (s *Service) WithAudit(rec audit.Recorder) *Service {
	return &Service{ids: s.ids, hasher: s.hasher, log: s.log, audit: rec, now: s.now, external: s.external}
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
	return &Service{ids: s.ids, hasher: s.hasher, log: s.log, audit: s.audit, now: s.now, external: c}
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
	// Key is the fingerprint of the SSH key used, "" for a password.
	Key string
	// stamp identifies the stored password hash the login matched, so a
	// cached login can tell that the password changed.
	stamp [32]byte
}

// Password checks a login and password.
func (s *Service) Password(ctx context.Context, a Attempt, password string) (Account, bool, error) {
	u, err := s.ids.GetUser(ctx, a.Login)
	if errors.Is(err, identity.ErrNotFound) {
		s.burn(ctx, password)
		return s.deny(ctx, a, "password", "no such user")
	} else if err != nil {
		return Account{}, false, err
	}
	var ok, rehash bool
	switch {
	case u.Source != "" && s.external != nil:
		if ok, err = s.checkExternal(ctx, u, password); err != nil {
			return Account{}, false, err
		}
	case u.PasswordHash == "":
		s.burn(ctx, password)
		return s.deny(ctx, a, "password", "account has no password")
	default:
		if ok, rehash, err = s.hasher.Verify(ctx, u.PasswordHash, password); err != nil {
			return Account{}, false, err
		}
	}
	if !ok {
		return s.deny(ctx, a, "password", "wrong password")
	}
	acct := Account{Login: u.Login, UserID: u.ID, stamp: sha256.Sum256([]byte(u.PasswordHash))}
	if why, err := s.refusal(ctx, u, acct, a); err != nil {
		return Account{}, false, err
	} else if why != "" {
		return s.deny(ctx, a, "password", why)
	}
	if rehash {
		s.upgrade(ctx, u.Login, password)
	}
	return acct, true, nil
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
	if u.ID != acct.UserID || sha256.Sum256([]byte(u.PasswordHash)) != acct.stamp {
		return false, nil
	}
	why, err := s.refusal(ctx, u, acct, a)
	return why == "" && err == nil, err
}

// PublicKey checks that the key with this fingerprint belongs to login and
// may be used now.
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
	f.Session = authz.Session{UserID: acct.UserID, From: a.From, Key: acct.Key, Compat: a.Compat}
	if ok, why := f.Usable(s.now()); !ok {
		return why, nil
	}
	return "", nil
}

// deny logs a refusal. The login is the client's, any text up to the
// transport's limits: the log gets a bounded, escaped rendering of it.
func (s *Service) deny(ctx context.Context, a Attempt, method, why string) (Account, bool, error) {
	s.log.WarnContext(ctx, "login refused", "login", untrusted.Text(a.Login), "from", a.From.String(), "protocol", a.Protocol, "method", method, "reason", why)
	s.record(ctx, audit.Record{Actor: untrusted.Text(a.Login), Action: audit.Login, Protocol: string(a.Protocol), From: fromText(a),
		Outcome: audit.Refused, Reason: method + ": " + why})
	return Account{}, false, nil
}

// LoggedIn records a completed login: the protocol has finished
// authenticating (for SSH keys, the client proved it holds the key; a
// key the client only offers is checked by PublicKey but is no login).
func (s *Service) LoggedIn(ctx context.Context, acct Account, a Attempt) {
	now := s.now()
	s.ids.RecordLogin(ctx, acct.Login, now)
	method := "password"
	if acct.Key != "" {
		method = "publickey"
		s.ids.TouchKey(ctx, acct.Key, now)
	}
	s.log.InfoContext(ctx, "login", "login", acct.Login, "from", a.From.String(), "protocol", a.Protocol, "method", method, "key", acct.Key)
	r := audit.Record{Actor: acct.Login, Action: audit.Login, Protocol: string(a.Protocol), From: fromText(a), Reason: method}
	if acct.Key != "" {
		r.Reason += " " + acct.Key
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
