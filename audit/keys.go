package audit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// KeyName names pier's audit keys in signed checkpoints.
const KeyName = "pier-audit"

// Keys sign and check the log's checkpoints.
type Keys struct {
	Signer   note.Signer   // nil: this process does not sign
	Verifier note.Verifier // checks the checkpoints
	// Public is the verifier key in note's text form
	// ("pier-audit+hash+base64"): what auditors and partners are given.
	Public string
}

// LoadKeys reads the signing key from file (note's private key text), or,
// when file is "", from dir/audit.key, making a new key pair there on
// first use (the public key beside it, in audit.pub). Every node of a
// cluster must sign with the same key: give them the same --audit-key.
func LoadKeys(dir, file string) (Keys, error) {
	if file == "" {
		file = filepath.Join(dir, "audit.key")
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			if err := generate(dir); err != nil {
				return Keys{}, err
			}
		}
	}
	skey, err := os.ReadFile(file)
	if err != nil {
		return Keys{}, fmt.Errorf("audit key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return Keys{}, fmt.Errorf("audit key %s: %w", file, err)
	}
	pub, err := os.ReadFile(strings.TrimSuffix(file, ".key") + ".pub")
	if err != nil {
		return Keys{}, fmt.Errorf("audit key: the public key beside %s: %w", file, err)
	}
	k, err := PublicKeys(strings.TrimSpace(string(pub)))
	if err != nil {
		return Keys{}, err
	}
	if k.Verifier.KeyHash() != signer.KeyHash() || k.Verifier.Name() != signer.Name() {
		return Keys{}, fmt.Errorf("audit key %s does not match its public key", file)
	}
	k.Signer = signer
	return k, nil
}

// PublicKeys returns keys that only verify, from a public key's text.
func PublicKeys(public string) (Keys, error) {
	v, err := note.NewVerifier(public)
	if err != nil {
		return Keys{}, fmt.Errorf("audit public key: %w", err)
	}
	return Keys{Verifier: v, Public: public}, nil
}

func generate(dir string) error {
	skey, vkey, err := note.GenerateKey(rand.Reader, KeyName)
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	// O_EXCL: of two processes starting at once, one makes the key.
	f, err := os.OpenFile(filepath.Join(dir, "audit.key"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(skey + "\n"); err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "audit.pub"), []byte(vkey+"\n"), 0o644)
}
