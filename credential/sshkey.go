package credential

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/crypto/ssh"
)

// SSH key limits. RSA keys need at least 2048 bits: NIST SP 800-57 accepts
// 2048 through 2030 and many partner systems still have such keys; new keys
// should be Ed25519, or RSA of 3072 bits (ssh-keygen's default).
const (
	MinRSABits        = 2048
	MaxAuthorizedLine = 16 * 1024 // bytes; a 16384-bit RSA key takes about 2,800
	MaxKeyComment     = 1024      // bytes
)

// Key is an SSH public key accepted by ParseAuthorizedKey.
type Key struct {
	Type          string        // key algorithm, e.g. "ssh-ed25519", "sk-ssh-ed25519@openssh.com"
	Bits          int           // RSA modulus or elliptic-curve size; 0 for other kinds
	Fingerprint   string        // "SHA256:" and unpadded base64, as ssh-keygen -l shows it
	Comment       string        // the text after the key, often user@host; may be empty
	AuthorizedKey string        // canonical "TYPE BASE64", without comment or newline
	PublicKey     ssh.PublicKey // for comparing with the key a client offers
}

// keyTypeAccepted reports whether ParseAuthorizedKey accepts the algorithm.
func keyTypeAccepted(t string) bool {
	switch t {
	case ssh.KeyAlgoRSA, ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256,
		ssh.KeyAlgoMLDSA44, ssh.KeyAlgoMLDSA65, ssh.KeyAlgoMLDSA87:
		return true
	}
	return false
}

// ParseAuthorizedKey parses one line in OpenSSH's authorized_keys (or .pub)
// format, "TYPE BASE64 [COMMENT]", and returns the key if pier accepts it.
// Surrounding spaces and one final newline are ignored.
//
// Refused, with a one-line *KeyError: anything but exactly one key line;
// private keys and the RFC 4716 ("---- BEGIN SSH2 PUBLIC KEY ----") format,
// with a hint; authorized_keys options (from=, command=, restrict, …), since
// pier grants access and source networks itself and silently dropping an
// option would widen access; certificates (…-cert-v01@openssh.com), since
// pier trusts keys, not certificate authorities; DSA keys; RSA keys below
// MinRSABits; comments with control characters or over MaxKeyComment bytes.
// Accepted: RSA, ECDSA (P-256, P-384, P-521), Ed25519, their security-key
// (sk-) variants, and ML-DSA once built with a Go that has it (1.27+).
func ParseAuthorizedKey(line string) (Key, error) {
	line = strings.TrimSpace(line)
	if err := checkKeyText(line); err != nil {
		return Key{}, err
	}
	pk, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return Key{}, &KeyError{notAKey(line)}
	}
	if len(options) > 0 {
		return Key{}, &KeyError{fmt.Sprintf("authorized_keys options are not accepted (found %s): give the key alone, TYPE BASE64 [COMMENT]", optionNames(options))}
	}
	if _, ok := pk.(*ssh.Certificate); ok {
		return Key{}, &KeyError{fmt.Sprintf("SSH certificates (%s) are not accepted: give the plain public key", pk.Type())}
	}
	bits, err := checkKeyStrength(pk)
	if err != nil {
		return Key{}, err
	}
	if len(comment) > MaxKeyComment {
		return Key{}, &KeyError{fmt.Sprintf("key comment of %d bytes: at most %d allowed", len(comment), MaxKeyComment)}
	}
	if strings.ContainsFunc(comment, unicode.IsControl) {
		return Key{}, &KeyError{"key comment contains control characters"}
	}
	return Key{
		Type:          pk.Type(),
		Bits:          bits,
		Fingerprint:   ssh.FingerprintSHA256(pk),
		Comment:       comment,
		AuthorizedKey: strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pk)), "\n"),
		PublicKey:     pk,
	}, nil
}

// checkKeyText refuses, before parsing, what is plainly not one key line,
// with a hint for the usual mistakes.
func checkKeyText(line string) error {
	switch {
	case line == "":
		return &KeyError{"no SSH public key given"}
	case strings.HasPrefix(line, "---- BEGIN SSH2 PUBLIC KEY"):
		return &KeyError{"RFC 4716 (SSH2) key format: convert it with ssh-keygen -i -f FILE and give the one-line result"}
	case strings.HasPrefix(line, "-----BEGIN") && strings.Contains(line, "PRIVATE KEY"),
		strings.HasPrefix(line, "PuTTY-User-Key-File"):
		return &KeyError{"this is a private key, which must stay with its owner: give the public key (the .pub file)"}
	case len(line) > MaxAuthorizedLine:
		return &KeyError{fmt.Sprintf("line of %d bytes is too long for an SSH public key", len(line))}
	case strings.ContainsAny(line, "\r\n"):
		return &KeyError{"one key per line: give a single line"}
	case strings.HasPrefix(line, "#"):
		return &KeyError{"not an SSH public key (a comment line)"}
	}
	return nil
}

// checkKeyStrength refuses weak or unknown key types and returns the key
// size in bits where it means something.
func checkKeyStrength(pk ssh.PublicKey) (int, error) {
	t := pk.Type()
	if t == ssh.InsecureKeyAlgoDSA {
		return 0, &KeyError{"DSA (ssh-dss) keys are not accepted: they are obsolete; use Ed25519"}
	}
	if !keyTypeAccepted(t) {
		return 0, &KeyError{fmt.Sprintf("unsupported key type %q", t)}
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return 0, nil
	}
	switch k := cpk.CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < MinRSABits {
			return 0, &KeyError{fmt.Sprintf("RSA key of %d bits: at least %d required", bits, MinRSABits)}
		}
		return bits, nil
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize, nil
	case ed25519.PublicKey:
		return 256, nil
	}
	return 0, nil
}

// notAKey explains why ssh could not parse the line: an algorithm it does
// not know, or not a key at all.
func notAKey(line string) string {
	fields := strings.Fields(line)
	for i := 0; i+1 < len(fields) && i < 2; i++ {
		if t, ok := blobType(fields[i+1]); ok && t == fields[i] {
			if strings.HasSuffix(t, "-cert-v01@openssh.com") {
				return fmt.Sprintf("SSH certificates (%s) are not accepted: give the plain public key", t)
			}
			return fmt.Sprintf("unsupported key type %q", t)
		}
	}
	return "not an SSH public key"
}

// blobType returns the algorithm name at the start of a base64 key blob.
func blobType(b64blob string) (string, bool) {
	blob, err := base64.StdEncoding.DecodeString(b64blob)
	if err != nil || len(blob) < 4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(blob)
	if n == 0 || n > 64 || int(n) > len(blob)-4 {
		return "", false
	}
	t := string(blob[4 : 4+n])
	if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "", false
	}
	return t, true
}

// optionNames lists the names of authorized_keys options, without their
// values: "from, command".
func optionNames(options []string) string {
	names := make([]string, len(options))
	for i, o := range options {
		name, _, _ := strings.Cut(o, "=")
		if len(name) > 32 {
			name = name[:32] + "…"
		}
		names[i] = name
	}
	return strings.Join(names, ", ")
}
