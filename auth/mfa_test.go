package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/authz"
	"pier/identity"
	"pier/mfa"
)

// withMFA enrols anna in TOTP and returns a service that checks codes,
// the secret and the recovery codes.
func withMFA(t *testing.T, e *env, opts ...Option) (*Service, string, []string) {
	t.Helper()
	ctx := t.Context()
	ids := e.svc.ids
	sealer, err := mfa.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	u, err := ids.GetUser(ctx, "anna")
	if err != nil {
		t.Fatal(err)
	}
	en, err := mfa.NewTOTP("pier", "anna")
	if err != nil {
		t.Fatal(err)
	}
	codes, hashes := mfa.RecoveryCodes(3)
	if err := ids.SetTOTP(ctx, "anna", sealer.Seal(u.ID, en.Secret), hashes); err != nil {
		t.Fatal(err)
	}
	opts = append([]Option{WithMFA(sealer, identity.Policy{MFA: identity.MFAOff, MFAKeys: "no"})}, opts...)
	return New(ids, e.svc.hasher, slog.New(slog.NewTextHandler(e.log, nil)), opts...), en.Secret, codes
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := mfa.Code(secret, mfa.Step(at))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTOTP: a password alone asks for a code; the code is accepted once
// (a replay is refused, and says so); password and code in one field
// work; a wrong code is refused; recovery codes work once.
func TestTOTP(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		svc, secret, recovery := withMFA(t, e)
		acct, step, err := svc.PasswordStep(ctx, fromInside, password)
		if err != nil || step != NeedCode {
			t.Fatalf("password alone: step %v, %v; want NeedCode", step, err)
		}
		now := time.Now()
		c := code(t, secret, now)
		if ok, err := svc.Code(ctx, acct, fromInside, c); !ok || err != nil {
			t.Fatalf("current code refused: %v", err)
		}
		if ok, err := svc.Code(ctx, acct, fromInside, c); ok || err != nil {
			t.Fatalf("replayed code: %v, %v; want refused", ok, err)
		}
		if !strings.Contains(e.log.String(), "code already used (replay refused)") {
			t.Errorf("the replay is not named in the log:\n%s", e.log)
		}
		// The code of the next step, typed after the password.
		if _, step, err := svc.PasswordStep(ctx, fromInside, password+code(t, secret, now.Add(30*time.Second))); step != Done || err != nil {
			t.Fatalf("password+code in one field: step %v, %v; want Done", step, err)
		}
		if _, step, err := svc.PasswordStep(ctx, fromInside, password+"000000"); step == Done || err != nil {
			// (000000 might be a valid code once in a million runs)
			t.Fatalf("password+wrong code: step %v, %v; want refused", step, err)
		}
		if _, step, _ := svc.PasswordStep(ctx, fromInside, "wrong password"+code(t, secret, now)); step != Refused {
			t.Fatalf("wrong password+code: step %v, want Refused", step)
		}
		if ok, _ := svc.Code(ctx, acct, fromInside, strings.ToUpper(recovery[0])); !ok {
			t.Fatal("recovery code refused")
		}
		if ok, _ := svc.Code(ctx, acct, fromInside, recovery[0]); ok {
			t.Fatal("recovery code accepted twice")
		}
		// WebDAV cannot ask for a code: the password alone is refused.
		if _, ok, _ := svc.Password(ctx, fromInside, password); ok {
			t.Fatal("Password (no second factor possible) accepted the password of an account with TOTP")
		}
	})
}

// TestAppPasswords: an app password logs in where no code can be asked,
// only for its own account; revoked, it stops at the next request.
func TestAppPasswords(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		svc, _, _ := withMFA(t, e)
		clear, hash := mfa.NewAppPassword()
		if _, err := svc.ids.AddAppPassword(ctx, "anna", "laptop", hash); err != nil {
			t.Fatal(err)
		}
		acct, ok, err := svc.Password(ctx, fromInside, clear)
		if !ok || err != nil || acct.AppPassword == 0 {
			t.Fatalf("app password: %+v %v %v", acct, ok, err)
		}
		if cur, err := svc.Current(ctx, acct, fromInside); !cur || err != nil {
			t.Fatalf("Current: %v %v", cur, err)
		}
		other := fromInside
		other.Login = "bob"
		if _, ok, _ := svc.Password(ctx, other, clear); ok {
			t.Fatal("anna's app password logged bob in")
		}
		if err := svc.ids.RevokeAppPassword(ctx, "anna", "laptop"); err != nil {
			t.Fatal(err)
		}
		if cur, _ := svc.Current(ctx, acct, fromInside); cur {
			t.Fatal("a revoked app password is still current")
		}
		if _, ok, _ := svc.Password(ctx, fromInside, clear); ok {
			t.Fatal("a revoked app password logs in")
		}
	})
}

// TestMFAPolicy: an organisation's rule refuses a password login of an
// account it covers that has no second factor; with mfa-keys a key login
// needs a code too.
func TestMFAPolicy(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		ids := e.svc.ids
		if err := ids.SetOrgPolicy(ctx, "hq", identity.Policy{MFA: identity.MFAStaff, MFAKeys: "yes"}); err != nil {
			t.Fatal(err)
		}
		svc := New(ids, e.svc.hasher, e.svc.log, WithMFA(nil, identity.Policy{MFA: identity.MFAOff, MFAKeys: "no"}))
		if _, step, _ := svc.PasswordStep(ctx, fromInside, password); step != Refused {
			t.Fatalf("staff without a second factor under rule staff: step %v, want Refused", step)
		}
		acct, ok, _ := svc.PublicKey(ctx, fromInside, fingerprint)
		if !ok {
			t.Fatal("key refused")
		}
		if step, _ := svc.KeyStep(ctx, acct, fromInside); step != Refused {
			t.Fatalf("key of staff without a second factor under mfa-keys yes: step %v, want Refused", step)
		}
		svc, _, _ = withMFA(t, e)
		if step, _ := svc.KeyStep(ctx, acct, fromInside); step != NeedCode {
			t.Fatalf("key of enrolled staff under mfa-keys yes: step %v, want NeedCode", step)
		}
		if err := ids.SetOrgPolicy(ctx, "hq", identity.Policy{MFA: identity.MFAAdmins}); err != nil {
			t.Fatal(err)
		}
		if step, _ := svc.KeyStep(ctx, acct, fromInside); step != Done {
			t.Fatalf("key under mfa-keys no (the default): step %v, want Done", step)
		}
	})
}

// TestCertificates: user certificates of a configured CA log in for the
// principal that names the account, within their validity, unless
// revoked; anything else is refused.
func TestCertificates(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		ca, caPub := newSigner(t)
		other, _ := newSigner(t)
		svc := New(e.svc.ids, e.svc.hasher, e.svc.log, WithUserCAs([]ssh.PublicKey{caPub}))
		now := time.Now()
		good := func(mod func(*ssh.Certificate)) *ssh.Certificate {
			_, userPub := newSigner(t)
			c := &ssh.Certificate{Key: userPub, Serial: 42, CertType: ssh.UserCert, KeyId: "anna@laptop",
				ValidPrincipals: []string{"anna"}, ValidAfter: uint64(now.Add(-time.Minute).Unix()), ValidBefore: uint64(now.Add(time.Hour).Unix())}
			if mod != nil {
				mod(c)
			}
			signer := ca
			if c.SignatureKey != nil { // marker: sign with another key
				c.SignatureKey = nil
				signer = other
			}
			if err := c.SignCert(rand.Reader, signer); err != nil {
				t.Fatal(err)
			}
			return c
		}
		acct, ok, err := svc.Certificate(ctx, fromInside, good(nil))
		if !ok || err != nil || acct.Cert.Serial != 42 || acct.Cert.Key == "" {
			t.Fatalf("good certificate: %+v %v %v\n%s", acct, ok, err, e.log)
		}
		_, otherPub := newSigner(t)
		for name, c := range map[string]*ssh.Certificate{
			"other principal": good(func(c *ssh.Certificate) { c.ValidPrincipals = []string{"bob"} }),
			"no principal":    good(func(c *ssh.Certificate) { c.ValidPrincipals = nil }),
			"expired":         good(func(c *ssh.Certificate) { c.ValidBefore = uint64(now.Add(-time.Second).Unix()) }),
			"not yet valid":   good(func(c *ssh.Certificate) { c.ValidAfter = uint64(now.Add(time.Hour).Unix()) }),
			"host cert":       good(func(c *ssh.Certificate) { c.CertType = ssh.HostCert }),
			"unknown CA":      good(func(c *ssh.Certificate) { c.SignatureKey = otherPub }),
			"force-command":   good(func(c *ssh.Certificate) { c.CriticalOptions = map[string]string{"force-command": "/bin/sh"} }),
		} {
			if _, ok, err := svc.Certificate(ctx, fromInside, c); ok || err != nil {
				t.Errorf("%s: accepted (%v)", name, err)
			}
		}
		tampered := good(nil)
		tampered.ValidPrincipals = []string{"anna", "root"} // after signing
		if _, ok, _ := svc.Certificate(ctx, fromInside, tampered); ok {
			t.Error("a certificate changed after signing was accepted")
		}
		if _, ok, _ := New(e.svc.ids, e.svc.hasher, e.svc.log).Certificate(ctx, fromInside, good(nil)); ok {
			t.Error("a certificate accepted with no CA configured")
		}
		// Principals mapped to the login.
		if _, err := e.svc.ids.UpdateUser(ctx, "anna", func(u *identity.User) error { u.Principals = []string{"a.berg"}; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := svc.Certificate(ctx, fromInside, good(func(c *ssh.Certificate) { c.ValidPrincipals = []string{"a.berg"} })); !ok {
			t.Error("a certificate for a principal mapped to the login was refused")
		}
		for _, r := range []authz.Revocation{{Kind: authz.RevokeSerial, Value: "42"}, {Kind: authz.RevokeKeyID, Value: "anna@laptop"},
			{Kind: authz.RevokeKey, Value: ssh.FingerprintSHA256(caPub)}} {
			if err := e.svc.ids.RevokeCert(ctx, r, "test"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := svc.Certificate(ctx, fromInside, good(nil)); ok {
				t.Errorf("certificate revoked by %s accepted", r.Kind)
			}
			if err := e.svc.ids.UnrevokeCert(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func newSigner(t *testing.T) (ssh.Signer, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.PublicKey()
}

// TestExpiredKeyAndPending: an expired key and a pending account are
// refused at login (and, through the same facts, end open sessions).
func TestExpiredKeyAndPending(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		ids := e.svc.ids
		if err := ids.SetKeyExpiry(ctx, "anna", fingerprint, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := e.svc.PublicKey(ctx, fromInside, fingerprint); ok {
			t.Fatal("expired key accepted")
		}
		if !strings.Contains(e.log.String(), "has expired") {
			t.Errorf("no reason in the log:\n%s", e.log)
		}
		if err := ids.SetKeyExpiry(ctx, "anna", fingerprint, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ids.SetStatus(ctx, "anna", authz.StatusPending); err != nil {
			t.Fatal(err)
		}
		if pw, key := e.logins(t, fromInside); pw || key {
			t.Fatalf("pending account: password %v, key %v; want both refused", pw, key)
		}
	})
}
