package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Slapd is an OpenLDAP server of one test: Debian's slapd with a
// generated configuration in a temporary directory, on free ports of
// 127.0.0.1, killed when the test ends. Its suffix is BaseDN; it has the
// memberof overlay (groupOfNames members get memberOf), a small
// Active Directory schema (sAMAccountName, userPrincipalName,
// userAccountControl, on the auxiliary class pierTestADUser), TLS with a
// certificate for 127.0.0.1 signed by CAFile, and, like Active
// Directory's MaxPageSize, a size limit of SizeLimit entries on searches
// without paging (paged searches are unlimited).
type Slapd struct {
	URL      string // ldap://127.0.0.1:PORT, plain or with StartTLS
	LDAPSURL string // ldaps://127.0.0.1:PORT
	CAFile   string // PEM: the CA of the server's certificate
	BaseDN   string
	// RootDN and RootPassword manage the server (ACLs do not apply).
	RootDN, RootPassword string
	// ServiceDN and ServicePassword are a read-only account, as pier's
	// directory sync would have.
	ServiceDN, ServicePassword string

	log     *LogBuffer
	stop    func() // kills the running slapd and waits for it
	ldapmod string
}

// SlapdSizeLimit is the most entries a search without paging returns.
const SlapdSizeLimit = 10

// StartSlapd starts a private slapd with its suffix, ou=services and the
// service account, and waits until it answers. Without slapd and
// ldap-utils installed the test skips, or fails with PIER_TEST_REQUIRE=1
// (scripts/test installs them).
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	slapd, err := findTool("slapd", "/usr/sbin/slapd")
	if err == nil {
		_, err = findTool("ldapmodify", "/usr/bin/ldapmodify")
	}
	if err != nil {
		msg := err.Error() + ": run the tests through scripts/test, which installs slapd and ldap-utils"
		if os.Getenv("PIER_TEST_REQUIRE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	s := &Slapd{BaseDN: "dc=example,dc=test", RootDN: "cn=admin,dc=example,dc=test", RootPassword: Unique("root-"),
		ServiceDN: "cn=pier,ou=services,dc=example,dc=test", ServicePassword: Unique("svc-")}
	s.ldapmod, _ = findTool("ldapmodify", "/usr/bin/ldapmodify")
	if err := s.configure(dir); err != nil {
		t.Fatalf("slapd configuration: %v", err)
	}
	var lastErr error
	for range 3 { // a free port may be taken before slapd binds it
		if lastErr = s.start(t, slapd, dir); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("slapd: %v", lastErr)
	}
	s.LDIF(t, fmt.Sprintf(`dn: %[1]s
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=services,%[1]s
objectClass: organizationalUnit
ou: services

dn: %[2]s
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: pier
userPassword: %[3]s
`, s.BaseDN, s.ServiceDN, s.ServicePassword))
	return s
}

func findTool(name, fallback string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("%s not found", name)
}

// adSchema is the part of Active Directory's schema the tests use, with
// Microsoft's OIDs.
const adSchema = `attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch
	SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.1.1 NAME 'pierTestADUser' AUXILIARY
	MAY ( sAMAccountName $ userPrincipalName $ userAccountControl ) )
`

func (s *Slapd) configure(dir string) error {
	s.CAFile = filepath.Join(dir, "ca.pem")
	if err := writeCerts(dir); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ad.schema"), []byte(adSchema), 0o600); err != nil {
		return err
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include %[1]s/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb.la
moduleload memberof.la
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/cert.pem
TLSCertificateKeyFile %[1]s/key.pem
sizelimit size.soft=%[5]d size.hard=%[5]d size.prtotal=unlimited
database mdb
maxsize 268435456
directory %[1]s/db
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
access to attrs=userPassword by self =w by anonymous auth by * none
access to * by users read by * none
overlay memberof
`, dir, s.BaseDN, s.RootDN, s.RootPassword, SlapdSizeLimit)
	return os.WriteFile(filepath.Join(dir, "slapd.conf"), []byte(conf), 0o600)
}

func (s *Slapd) start(t testing.TB, bin, dir string) error {
	ldapAddr, ldapsAddr := freeAddr(t), freeAddr(t)
	s.URL, s.LDAPSURL = "ldap://"+ldapAddr, "ldaps://"+ldapsAddr
	s.log = &LogBuffer{}
	// -d 0: stay in the foreground, so that killing it ends it.
	cmd := exec.Command(bin, "-d", "0", "-f", filepath.Join(dir, "slapd.conf"), // #nosec G204 -- the test directory server
		"-h", "ldap://"+ldapAddr+"/ ldaps://"+ldapsAddr+"/")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.stop = func() { cmd.Process.Kill(); <-exited }
	t.Cleanup(s.stop)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return fmt.Errorf("exited at start: %s", s.log.Tail())
		default:
		}
		if c, err := net.DialTimeout("tcp", ldapAddr, time.Second); err == nil {
			c.Close()
			if c, err := net.DialTimeout("tcp", ldapsAddr, time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("not listening after 20 s: %s", s.log.Tail())
}

// Kill ends the server: connections are refused from then on.
func (s *Slapd) Kill(t testing.TB) {
	t.Helper()
	s.stop()
}

// LDIF applies changes with ldapmodify as the root DN: entries without a
// changetype are added.
func (s *Slapd) LDIF(t testing.TB, ldif string) {
	t.Helper()
	cmd := exec.Command(s.ldapmod, "-a", "-x", "-H", s.URL, "-D", s.RootDN, "-y", s.rootPasswordFile(t)) // #nosec G204 -- tests only
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ldapmodify: %v: %s", err, out)
	}
}

// rootPasswordFile writes the root password to a file for ldapmodify -y,
// so that it is not on a command line.
func (s *Slapd) rootPasswordFile(t testing.TB) string {
	f := filepath.Join(t.TempDir(), "root.pw")
	if err := os.WriteFile(f, []byte(s.RootPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 and
// localhost: ca.pem, cert.pem and key.pem in dir.
func writeCerts(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pier test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return nil
}
