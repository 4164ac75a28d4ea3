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
// fingerprint, for clients to pin. TLS 1.2 clients are offered only
// forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305), for
// ECDSA and RSA certificates alike; Go's defaults would also offer CBC
// suites with SHA-1 MACs. TLS 1.3 suites are all AEAD and fixed by Go.
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
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}, hex.EncodeToString(sum[:]), nil
}

// selfSign makes the certificate TLSConfig uses without one: for this
// machine's names (node asks SelfSigned for the names it listens on).
func selfSign(certFile, keyFile string) error {
	return writeSelfSigned(certFile, keyFile, ListenNames("", nil))
}
