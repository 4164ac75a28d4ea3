package davd_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pier/davd"
)

// The suites a TLS 1.2 client may get, per certificate key type, as Go and
// OpenSSL name them.
var (
	aeadECDSA = map[uint16]string{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	}
	aeadRSA = map[uint16]string{
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:       "ECDHE-RSA-AES128-GCM-SHA256",
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:       "ECDHE-RSA-AES256-GCM-SHA384",
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
	}
	cbcECDSA = map[uint16]string{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:    "ECDHE-ECDSA-AES128-SHA",
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:    "ECDHE-ECDSA-AES256-SHA",
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
	}
	cbcRSA = map[uint16]string{
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:    "ECDHE-RSA-AES128-SHA",
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:    "ECDHE-RSA-AES256-SHA",
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
	}
)

// TestTLSOffersOnlyAEAD: over TLS 1.2 the WebDAV listener negotiates only
// ECDHE with AES-GCM or ChaCha20-Poly1305, with the self-signed ECDSA
// certificate and with a given RSA one; TLS 1.3 works, TLS 1.1 does not.
// Checked with Go's client and with openssl s_client, each against a
// server that offers the CBC suites first, so that a refusal is the
// configuration's doing and not the client's.
func TestTLSOffersOnlyAEAD(t *testing.T) {
	for _, c := range []struct {
		name      string
		rsa       bool
		aead, cbc map[uint16]string
	}{
		{"ecdsa self-signed", false, aeadECDSA, cbcECDSA},
		{"rsa given", true, aeadRSA, cbcRSA},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var certFile, keyFile string
			if c.rsa {
				certFile, keyFile = writeRSACert(t, dir)
			}
			cfg, fp, err := davd.TLSConfig(certFile, keyFile, filepath.Join(dir, "tls"))
			if err != nil || len(fp) != 64 {
				t.Fatalf("TLSConfig: %q, %v", fp, err)
			}
			if certFile == "" {
				certFile = filepath.Join(dir, "tls", "selfsigned.crt")
			}
			roots := x509.NewCertPool()
			pemBytes, err := os.ReadFile(certFile)
			if err != nil || !roots.AppendCertsFromPEM(pemBytes) {
				t.Fatalf("read %s: %v", certFile, err)
			}
			// The control server offers every suite of the test.
			lax := &tls.Config{Certificates: cfg.Certificates, MinVersion: tls.VersionTLS12}
			for _, m := range []map[uint16]string{c.cbc, c.aead} {
				for suite := range m {
					lax.CipherSuites = append(lax.CipherSuites, suite)
				}
			}
			laxAddr, addr := serveTLS(t, lax), serveTLS(t, cfg)

			dial := func(addr string, cc *tls.Config) (tls.ConnectionState, error) {
				cc.RootCAs, cc.ServerName = roots, "localhost"
				d := &tls.Dialer{Config: cc, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
				conn, err := d.DialContext(t.Context(), "tcp", addr)
				if err != nil {
					return tls.ConnectionState{}, err
				}
				defer conn.Close()
				return conn.(*tls.Conn).ConnectionState(), nil
			}
			tls12 := func(suite uint16) *tls.Config {
				return &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
			}
			for suite := range c.cbc {
				if _, err := dial(laxAddr, tls12(suite)); err != nil {
					t.Fatalf("control: the lax server refuses %s too: %v", tls.CipherSuiteName(suite), err)
				}
				if st, err := dial(addr, tls12(suite)); err == nil {
					t.Errorf("TLS 1.2 client offering only %s got %s", tls.CipherSuiteName(suite), tls.CipherSuiteName(st.CipherSuite))
				}
			}
			for suite := range c.aead {
				if st, err := dial(addr, tls12(suite)); err != nil || st.CipherSuite != suite {
					t.Errorf("TLS 1.2 with %s: %s, %v", tls.CipherSuiteName(suite), tls.CipherSuiteName(st.CipherSuite), err)
				}
			}
			if st, err := dial(addr, &tls.Config{}); err != nil || st.Version != tls.VersionTLS13 {
				t.Errorf("default client: version %x, %v; want TLS 1.3", st.Version, err)
			}
			if _, err := dial(addr, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
				t.Error("TLS 1.1 accepted")
			}

			openssl := opensslClient(t)
			for _, name := range c.cbc {
				if out, err := openssl(laxAddr, name); err != nil {
					t.Fatalf("control: openssl -cipher %s against the lax server: %v\n%s", name, err, out)
				}
				if out, err := openssl(addr, name); err == nil {
					t.Errorf("openssl s_client -tls1_2 -cipher %s connected:\n%s", name, out)
				}
			}
			for _, name := range c.aead {
				if out, err := openssl(addr, name); err != nil || !strings.Contains(out, name) {
					t.Errorf("openssl s_client -tls1_2 -cipher %s: %v\n%s", name, err, out)
				}
			}
		})
	}
}

// serveTLS accepts TLS connections with cfg until the test ends, completing
// each handshake and then waiting for the client to go.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				if conn.(*tls.Conn).Handshake() == nil {
					io.Copy(io.Discard, conn)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// opensslClient returns a func that connects with openssl s_client over
// TLS 1.2 offering one suite, and returns its output.
func opensslClient(t *testing.T) func(addr, cipher string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("PIER_TEST_REQUIRE") == "1" {
			t.Fatal("openssl is missing (apt-get install openssl)")
		}
		t.Skip("openssl is missing")
	}
	return func(addr, cipher string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "s_client", "-connect", addr, "-tls1_2", "-cipher", cipher, "-brief")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// writeRSACert writes a self-signed RSA certificate for localhost.
func writeRSACert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pier test rsa"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "rsa.crt"), filepath.Join(dir, "rsa.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	kder := x509.MarshalPKCS1PrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
