package sftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Clients choose the cipher: the first of their own list that the server
// offers. OpenSSH's list puts chacha20-poly1305 and then aes-ctr before
// aes-gcm, so a server that offers aes-ctr for clients that know nothing
// else (paramiko, JSch, libssh2 1.10) gets aes128-ctr with an HMAC from
// every OpenSSH client left at its defaults — a third more CPU per byte in
// Go than aes128-gcm. So pier reads the client's key exchange offer
// before making its own: a client that can do AES-GCM both ways is
// offered the AEAD ciphers alone (AES-GCM, and chacha20-poly1305 when
// configured), every other client the whole list. The offer stays a
// subset of the configured ciphers; no client is refused that was served
// before.

const (
	// kexPeekWait is how long the server waits for the client's offer
	// once its version line is in. Clients send it at once; one that
	// waits for the server's first gets the whole list after this.
	kexPeekWait = 2 * time.Second
	// maxPrelude bounds the bytes read before x/crypto/ssh takes over:
	// lines before the version (RFC 4253 4.2) and the offer.
	maxPrelude = 64 << 10
)

// prelude reads the client's version line and key exchange offer through
// c (so admission sees the version line as before), after sending the
// server's version line. It returns the bytes read, to be replayed to
// x/crypto/ssh, the ciphers to offer, and the error reading stopped with,
// which the replay returns after the bytes: x/crypto/ssh then fails as it
// would have, and the caller reports it as before.
func prelude(c *watchedConn, version string, ciphers []string, handshakeEnd time.Time) (read []byte, offer []string, err error) {
	offer = ciphers
	if _, err = c.Write([]byte(version + "\r\n")); err != nil {
		return nil, offer, err
	}
	buf := make([]byte, 0, 4<<10)
	fill := func() error {
		if len(buf) == cap(buf) {
			if cap(buf) >= maxPrelude {
				return errPreludeFull
			}
			buf = slices.Grow(buf, min(cap(buf), maxPrelude-cap(buf)))
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		return err
	}
	// The version line: the first line that starts with "SSH-".
	body := -1
	for body < 0 {
		for start := 0; ; {
			i := bytes.IndexByte(buf[start:], '\n')
			if i < 0 {
				break
			}
			if bytes.HasPrefix(buf[start:], []byte("SSH-")) {
				body = start + i + 1
				break
			}
			start += i + 1
		}
		if body >= 0 {
			break
		}
		if err := fill(); err != nil {
			return buf, offer, preludeErr(err)
		}
	}
	// The offer: the first binary packet, unencrypted.
	c.SetReadDeadline(minTime(handshakeEnd, time.Now().Add(kexPeekWait)))
	defer c.SetReadDeadline(handshakeEnd)
	for {
		if kexinit, ok := firstPacket(buf[body:]); ok {
			if gcmBothWays(kexinit, ciphers) {
				offer = aeadOnly(ciphers)
			}
			return buf, offer, nil
		}
		if err := fill(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errPreludeFull) {
				// No offer in time, or too big: the whole list, and
				// x/crypto/ssh reads on.
				return buf, offer, nil
			}
			return buf, offer, err
		}
	}
}

var errPreludeFull = errors.New("ssh: too many bytes before the key exchange")

// preludeErr keeps a full buffer from failing the connection before
// x/crypto/ssh has judged the lines itself.
func preludeErr(err error) error {
	if errors.Is(err, errPreludeFull) {
		return nil
	}
	return err
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// firstPacket returns the payload of the binary packet at the start of
// b (RFC 4253 6: length, padding length, payload, padding), if b holds
// all of it.
func firstPacket(b []byte) ([]byte, bool) {
	if len(b) < 5 {
		return nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if n < 2 || n > maxPrelude || len(b) < 4+int(n) {
		return nil, false
	}
	pad := int(b[4])
	if pad >= int(n) {
		return nil, false
	}
	return b[5 : 4+int(n)-pad], true
}

const msgKexInit = 20

// kexCiphers reads the two cipher lists (client to server, server to
// client) of a KEXINIT payload (RFC 4253 7.1).
func kexCiphers(payload []byte) (c2s, s2c []string, ok bool) {
	if len(payload) < 17 || payload[0] != msgKexInit {
		return nil, nil, false
	}
	rest := payload[17:]
	var lists [4]string
	for i := range lists {
		if len(rest) < 4 {
			return nil, nil, false
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-4) { // #nosec G115 -- len(rest) ≥ 4, checked above
			return nil, nil, false
		}
		lists[i], rest = string(rest[4:4+n]), rest[4+n:]
	}
	return strings.Split(lists[2], ","), strings.Split(lists[3], ","), true
}

func isGCM(name string) bool {
	return name == ssh.CipherAES128GCM || name == ssh.CipherAES256GCM
}

// gcmBothWays reports whether a client's offer can use one of the AES-GCM
// ciphers of ours in each direction.
func gcmBothWays(kexinit []byte, ours []string) bool {
	c2s, s2c, ok := kexCiphers(kexinit)
	if !ok {
		return false
	}
	can := func(theirs []string) bool {
		return slices.ContainsFunc(theirs, func(n string) bool { return isGCM(n) && slices.Contains(ours, n) })
	}
	return can(c2s) && can(s2c)
}

// aeadOnly is ciphers without the ones that need a MAC (aes-ctr).
func aeadOnly(ciphers []string) []string {
	var out []string
	for _, c := range ciphers {
		if isGCM(c) || c == ssh.CipherChaCha20Poly1305 {
			out = append(out, c)
		}
	}
	return out
}

// replayConn gives x/crypto/ssh the bytes the prelude read, then the
// error it stopped with, if any, then the connection; and drops the
// server's version line when x/crypto/ssh writes it again.
type replayConn struct {
	*watchedConn
	read    []byte
	err     error
	version []byte // "SSH-2.0-pier\r\n", already sent
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.read) > 0 {
		n := copy(p, r.read)
		r.read = r.read[n:]
		return n, nil
	}
	if r.err != nil {
		err := r.err
		r.err = nil
		return 0, err
	}
	return r.watchedConn.Read(p)
}

func (r *replayConn) Write(p []byte) (int, error) {
	if r.version != nil {
		if bytes.Equal(p, r.version) {
			r.version = nil
			return len(p), nil
		}
		r.version = nil
	}
	return r.watchedConn.Write(p)
}

var _ net.Conn = (*replayConn)(nil)
