package sftpd_test

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/authz"
	"pier/identity"
	"pier/sftpd"
	"pier/storage"
	"pier/vpath"
)

// waitClosed waits until the client's connection is gone, and says how
// long that took.
func waitClosed(t *testing.T, c *sftp.Client, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("the session is still open %v later", within)
	}
	return 0
}

// Revoking what a session logged in with ends it — transfers included —
// within seconds, whatever was revoked.
func TestRevocationEndsSessions(t *testing.T) {
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite+disk", true: "postgres+s3"}[prod], func(t *testing.T) {
			e := startWith(t, prod, func(c *sftpd.Config) { c.Revalidate = 500 * time.Millisecond })
			ctx := context.Background()
			u, _ := e.store.Create(ctx, vpath.MustParse("/acme/outbound/big.bin"), storage.CreateOptions{By: "admin"})
			u.Write([]byte(strings.Repeat("pier", 16<<20))) // 64 MiB
			if _, err := u.Close(); err != nil {
				t.Fatal(err)
			}

			t.Run("suspended during a download", func(t *testing.T) {
				c := e.client(t, "acme-edi")
				f, err := c.Open("/acme/outbound/big.bin")
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 32<<10)
				if _, err := io.ReadFull(f, buf); err != nil {
					t.Fatal(err)
				}
				if _, err := e.ids.SetStatus(ctx, "acme-edi", authz.StatusSuspended); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				var n int
				for {
					m, err := f.Read(buf)
					n += m
					if err != nil {
						break
					}
					time.Sleep(2 * time.Millisecond) // a slow client
				}
				took := time.Since(start)
				t.Logf("the download stopped after %v, at %d of 64 MiB", took, n)
				if took > 5*time.Second || n >= 64<<20-len(buf) {
					t.Fatalf("a suspended account's download went on for %v (%d bytes)", took, n)
				}
				if _, err := e.ids.SetStatus(ctx, "acme-edi", authz.StatusActive); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("its key removed", func(t *testing.T) {
				c, err := e.dial(t, "acme-edi", ssh.PublicKeys(e.signer))
				if err != nil {
					t.Fatal(err)
				}
				if err := e.ids.RemoveKey(ctx, "acme-edi", ssh.FingerprintSHA256(e.signer.PublicKey())); err != nil {
					t.Fatal(err)
				}
				t.Logf("closed %v after the key was removed", waitClosed(t, c, 5*time.Second))
				// The same account's password sessions go on.
				if _, err := e.client(t, "acme-edi").Stat("/acme/outbound"); err != nil {
					t.Fatalf("a password session after the key went: %v", err)
				}
			})
			t.Run("its networks changed", func(t *testing.T) {
				c := e.client(t, "acme-edi")
				if _, err := e.ids.UpdateUser(ctx, "acme-edi", func(u *identity.User) error {
					u.CIDRs = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				t.Logf("closed %v after the networks changed", waitClosed(t, c, 5*time.Second))
				e.ids.UpdateUser(ctx, "acme-edi", func(u *identity.User) error { u.CIDRs = nil; return nil })
			})
			t.Run("deleted and created again", func(t *testing.T) {
				c := e.client(t, "anna")
				old, _ := e.ids.GetUser(ctx, "anna")
				if err := e.ids.DeleteUser(ctx, "anna"); err != nil {
					t.Fatal(err)
				}
				// Someone else, with the same login, and rights of their own.
				if _, err := e.ids.AddUser(ctx, identity.User{Login: "anna", Org: "acme", PasswordHash: old.PasswordHash}); err != nil {
					t.Fatal(err)
				}
				sub, _ := authz.ParseSubject("user:anna")
				if _, err := e.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/acme"), Perms: authz.Full}, "t"); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Stat("/acme/outbound/big.bin"); err == nil {
					t.Error("the old session works with the new account's rights")
				}
				t.Logf("closed %v after the account was replaced", waitClosed(t, c, 5*time.Second))
			})
		})
	}
}
