package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Sealer encrypts TOTP secrets at rest with AES-256-GCM. The account's
// ID is authenticated with each secret, so a sealed secret copied to
// another account's row does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a sealer over a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("mfa: the key must have 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// LoadKey reads the sealing key from path: 32 random bytes, base64, one
// line. With create set, a missing file is made (mode 0600); every node
// that checks codes needs the same file.
func LoadKey(path string, create bool) (*Sealer, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's --mfa-key path, not client input
	if errors.Is(err, fs.ErrNotExist) && create {
		key := make([]byte, 32)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("mfa key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator's --mfa-key path
		if err != nil {
			return nil, fmt.Errorf("mfa key: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("mfa key: %w", werr)
		}
		return NewSealer(key)
	}
	if err != nil {
		return nil, fmt.Errorf("mfa key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("mfa key %s: not base64: %w", path, err)
	}
	return NewSealer(key)
}

func aad(userID int64) []byte { return []byte("pier-totp\x00" + strconv.FormatInt(userID, 10)) }

// Seal encrypts a secret for an account.
func (s *Sealer) Seal(userID int64, secret string) string {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, []byte(secret), aad(userID))
	return "v1:" + base64.StdEncoding.EncodeToString(out)
}

// Open decrypts what Seal made for the same account.
func (s *Sealer) Open(userID int64, sealed string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, "v1:")
	if !ok {
		return "", ErrSealed
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", ErrSealed
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], aad(userID))
	if err != nil {
		return "", ErrSealed
	}
	return string(plain), nil
}
