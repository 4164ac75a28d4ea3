// Package auth authenticates users for every front end with the same
// rules: the account must exist, be active, not expired, allowed to use the
// protocol and connecting from an allowed network, and the password
// (argon2id) or public key must match. A refusal is not an error: callers
// get ok=false and the client learns nothing more than "denied", while the
// real reason goes to the log.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

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
	now    func() time.Time

	dummyMu sync.Mutex
	dummy   string // a hash verified for unknown users, so timing does not tell
}

// New returns an authentication service.
func New(ids *identity.Store, hasher *credential.Hasher, log *slog.Logger) *Service {
	return &Service{ids: ids, hasher: hasher, log: log, now: time.Now}
}

// Attempt describes one login attempt.
type Attempt struct {
	Login    string
	From     netip.Addr
	Protocol authz.Protocol
}

// Password checks a login and password. It returns the canonical login.
func (s *Service) Password(ctx context.Context, a Attempt, password string) (string, bool, error) {
	u, err := s.ids.GetUser(ctx, a.Login)
	if errors.Is(err, identity.ErrNotFound) {
		s.burn(ctx, password)
		return s.deny(ctx, a, "password", "no such user")
	} else if err != nil {
		return "", false, err
	}
	if u.PasswordHash == "" {
		s.burn(ctx, password)
		return s.deny(ctx, a, "password", "account has no password")
	}
	ok, rehash, err := s.hasher.Verify(ctx, u.PasswordHash, password)
	if err != nil {
		return "", false, err
	}
	if !ok {
		return s.deny(ctx, a, "password", "wrong password")
	}
	if why := s.refusal(u, a); why != "" {
		return s.deny(ctx, a, "password", why)
	}
	if rehash {
		s.upgrade(ctx, u.Login, password)
	}
	return s.accept(ctx, u, a, "password")
}

// PublicKey checks that the key with this fingerprint belongs to login and
// may be used now.
func (s *Service) PublicKey(ctx context.Context, a Attempt, fingerprint string) (string, bool, error) {
	k, err := s.ids.KeyByFingerprint(ctx, fingerprint)
	if errors.Is(err, identity.ErrNotFound) {
		return s.deny(ctx, a, "publickey", "unknown key "+fingerprint)
	} else if err != nil {
		return "", false, err
	}
	if k.Login != identity.CanonicalLogin(a.Login) {
		return s.deny(ctx, a, "publickey", "key "+fingerprint+" belongs to another user")
	}
	if !k.Expires.IsZero() && !s.now().Before(k.Expires) {
		return s.deny(ctx, a, "publickey", "key "+fingerprint+" expired")
	}
	u, err := s.ids.GetUser(ctx, a.Login)
	if err != nil {
		return "", false, err
	}
	if why := s.refusal(u, a); why != "" {
		return s.deny(ctx, a, "publickey", why)
	}
	return s.accept(ctx, u, a, "publickey")
}

// refusal says why an account with valid credentials may not log in now.
func (s *Service) refusal(u identity.User, a Attempt) string {
	f := authz.Facts{Login: u.Login, Status: u.Status, Expires: u.Expires, Protocols: u.Protocols,
		Protocol: a.Protocol, Unreadable: u.Unreadable}
	if ok, why := f.Usable(s.now()); !ok {
		return why
	}
	if len(u.CIDRs) == 0 {
		return ""
	}
	from := a.From.Unmap()
	for _, p := range u.CIDRs {
		if p.Contains(from) {
			return ""
		}
	}
	return "source address " + from.String() + " is not in the account's allowed networks"
}

// deny logs a refusal. The login is the client's, any text up to the
// transport's limits: the log gets a bounded, escaped rendering of it.
func (s *Service) deny(ctx context.Context, a Attempt, method, why string) (string, bool, error) {
	s.log.WarnContext(ctx, "login refused", "login", untrusted.Text(a.Login), "from", a.From.String(), "protocol", a.Protocol, "method", method, "reason", why)
	return "", false, nil
}

func (s *Service) accept(ctx context.Context, u identity.User, a Attempt, method string) (string, bool, error) {
	return u.Login, true, nil
}

// LoggedIn records a completed login: the protocol has finished
// authenticating (for SSH keys, the client proved it holds the key; a
// key the client only offers is checked by PublicKey but is no login).
// fingerprint names the key used, or is "" for a password.
func (s *Service) LoggedIn(ctx context.Context, login string, a Attempt, fingerprint string) {
	now := s.now()
	s.ids.RecordLogin(ctx, login, now)
	method := "password"
	if fingerprint != "" {
		method = "publickey"
		s.ids.TouchKey(ctx, fingerprint, now)
	}
	s.log.InfoContext(ctx, "login", "login", login, "from", a.From.String(), "protocol", a.Protocol, "method", method, "key", fingerprint)
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
