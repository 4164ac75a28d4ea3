package sftpd_test

import (
	"os/exec"
	"regexp"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/internal/testenv"
)

// TestCipherOffer: a client that can do AES-GCM gets it, whatever it
// lists first (OpenSSH lists aes-ctr first); a client that knows only
// aes-ctr (paramiko, JSch, libssh2 1.10) is still served.
func TestCipherOffer(t *testing.T) {
	e := start(t, false)
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{[]string{ssh.CipherAES128CTR, ssh.CipherAES256CTR, ssh.CipherAES128GCM, ssh.CipherAES256GCM}, ssh.CipherAES128GCM},
		{[]string{ssh.CipherAES256CTR, ssh.CipherAES256GCM}, ssh.CipherAES256GCM},
		{[]string{ssh.CipherAES128CTR, ssh.CipherAES256CTR}, ssh.CipherAES128CTR},
		{[]string{ssh.CipherAES256CTR}, ssh.CipherAES256CTR},
		{[]string{ssh.CipherChaCha20Poly1305, ssh.CipherAES128CTR}, ssh.CipherAES128CTR},
	} {
		conn, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: "acme-edi", Auth: []ssh.AuthMethod{ssh.Password(password)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
			Config: ssh.Config{Ciphers: tc.offer}})
		if err != nil {
			t.Errorf("client offering %v: %v", tc.offer, err)
			continue
		}
		got := conn.Conn.(ssh.AlgorithmsConnMetadata).Algorithms()
		conn.Close()
		if got.Read.Cipher != tc.want || got.Write.Cipher != tc.want {
			t.Errorf("client offering %v got %s/%s, want %s", tc.offer, got.Read.Cipher, got.Write.Cipher, tc.want)
		}
	}
}

// TestOpenSSHDefaultsGetGCM: OpenSSH's client with its default lists
// negotiates aes128-gcm, not aes128-ctr with an HMAC.
func TestOpenSSHDefaultsGetGCM(t *testing.T) {
	sshBin := testenv.Program(t, "ssh")
	e := start(t, false)
	out, _ := exec.Command(sshBin, "-v", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-i", e.keyFile, "-p", e.port(), "-s", "acme-edi@127.0.0.1", "sftp").CombinedOutput()
	m := regexp.MustCompile(`kex: client->server cipher: (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no negotiated cipher in ssh -v output:\n%s", out)
	}
	if got := string(m[1]); got != ssh.CipherAES128GCM {
		t.Fatalf("OpenSSH's defaults negotiated %s, want %s", got, ssh.CipherAES128GCM)
	}
}
