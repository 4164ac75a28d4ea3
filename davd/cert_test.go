package davd_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"pier/davd"
)

// TestSelfSignedNames: the generated certificate names every address it
// is served on and the public names, so that clients checking names
// (rclone, curl, Windows) accept it once they trust it; a new public name
// makes a new certificate.
func TestSelfSignedNames(t *testing.T) {
	dir := t.TempDir()
	names := davd.ListenNames("0.0.0.0:8443", []string{"files.example.com", "192.0.2.7"})
	certFile, keyFile, made, err := davd.SelfSigned(dir, names)
	if err != nil || !made {
		t.Fatalf("first start: %v %v", made, err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	tc, fp, err := davd.TLSConfig(certFile, keyFile, "")
	if err != nil || len(fp) != 64 {
		t.Fatal(fp, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = tc
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, name := range []string{"127.0.0.1", "localhost", "files.example.com", "192.0.2.7"} {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			t.Errorf("a client trusting the certificate refused it for %s: %v", name, err)
			continue
		}
		conn.Close()
	}
	if _, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool, ServerName: "other.example.org"}); err == nil {
		t.Error("the certificate is valid for a name it should not hold")
	}
	block, _ := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if !hasIP(block.IPAddresses, "::1") {
		t.Errorf("no ::1 in %v", block.IPAddresses)
	}
	if _, _, made, _ := davd.SelfSigned(dir, names); made {
		t.Error("a certificate naming everything was made again")
	}
	if _, _, made, _ := davd.SelfSigned(dir, davd.ListenNames("127.0.0.1:8443", []string{"edi.example.net"})); !made {
		t.Error("a new public name kept the old certificate")
	}
}

func hasIP(ips []net.IP, s string) bool {
	for _, ip := range ips {
		if ip.Equal(net.ParseIP(s)) {
			return true
		}
	}
	return false
}
