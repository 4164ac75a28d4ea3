package credential

import (
	"crypto/dsa"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// authorizedLine returns the authorized_keys line of a public key.
func authorizedLine(t *testing.T, pub any) string {
	t.Helper()
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pk)), "\n")
}

// rsaLine returns an RSA public key of the given size without generating
// primes: parsing checks the size, not that the modulus factors.
func rsaLine(t *testing.T, bits int) string {
	t.Helper()
	buf := make([]byte, (bits+7)/8)
	rand.Read(buf)
	n := new(big.Int).SetBytes(buf)
	n.SetBit(n, bits-1, 1).SetBit(n, 0, 1) // exactly bits long, odd
	for i := bits; i < n.BitLen(); i++ {
		n.SetBit(n, i, 0)
	}
	return authorizedLine(t, &rsa.PublicKey{N: n, E: 65537})
}

// skLine returns a security-key line in the wire format of OpenSSH's
// PROTOCOL.u2f; x/crypto has no constructor for them.
func skLine(t *testing.T, typ string, key []byte) string {
	t.Helper()
	blob := ssh.Marshal(struct{ Name, Key, App string }{typ, string(key), "ssh:"})
	if typ == ssh.KeyAlgoSKECDSA256 {
		blob = ssh.Marshal(struct{ Name, Curve, Key, App string }{typ, "nistp256", string(key), "ssh:"})
	}
	pk, err := ssh.ParsePublicKey(blob)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pk)), "\n")
}

func TestParseAuthorizedKeyAccepts(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ec521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	ecPoint, _ := ec256.PublicKey.Bytes()
	ed := authorizedLine(t, edPub)
	for _, c := range []struct {
		name, line, typ string
		bits            int
		comment         string
	}{
		{"ed25519", ed + " jane@laptop", ssh.KeyAlgoED25519, 256, "jane@laptop"},
		{"no comment", ed, ssh.KeyAlgoED25519, 256, ""},
		{"comment with spaces", ed + " Jane Doe (ACME build server)", ssh.KeyAlgoED25519, 256, "Jane Doe (ACME build server)"},
		{"surrounding space and newline", "  " + ed + " x\r\n", ssh.KeyAlgoED25519, 256, "x"},
		{"rsa 2048", rsaLine(t, 2048) + " old", ssh.KeyAlgoRSA, 2048, "old"},
		{"rsa 3072", rsaLine(t, 3072), ssh.KeyAlgoRSA, 3072, ""},
		{"ecdsa p256", authorizedLine(t, &ec256.PublicKey), ssh.KeyAlgoECDSA256, 256, ""},
		{"ecdsa p384", authorizedLine(t, &ec384.PublicKey), ssh.KeyAlgoECDSA384, 384, ""},
		{"ecdsa p521", authorizedLine(t, &ec521.PublicKey), ssh.KeyAlgoECDSA521, 521, ""},
		{"sk-ed25519", skLine(t, ssh.KeyAlgoSKED25519, edPub) + " yubikey", ssh.KeyAlgoSKED25519, 256, "yubikey"},
		{"sk-ecdsa", skLine(t, ssh.KeyAlgoSKECDSA256, ecPoint), ssh.KeyAlgoSKECDSA256, 256, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParseAuthorizedKey(c.line)
			if err != nil {
				t.Fatalf("ParseAuthorizedKey: %v", err)
			}
			if k.Type != c.typ || k.Bits != c.bits || k.Comment != c.comment {
				t.Fatalf("got %s %d bits %q, want %s %d bits %q", k.Type, k.Bits, k.Comment, c.typ, c.bits, c.comment)
			}
			if k.Fingerprint != ssh.FingerprintSHA256(k.PublicKey) || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
				t.Fatalf("fingerprint %q", k.Fingerprint)
			}
			// The canonical text is the line without comment, and parses
			// back to the same key.
			if want := strings.Join(strings.Fields(c.line)[:2], " "); k.AuthorizedKey != want {
				t.Fatalf("AuthorizedKey = %q, want %q", k.AuthorizedKey, want)
			}
			again, err := ParseAuthorizedKey(k.AuthorizedKey)
			if err != nil || again.Fingerprint != k.Fingerprint {
				t.Fatalf("canonical text does not parse back: %v", err)
			}
		})
	}
}

func TestParseAuthorizedKeyRefuses(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ed := authorizedLine(t, edPub)
	edBlob := strings.Fields(ed)[1]

	signer, _ := ssh.NewSignerFromKey(edPriv)
	cert := &ssh.Certificate{Key: signer.PublicKey(), CertType: ssh.UserCert, ValidPrincipals: []string{"jane"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	certLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert)))

	privPEM, _ := ssh.MarshalPrivateKey(edPriv, "")
	priv := string(pem.EncodeToMemory(privPEM))

	var dsaKey dsa.PrivateKey
	if err := dsa.GenerateParameters(&dsaKey.Parameters, rand.Reader, dsa.L1024N160); err != nil {
		t.Fatal(err)
	}
	if err := dsa.GenerateKey(&dsaKey, rand.Reader); err != nil {
		t.Fatal(err)
	}
	unknown := ssh.Marshal(struct{ Name, Key string }{"ssh-foo@example.com", "xyz"})
	unknownLine := "ssh-foo@example.com " + base64.StdEncoding.EncodeToString(unknown)

	for _, c := range []struct {
		name, line, want string
	}{
		{"empty", "", "no SSH public key given"},
		{"blank", " \n ", "no SSH public key given"},
		{"garbage", "hello world", "not an SSH public key"},
		{"bad base64", "ssh-ed25519 AAAA!!!!", "not an SSH public key"},
		{"type only", "ssh-ed25519", "not an SSH public key"},
		{"type mismatch", "ssh-rsa " + edBlob, "not an SSH public key"},
		{"truncated", ed[:len(ed)-10], "not an SSH public key"},
		{"comment line", "# " + ed, "not an SSH public key (a comment line)"},
		{"two keys", ed + "\n" + ed, "one key per line: give a single line"},
		{"rsa 1024", rsaLine(t, 1024), "RSA key of 1024 bits: at least 2048 required"},
		{"rsa 2047", rsaLine(t, 2047), "RSA key of 2047 bits: at least 2048 required"},
		{"dsa", authorizedLine(t, &dsaKey.PublicKey), "DSA (ssh-dss) keys are not accepted: they are obsolete; use Ed25519"},
		{"certificate", certLine, "SSH certificates (ssh-ed25519-cert-v01@openssh.com) are not accepted: give the plain public key"},
		{"unknown type", unknownLine, `unsupported key type "ssh-foo@example.com"`},
		{"options", `from="10.0.0.0/8",no-pty ` + ed, "authorized_keys options are not accepted (found from, no-pty): give the key alone, TYPE BASE64 [COMMENT]"},
		{"restrict", "restrict " + ed, "authorized_keys options are not accepted (found restrict): give the key alone, TYPE BASE64 [COMMENT]"},
		{"cert-authority", "cert-authority " + ed, "authorized_keys options are not accepted (found cert-authority): give the key alone, TYPE BASE64 [COMMENT]"},
		{"private key", priv, "this is a private key, which must stay with its owner: give the public key (the .pub file)"},
		{"putty private key", "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n", "this is a private key, which must stay with its owner: give the public key (the .pub file)"},
		{"rfc 4716", "---- BEGIN SSH2 PUBLIC KEY ----\nAAAAC3Nz\n---- END SSH2 PUBLIC KEY ----", "RFC 4716 (SSH2) key format: convert it with ssh-keygen -i -f FILE and give the one-line result"},
		{"control in comment", ed + " jane\x1b[31m", "key comment contains control characters"},
		{"long comment", ed + " " + strings.Repeat("c", MaxKeyComment+1), "key comment of 1025 bytes: at most 1024 allowed"},
		{"huge line", ed + " " + strings.Repeat("c", MaxAuthorizedLine), fmt.Sprintf("line of %d bytes is too long for an SSH public key", len(ed)+1+MaxAuthorizedLine)},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParseAuthorizedKey(c.line)
			var ke *KeyError
			if !errors.As(err, &ke) || !errors.Is(err, ErrKey) {
				t.Fatalf("ParseAuthorizedKey = %+v, %v; want a *KeyError", k, err)
			}
			if err.Error() != c.want {
				t.Fatalf("error %q, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

// FuzzParseAuthorizedKey: no panic, and an accepted key's canonical text
// parses back to the same fingerprint.
func FuzzParseAuthorizedKey(f *testing.F) {
	f.Add("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz5ZkHvKmFPpeqe8cyrOOFgLbCCtaWAaBi0KnQnnfId jane@laptop")
	f.Add(`from="x" ssh-rsa AAAA`)
	f.Add("---- BEGIN SSH2 PUBLIC KEY ----")
	f.Fuzz(func(t *testing.T, line string) {
		k, err := ParseAuthorizedKey(line)
		if err != nil {
			if !errors.Is(err, ErrKey) {
				t.Fatalf("error %v is not ErrKey", err)
			}
			return
		}
		again, err := ParseAuthorizedKey(k.AuthorizedKey)
		if err != nil || again.Fingerprint != k.Fingerprint {
			t.Fatalf("canonical %q of %q does not parse back: %v", k.AuthorizedKey, line, err)
		}
	})
}
