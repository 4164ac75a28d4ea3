package davd

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TLSConfig returns a modern server TLS configuration with the given
// certificate, or with a self-signed one kept in dir (made on first start)
// when certFile is empty. It also returns the certificate's SHA-256
// fingerprint, for clients to pin.
func TLSConfig(certFile, keyFile, dir string) (*tls.Config, string, error) {
	if certFile == "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("tls: %w", err)
		}
		certFile, keyFile = filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
		if _, err := os.Stat(certFile); errors.Is(err, fs.ErrNotExist) {
			if err := selfSign(certFile, keyFile); err != nil {
				return nil, "", fmt.Errorf("tls: self-signed certificate: %w", err)
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, "", fmt.Errorf("tls: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, hex.EncodeToString(sum[:]), nil
}

// selfSign makes the certificate TLSConfig uses without one: for this
// machine's names (node asks SelfSigned for the names it listens on).
func selfSign(certFile, keyFile string) error {
	return writeSelfSigned(certFile, keyFile, ListenNames("", nil))
}
