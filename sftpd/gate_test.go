package sftpd_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/mfa"
)

// badSigner presents one key and signs however sign says.
type badSigner struct {
	pub  ssh.PublicKey
	sign func(data []byte) (*ssh.Signature, error)
}

func (b badSigner) PublicKey() ssh.PublicKey { return b.pub }
func (b badSigner) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	return b.sign(data)
}

// TestGateNegative: the SSH login gate refuses empty, garbage, mismatched
// and foreign-algorithm signatures, keys offered and never signed for, and
// (the MOVEit 2024 class) any error raised while authenticating: none of
// them leaves a connection authenticated.
func TestGateNegative(t *testing.T) {
	e := start(t, false)
	good := e.signerOf(t, "acme-edi")
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherPriv)
	for name, s := range map[string]ssh.Signer{
		"empty signature": badSigner{good.PublicKey(), func([]byte) (*ssh.Signature, error) {
			return &ssh.Signature{Format: ssh.KeyAlgoED25519}, nil
		}},
		"garbage signature": badSigner{good.PublicKey(), func([]byte) (*ssh.Signature, error) {
			b := make([]byte, 64)
			rand.Read(b)
			return &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: b}, nil
		}},
		"signed by another key": badSigner{good.PublicKey(), func(d []byte) (*ssh.Signature, error) {
			return other.Sign(rand.Reader, d)
		}},
		"signature of other data": badSigner{good.PublicKey(), func(d []byte) (*ssh.Signature, error) {
			return good.Sign(rand.Reader, append(d, 0))
		}},
		"foreign algorithm": badSigner{good.PublicKey(), func(d []byte) (*ssh.Signature, error) {
			sig, err := good.Sign(rand.Reader, d)
			sig.Format = ssh.KeyAlgoRSASHA256
			return sig, err
		}},
		"offered, never signed": badSigner{good.PublicKey(), func([]byte) (*ssh.Signature, error) {
			return nil, errors.New("the client will not sign")
		}},
	} {
		if c, err := e.dial(t, "acme-edi", ssh.PublicKeys(s)); err == nil {
			c.Close()
			t.Errorf("%s: logged in", name)
		}
	}
	if _, err := e.dial(t, "acme-edi", ssh.PublicKeys(good)); err != nil {
		t.Fatalf("the good key after all that: %v", err)
	}
	// A key of another account, offered under this login and signed.
	if _, err := e.dial(t, "anna", ssh.PublicKeys(good)); err == nil {
		t.Error("acme-edi's key logged in as anna")
	}
	// Keyboard-interactive that answers wrongly, too often or not at all.
	for name, answers := range map[string][]string{"no answer": {}, "two answers": {password, password}, "empty": {""}} {
		ki := ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) { return answers, nil })
		if _, err := e.dial(t, "acme-edi", ki); err == nil {
			t.Errorf("keyboard-interactive with %s: logged in", name)
		}
	}
}

// TestGateErrors: when the store fails in the middle of authentication —
// before the password is checked, between password and code — the login
// is refused, and works again once the store is back.
func TestGateErrors(t *testing.T) {
	e, _, sealer := secure(t, false, fastDefender(), nil)
	ctx := context.Background()
	u, _ := e.ids.GetUser(ctx, "anna")
	en, _ := mfa.NewTOTP("pier", "anna")
	if err := e.ids.SetTOTP(ctx, "anna", sealer.Seal(u.ID, en.Secret), nil); err != nil {
		t.Fatal(err)
	}
	breakTable := func(table string) func() {
		if _, err := e.db.Exec(ctx, "ALTER TABLE "+table+" RENAME TO broken_"+table); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := e.db.Exec(ctx, "ALTER TABLE broken_"+table+" RENAME TO "+table); err != nil {
				t.Fatal(err)
			}
		}
	}
	step := mfa.Step(time.Now())
	code := func(s int64) string { c, _ := mfa.Code(en.Secret, s); return c }
	ki := func(onCode func(), c string) ssh.AuthMethod {
		return ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			if len(qs) == 1 && strings.HasPrefix(qs[0], "Password") {
				return []string{password}, nil
			}
			onCode()
			return []string{c}, nil
		})
	}
	// The store fails between the password and the code.
	var restore func()
	if _, err := e.dial(t, "anna", ki(func() { restore = breakTable("user_totp") }, code(step))); err == nil {
		t.Fatal("logged in while the second factor could not be read")
	}
	restore()
	// The store fails before anything is checked.
	restore = breakTable("users")
	for name, m := range map[string]ssh.AuthMethod{"password": ssh.Password(password), "key": ssh.PublicKeys(e.signerOf(t, "anna")),
		"keyboard-interactive": ki(func() {}, code(step))} {
		if _, err := e.dial(t, "anna", m); err == nil {
			t.Errorf("%s: logged in while the users could not be read", name)
		}
	}
	restore()
	if _, err := e.dial(t, "anna", ki(func() {}, code(step+1))); err != nil {
		t.Fatalf("the store is back: %v", err)
	}
}
