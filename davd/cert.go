package davd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// CertNames are the host names and addresses a self-signed certificate
// names, so that clients checking the name (rclone, curl, Windows) accept
// it for every address they may use.
type CertNames struct {
	DNS []string
	IPs []net.IP
}

// ListenNames returns what a certificate for a listener on addr must
// name: localhost, 127.0.0.1 and ::1, the machine's host name, the
// address listened on (every address of the machine when it is all of
// them, as ":8080" is), and the public names partners use (host names or
// addresses, from --public-name).
func ListenNames(addr string, public []string) CertNames {
	var n CertNames
	n.add("localhost")
	n.add("127.0.0.1")
	n.add("::1")
	if h, err := os.Hostname(); err == nil && h != "" {
		n.add(h)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
					n.add(ipn.IP.String())
				}
			}
		}
	} else {
		n.add(host)
	}
	for _, p := range public {
		n.add(p)
	}
	return n
}

func (n *CertNames) add(name string) {
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	if name == "" {
		return
	}
	if ip := net.ParseIP(strings.Trim(name, "[]")); ip != nil {
		if !slices.ContainsFunc(n.IPs, ip.Equal) {
			n.IPs = append(n.IPs, ip)
		}
		return
	}
	name = strings.ToLower(name)
	if !slices.Contains(n.DNS, name) {
		n.DNS = append(n.DNS, name)
	}
}

// covers reports whether cert names all of n.
func (n CertNames) covers(cert *x509.Certificate) bool {
	for _, d := range n.DNS {
		if !slices.Contains(cert.DNSNames, d) {
			return false
		}
	}
	for _, ip := range n.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

const selfSignedCN = "pier self-signed"

// SelfSigned returns the files of pier's self-signed certificate in dir,
// made on first start. It makes a new one when the one there does not
// name every one of names (a new --public-name or address), or expires
// within 30 days; made reports that, since clients pinning the old one
// must be told the new fingerprint.
func SelfSigned(dir string, names CertNames) (certFile, keyFile string, made bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("tls: %w", err)
	}
	certFile, keyFile = filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
	pemBytes, err := os.ReadFile(certFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", "", false, fmt.Errorf("tls: %w", err)
	default:
		if b, _ := pem.Decode(pemBytes); b != nil {
			if c, err := x509.ParseCertificate(b.Bytes); err == nil && c.Subject.CommonName == selfSignedCN &&
				names.covers(c) && time.Until(c.NotAfter) > 30*24*time.Hour {
				return certFile, keyFile, false, nil
			}
		}
	}
	if err := writeSelfSigned(certFile, keyFile, names); err != nil {
		return "", "", false, fmt.Errorf("tls: self-signed certificate: %w", err)
	}
	return certFile, keyFile, true, nil
}

func writeSelfSigned(certFile, keyFile string, names CertNames) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: selfSignedCN},
		DNSNames:     names.DNS,
		IPAddresses:  names.IPs,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(name string, b []byte, mode fs.FileMode) error {
	tmp := name + ".new"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
