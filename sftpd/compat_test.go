package sftpd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/authz"
	"pier/identity"
	"pier/sftpd"
	"pier/vpath"
)

// legacyClient is how Debian's JSch 0.1.54 and libssh2 1.10 connect: no
// ETM MAC, and RSA keys signed with SHA-1 ("ssh-rsa").
func legacyClient(user string, auth ssh.AuthMethod) *ssh.ClientConfig {
	return &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{auth}, HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Config: ssh.Config{MACs: []string{ssh.HMACSHA256}, Ciphers: []string{ssh.CipherAES128CTR},
			KeyExchanges: []string{ssh.KeyExchangeECDHP256}}, Timeout: 10 * time.Second}
}

// addLegacy adds a user with an RSA key, marked for the compatibility
// listener or not, and returns a signer that signs with SHA-1.
func (e *env) addLegacy(t *testing.T, login, org string, marked bool) ssh.Signer {
	t.Helper()
	ctx := context.Background()
	anna, _ := e.ids.GetUser(ctx, "anna")
	if _, err := e.ids.AddUser(ctx, identity.User{Login: login, Org: org, PasswordHash: anna.PasswordHash, SSHCompat: marked}); err != nil {
		t.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	signer, _ := ssh.NewSignerFromKey(key)
	sp := signer.PublicKey()
	if _, err := e.ids.AddKey(ctx, login, identity.Key{Fingerprint: ssh.FingerprintSHA256(sp), Type: sp.Type(),
		PublicKey: string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(sp)))}); err != nil {
		t.Fatal(err)
	}
	sub, _ := authz.ParseSubject("user:" + login)
	if _, err := e.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/acme/outbound"), Perms: authz.ReadOnly}, "t"); err != nil {
		t.Fatal(err)
	}
	sha1, err := ssh.NewSignerWithAlgorithms(signer.(ssh.AlgorithmSigner), []string{ssh.KeyAlgoRSA})
	if err != nil {
		t.Fatal(err)
	}
	return sha1
}

// TestCompatListener: the main listener stays modern; the compatibility
// listener lets old clients in, but only accounts marked for it, and
// clearing the mark ends their sessions.
func TestCompatListener(t *testing.T) {
	main := startWith(t, false, func(c *sftpd.Config) { c.Revalidate = 100 * time.Millisecond })
	legacyKey := main.addLegacy(t, "legacy", "acme", true)
	if _, err := ssh.Dial("tcp", main.addr, legacyClient("legacy", ssh.Password(password))); err == nil {
		t.Error("the main listener accepted a MAC without ETM")
	}
	modern := &ssh.ClientConfig{User: "legacy", Auth: []ssh.AuthMethod{ssh.PublicKeys(legacyKey)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	if _, err := ssh.Dial("tcp", main.addr, modern); err == nil {
		t.Error("the main listener accepted an RSA signature with SHA-1")
	}

	compat := startWith(t, false, func(c *sftpd.Config) { c.Compat = true; c.Revalidate = 100 * time.Millisecond })
	legacyKey = compat.addLegacy(t, "legacy", "acme", true)
	otherKey := compat.addLegacy(t, "other", "acme", false)
	for _, auth := range []ssh.AuthMethod{ssh.Password(password), ssh.PublicKeys(legacyKey)} {
		conn, err := ssh.Dial("tcp", compat.addr, legacyClient("legacy", auth))
		if err != nil {
			t.Fatalf("a marked account on the compatibility listener: %v", err)
		}
		conn.Close()
	}
	for _, c := range []struct {
		user string
		auth ssh.AuthMethod
	}{{"other", ssh.Password(password)}, {"other", ssh.PublicKeys(otherKey)}, {"anna", ssh.Password(password)}} {
		if _, err := ssh.Dial("tcp", compat.addr, legacyClient(c.user, c.auth)); err == nil {
			t.Errorf("%s, not marked, logged in on the compatibility listener", c.user)
		}
	}
	// A mark on the organisation lets its users in.
	if err := compat.ids.SetOrgSSHCompat(context.Background(), "acme", true); err != nil {
		t.Fatal(err)
	}
	c, err := compat.dial(t, "other", ssh.Password(password))
	if err != nil {
		t.Fatalf("a user of a marked organisation: %v", err)
	}
	if _, err := c.ReadDir("/acme/outbound"); err != nil {
		t.Fatal(err)
	}
	// Clearing it ends the session: the decision is the account's, made on
	// every request, not the listener's at login.
	if err := compat.ids.SetOrgSSHCompat(context.Background(), "acme", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.ReadDir("/acme/outbound")
		if err != nil {
			if !strings.Contains(err.Error(), "connection lost") && !strings.Contains(err.Error(), "EOF") && status(err) == 0 {
				t.Logf("after the mark was cleared: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a session outlived its account's mark for the compatibility listener")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
