package sftpd

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// kexInit builds a KEXINIT packet (length, padding length, payload,
// padding) with the given cipher lists.
func kexInit(c2s, s2c string) []byte {
	payload := []byte{msgKexInit}
	payload = append(payload, make([]byte, 16)...) // cookie
	for _, l := range []string{"curve25519-sha256", "ssh-ed25519", c2s, s2c, "hmac-sha2-256", "hmac-sha2-256", "none", "none", "", ""} {
		payload = binary.BigEndian.AppendUint32(payload, uint32(len(l)))
		payload = append(payload, l...)
	}
	payload = append(payload, 0, 0, 0, 0, 0)
	pkt := binary.BigEndian.AppendUint32(nil, uint32(len(payload)+1+4))
	pkt = append(pkt, 4)
	pkt = append(pkt, payload...)
	return append(pkt, 0, 0, 0, 0)
}

func TestKexPeek(t *testing.T) {
	ctr, gcm := ssh.CipherAES128CTR, ssh.CipherAES128GCM
	for _, tc := range []struct {
		c2s, s2c string
		want     bool
	}{
		{ctr + "," + gcm, ctr + "," + gcm, true},
		{ctr + "," + gcm, ctr, false},
		{ctr, ctr, false},
		{"chacha20-poly1305@openssh.com," + ssh.CipherAES256GCM, ssh.CipherAES256GCM, true},
	} {
		payload, ok := firstPacket(kexInit(tc.c2s, tc.s2c))
		if !ok {
			t.Fatal("firstPacket refused a whole packet")
		}
		if got := gcmBothWays(payload, Ciphers); got != tc.want {
			t.Errorf("%s / %s: gcmBothWays %v, want %v", tc.c2s, tc.s2c, got, tc.want)
		}
	}
	whole := kexInit(ctr, ctr)
	for n := range whole {
		if _, ok := firstPacket(whole[:n]); ok {
			t.Fatalf("firstPacket took %d of %d bytes as a whole packet", n, len(whole))
		}
	}
	if got := strings.Join(aeadOnly(append(Ciphers, ssh.CipherChaCha20Poly1305)), ","); got != ssh.CipherAES128GCM+","+ssh.CipherAES256GCM+","+ssh.CipherChaCha20Poly1305 {
		t.Errorf("aeadOnly = %s", got)
	}
}

// FuzzKexPeek: whatever a client sends before the key exchange, reading
// its offer neither panics nor reads past what it got.
func FuzzKexPeek(f *testing.F) {
	f.Add(kexInit("aes128-ctr,aes128-gcm@openssh.com", "aes128-gcm@openssh.com"))
	f.Add([]byte{0, 0, 0, 5, 1, 20, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if payload, ok := firstPacket(b); ok {
			kexCiphers(payload)
			gcmBothWays(payload, Ciphers)
		}
		kexCiphers(b)
	})
}
