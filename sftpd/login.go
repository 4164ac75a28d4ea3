package sftpd

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/auth"
	"pier/authz"
)

// The SSH authentication callbacks. Every one of them hands the decision
// to package auth, the one login gate, and turns its answer into what
// x/crypto/ssh wants: Permissions only for a completed login, a
// PartialSuccessError (with nil Permissions) when a code must follow, and
// errDenied for every refusal and every technical failure, so that an
// error raised mid-authentication never leaves a connection
// authenticated. The identity a login proved travels in
// Permissions.Extensions, or in the closure of the next step's callback,
// never in state kept across callbacks (CVE-2024-45337).

const (
	loginExt, keyExt, userExt = "pier-login", "pier-key", "pier-user"
	certKeyExt, certCAExt     = "pier-cert-key", "pier-cert-ca"
	certSerialExt, certIDExt  = "pier-cert-serial", "pier-cert-id"
	certExpiresExt            = "pier-cert-expires"
)

func (s *Server) attempt(c ssh.ConnMetadata) auth.Attempt {
	a := auth.Attempt{Login: c.User(), Protocol: authz.SFTP, Compat: s.cfg.Compat}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		a.From = ap.Addr()
	}
	return a
}

// authContext bounds one callback by the handshake's time.
func (s *Server) authContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
}

func (s *Server) password(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	ctx, cancel := s.authContext()
	defer cancel()
	a := s.attempt(c)
	acct, step, err := s.auth.PasswordStep(ctx, a, string(pw))
	return s.next(acct, a, step, err)
}

// keyboardInteractive asks for the password, then for a code when the
// account has a second factor: OpenSSH and most interactive clients use
// it.
func (s *Server) keyboardInteractive(c ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	ans, err := ask("", "", []string{"Password: "}, []bool{false})
	if err != nil || len(ans) != 1 {
		return nil, errDenied
	}
	ctx, cancel := s.authContext()
	defer cancel()
	a := s.attempt(c)
	acct, step, err := s.auth.PasswordStep(ctx, a, ans[0])
	if err == nil && step == auth.NeedCode {
		return s.code(acct, a)(c, ask)
	}
	return s.next(acct, a, step, err)
}

// next turns the gate's answer into the callback's.
func (s *Server) next(acct auth.Account, a auth.Attempt, step auth.Step, err error) (*ssh.Permissions, error) {
	switch {
	case err != nil:
		s.log.Error("authentication failed", "err", err)
		return nil, errDenied
	case step == auth.Done:
		return permissions(acct), nil
	case step == auth.NeedCode:
		return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{KeyboardInteractiveCallback: s.code(acct, a)}}
	}
	s.cfg.Observer.AuthFailed("sftp")
	return nil, errDenied
}

// code returns the callback that asks for the one-time code of an account
// whose first factor held. The account travels in the closure, which
// x/crypto/ssh keeps for this connection's next step only.
func (s *Server) code(acct auth.Account, a auth.Attempt) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	return func(c ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		if c.User() != a.Login { // x/crypto/ssh refuses this already; never rely on one check
			return nil, errDenied
		}
		ans, err := ask("", "A second factor is required.", []string{"Verification code: "}, []bool{true})
		if err != nil || len(ans) != 1 {
			return nil, errDenied
		}
		ctx, cancel := s.authContext()
		defer cancel()
		ok, err := s.auth.Code(ctx, acct, a, ans[0])
		if err != nil {
			s.log.Error("authentication failed", "err", err)
			return nil, errDenied
		}
		if !ok {
			s.cfg.Observer.AuthFailed("sftp")
			return nil, errDenied
		}
		return permissions(acct), nil
	}
}

// publicKey may be called for keys the client only offers: it keeps no
// state, and the identity travels in the Permissions that x/crypto/ssh
// returns only for the key that was proven (CVE-2024-45337).
func (s *Server) publicKey(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	ctx, cancel := s.authContext()
	defer cancel()
	var acct auth.Account
	var ok bool
	var err error
	cert, isCert := key.(*ssh.Certificate)
	if isCert {
		acct, ok, err = s.auth.Certificate(ctx, s.attempt(c), cert)
	} else {
		acct, ok, err = s.auth.PublicKey(ctx, s.attempt(c), ssh.FingerprintSHA256(key))
	}
	if err != nil {
		s.log.Error("authentication failed", "err", err)
		return nil, errDenied
	}
	if !ok {
		// A key offered and refused is no failed login: clients offer
		// every key their agent holds (the metrics count failures).
		return nil, errDenied
	}
	p := permissions(acct)
	if isCert {
		// x/crypto/ssh enforces source-address on these, before the client
		// signs and again at the end.
		p.CriticalOptions = cert.CriticalOptions
	}
	return p, nil
}

// verifiedKey runs once the client proved it holds the key (or the
// certificate's key): the account may need a code too.
func (s *Server) verifiedKey(c ssh.ConnMetadata, _ ssh.PublicKey, p *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	if p == nil {
		return nil, errDenied
	}
	acct, a := account(p), s.attempt(c)
	if !auth.SameLogin(acct.Login, a.Login) {
		return nil, errDenied
	}
	ctx, cancel := s.authContext()
	defer cancel()
	step, err := s.auth.KeyStep(ctx, acct, a)
	if err == nil && step == auth.Done {
		return p, nil
	}
	return s.next(acct, a, step, err)
}

// permissions carries what a login proved to the serving code.
func permissions(acct auth.Account) *ssh.Permissions {
	ext := map[string]string{loginExt: acct.Login, keyExt: acct.Key, userExt: strconv.FormatInt(acct.UserID, 10)}
	if c := acct.Cert; c.Key != "" {
		ext[certKeyExt], ext[certCAExt], ext[certIDExt] = c.Key, c.CA, c.KeyID
		ext[certSerialExt] = strconv.FormatUint(c.Serial, 10)
		if !c.Expires.IsZero() {
			ext[certExpiresExt] = strconv.FormatInt(c.Expires.Unix(), 10)
		}
	}
	return &ssh.Permissions{Extensions: ext}
}

// account reads back what permissions stored for an authenticated
// connection.
func account(p *ssh.Permissions) auth.Account {
	e := p.Extensions
	id, _ := strconv.ParseInt(e[userExt], 10, 64)
	acct := auth.Account{Login: e[loginExt], UserID: id, Key: e[keyExt]}
	if e[certKeyExt] != "" {
		acct.Cert = authz.Cert{Key: e[certKeyExt], CA: e[certCAExt], KeyID: e[certIDExt]}
		acct.Cert.Serial, _ = strconv.ParseUint(e[certSerialExt], 10, 64)
		if exp, err := strconv.ParseInt(e[certExpiresExt], 10, 64); err == nil {
			acct.Cert.Expires = time.Unix(exp, 0)
		}
	}
	return acct
}
