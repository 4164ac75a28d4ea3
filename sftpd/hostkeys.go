package sftpd

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// LoadHostKeys reads the server's host keys from dir, generating an
// Ed25519 and an ECDSA P-256 key on first start. Keys are written with mode
// 0600 through a temporary file, so a crash never leaves half a key.
func LoadHostKeys(dir string) ([]ssh.Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("host keys: %w", err)
	}
	var signers []ssh.Signer
	for _, k := range []struct {
		file string
		gen  func() (any, error)
	}{
		{"ssh_host_ed25519_key", func() (any, error) { _, priv, err := ed25519.GenerateKey(rand.Reader); return priv, err }},
		{"ssh_host_ecdsa_key", func() (any, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	} {
		path := filepath.Join(dir, k.file)
		data, err := os.ReadFile(path) // #nosec G304 -- the operator's data directory
		if errors.Is(err, fs.ErrNotExist) {
			data, err = generate(path, k.gen)
		}
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		s, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		signers = append(signers, s)
	}
	return signers, nil
}

func generate(path string, gen func() (any, error)) ([]byte, error) {
	key, err := gen()
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(key, "pier host key")
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(block)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return data, nil
}
