package sftpd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/internal/testenv"
	"pier/sftpd"
	"pier/vpath"
)

// dialFrom logs in from the loopback address src (Linux routes all of
// 127/8 to lo), as a client from another source would.
func (e *env) dialFrom(src string, user string, auth ssh.AuthMethod) (*ssh.Client, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", e.addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(40 * time.Second)) // the client has no handshake deadline of its own
	c, chans, reqs, err := ssh.NewClientConn(nc, e.addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{auth},
		HostKeyCallback: ssh.FixedHostKey(e.hostPub), HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}})
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// signer reads a test user's private key.
func (e *env) signerOf(t *testing.T, login string) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(e.keys[login])
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upload logs in from src, uploads data to p and logs out.
func (e *env) upload(src, user string, auth ssh.AuthMethod, p string, data []byte) (login time.Duration, err error) {
	t0 := time.Now()
	conn, err := e.dialFrom(src, user, auth)
	if err != nil {
		return 0, fmt.Errorf("login from %s: %w", src, err)
	}
	defer conn.Close()
	login = time.Since(t0)
	c, err := sftp.NewClient(conn)
	if err != nil {
		return login, fmt.Errorf("sftp from %s: %w", src, err)
	}
	defer c.Close()
	if err := putErr(c, p, data); err != nil {
		return login, fmt.Errorf("upload from %s: %w", src, err)
	}
	return login, nil
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited 10 s in vain for %s", what)
		}
	}
}

// waitIdle waits until the server holds nothing: no connection, handle or
// reorder byte.
func (e *env) waitIdle(t *testing.T) {
	t.Helper()
	var st sftpd.Stats
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st = e.srv.Stats(); st == (sftpd.Stats{}) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("the server still holds %+v after 10 s", st)
		}
	}
}

// TestIdleSocketsDoNotStarve: 200 sockets from 127.0.0.1 that never send a
// byte, reopened as soon as the server closes them, and as many as the
// server keeps from each of 4 other addresses (128: more than the
// handshake slots), do not keep a partner from another address out; the
// server holds MaxUnauthenticatedPerSource of each address's, closes the
// rest at once, and cuts every idle one after the banner timeout.
func TestIdleSocketsDoNotStarve(t *testing.T) {
	testenv.NoLeaks(t)
	const banner = 2 * time.Second
	e := startWith(t, false, func(c *sftpd.Config) { c.BannerTimeout = banner })
	perSource := sftpd.DefaultConfig("").MaxUnauthenticatedPerSource

	ctx, stop := context.WithCancel(context.Background())
	var attackers sync.WaitGroup
	defer func() { stop(); attackers.Wait() }()
	var refused atomic.Int64
	var mu sync.Mutex
	var cut []time.Duration // how long the server held sockets it admitted
	idle := func(src string) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		for ctx.Err() == nil {
			nc, err := d.DialContext(ctx, "tcp", e.addr)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			t0 := time.Now()
			unblock := context.AfterFunc(ctx, func() { nc.Close() })
			io.Copy(io.Discard, nc) // until the server closes it
			unblock()
			nc.Close()
			if held := time.Since(t0); ctx.Err() == nil && held < banner/2 {
				refused.Add(1)
				time.Sleep(20 * time.Millisecond) // and again
			} else if ctx.Err() == nil {
				mu.Lock()
				cut = append(cut, held)
				mu.Unlock()
			}
		}
	}
	for range 200 {
		attackers.Go(func() { idle("127.0.0.1") })
	}
	for i := range 4 {
		for range perSource {
			attackers.Go(func() { idle(fmt.Sprintf("127.0.2.%d", i+1)) })
		}
	}
	want := perSource + 4*perSource
	waitFor(t, "the idle sockets", func() bool { return e.srv.Stats().Unauthenticated == want && refused.Load() > 200 })
	if st := e.srv.Stats(); st.Handshakes != 0 {
		t.Errorf("idle sockets hold %d handshake slots", st.Handshakes)
	}

	// The partner, from 127.0.0.3: x/crypto/ssh and pkg/sftp, then OpenSSH.
	var logins []time.Duration
	for i := range 5 {
		d, err := e.upload("127.0.0.3", "anna", ssh.PublicKeys(e.signerOf(t, "anna")), fmt.Sprintf("/acme/staff/partner-%d.bin", i), []byte("UNB"))
		if err != nil {
			t.Fatalf("during the attack: %v", err)
		}
		logins = append(logins, d)
	}
	sftpBin := testenv.Program(t, "sftp")
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "local.edi"), []byte("UNB+2"), 0o600)
	os.WriteFile(filepath.Join(work, "batch"), []byte("put local.edi /acme/inbound/openssh.edi\n"), 0o600)
	t0 := time.Now()
	out, err := run(t, work, sftpBin, append(e.sshOpts(t, "acme-edi"), "-o", "BindAddress=127.0.0.3", "-P", e.port(),
		"-b", "batch", "acme-edi@127.0.0.1")...)
	if err != nil {
		t.Fatalf("OpenSSH sftp during the attack: %v\n%s", err, out)
	}
	openssh := time.Since(t0)
	if _, err := e.store.Stat(ctx, vpath.MustParse("/acme/inbound/openssh.edi")); err != nil {
		t.Fatalf("OpenSSH upload: %v", err)
	}

	// Every idle socket admitted is cut after the banner timeout.
	waitFor(t, "idle sockets cut", func() bool { mu.Lock(); defer mu.Unlock(); return len(cut) >= want })
	mu.Lock()
	held := slices.Clone(cut)
	mu.Unlock()
	slices.Sort(held)
	if held[0] < banner-300*time.Millisecond || held[len(held)-1] > banner+time.Second {
		t.Errorf("idle sockets held %v..%v, want about %v", held[0], held[len(held)-1], banner)
	}
	slices.Sort(logins)
	t.Logf("under %d idle sockets (%d refused so far): pier logins+upload %v..%v, OpenSSH sftp put %v; idle sockets cut after %v..%v",
		want, refused.Load(), logins[0], logins[len(logins)-1], openssh, held[0], held[len(held)-1])
	stop()
	attackers.Wait()
	e.waitIdle(t)
}

// TestHandshakeBurst: 200 honest clients from 10 addresses (20 each, as
// behind NAT) connect at once, 3 times the handshake slots and more than
// twice each address's share: the queue takes them all in, and each
// uploads a small file.
func TestHandshakeBurst(t *testing.T) { bothBackends(t, testHandshakeBurst) }

func testHandshakeBurst(t *testing.T, prod bool) {
	testenv.NoLeaks(t)
	e := startWith(t, prod, func(c *sftpd.Config) {
		if raceEnabled {
			// Under the race detector a handshake (and argon2id) costs
			// several times as much: the queue may wait longer.
			c.HandshakeWait, c.HandshakeTimeout = time.Minute, 2*time.Minute
		}
	})
	key := ssh.PublicKeys(e.signerOf(t, "anna"))
	const n = 200
	var peak struct {
		sync.Mutex
		goroutines, unauth, handshakes int
	}
	sampled := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			st, g := e.srv.Stats(), runtime.NumGoroutine()
			peak.Lock()
			peak.goroutines, peak.unauth, peak.handshakes = max(peak.goroutines, g), max(peak.unauth, st.Unauthenticated), max(peak.handshakes, st.Handshakes)
			peak.Unlock()
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	go_ := make(chan struct{})
	logins := make([]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			auth := key
			if i%10 == 0 {
				auth = ssh.Password(password) // argon2id: the slow path
			}
			<-go_
			d, err := e.upload(fmt.Sprintf("127.0.1.%d", 1+i%10), "anna", auth, fmt.Sprintf("/acme/staff/burst-%03d.bin", i), bytes.Repeat([]byte{byte(i)}, 4096))
			logins[i] = d
			if err != nil {
				errs <- err
			}
		})
	}
	t0 := time.Now()
	close(go_)
	wg.Wait()
	total := time.Since(t0)
	close(done)
	<-sampled
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		if _, err := e.store.Stat(context.Background(), vpath.MustParse(fmt.Sprintf("/acme/staff/burst-%03d.bin", i))); err != nil {
			t.Errorf("burst upload %d: %v", i, err)
		}
	}
	slices.Sort(logins)
	t.Logf("%d clients: all done in %v; login p50 %v, max %v; peak unauthenticated %d, handshake slots %d, goroutines (clients too) %d",
		n, total, logins[n/2], logins[n-1], peak.unauth, peak.handshakes, peak.goroutines)
	e.waitIdle(t)
}

// TestHandshakeQueueWait: a client that sent its version line and stalls
// holds a handshake slot until HandshakeTimeout, one that sends other
// lines holds none and is cut at BannerTimeout. A client that finds no
// slot within HandshakeWait (its source's share or all slots taken) is
// closed; others get in.
func TestHandshakeQueueWait(t *testing.T) {
	testenv.NoLeaks(t)
	const bannerTO, handshakeTO, wait = time.Second, 2 * time.Second, 300 * time.Millisecond
	e := startWith(t, false, func(c *sftpd.Config) {
		c.MaxHandshakes, c.MaxHandshakesPerSource = 2, 1
		c.BannerTimeout, c.HandshakeTimeout, c.HandshakeWait = bannerTO, handshakeTO, wait
	})
	stall := func(src, send string) (held chan time.Duration) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		nc, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		nc.Write([]byte(send))
		held = make(chan time.Duration, 1)
		go func() {
			defer nc.Close()
			io.Copy(io.Discard, nc)
			held <- time.Since(t0)
		}()
		return held
	}
	key := ssh.PublicKeys(e.signerOf(t, "anna"))
	refused := func(src string) {
		t.Helper()
		t0 := time.Now()
		if _, err := e.upload(src, "anna", key, "/acme/staff/q.bin", []byte("x")); err == nil {
			t.Errorf("a client from %s got a slot", src)
		}
		if d := time.Since(t0); d < wait || d > wait+time.Second {
			t.Errorf("a client from %s waited %v for a slot, want about %v", src, d, wait)
		}
	}
	slots := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d handshake slots taken", n), func() bool { return e.srv.Stats().Handshakes == n })
	}

	first := stall("127.0.0.4", "SSH-2.0-stall\r\n")
	slots(1)
	junk := stall("127.0.0.5", "hello\r\nSSH\r\n")
	refused("127.0.0.4") // its source's one slot is taken
	if _, err := e.upload("127.0.0.6", "anna", key, "/acme/staff/q1.bin", []byte("x")); err != nil {
		t.Errorf("a client from another source: %v", err)
	}
	second := stall("127.0.0.7", "SSH-2.0-stall\r\n")
	slots(2)
	refused("127.0.0.6") // all slots taken
	waitFor(t, "two stalled handshakes and one junk sender to be all", func() bool {
		st := e.srv.Stats()
		return st.Handshakes == 2 && st.Unauthenticated == 3
	})
	if d := <-junk; d < bannerTO-300*time.Millisecond || d > bannerTO+time.Second {
		t.Errorf("lines other than the version line held %v, want the banner timeout %v", d, bannerTO)
	}
	for _, held := range []chan time.Duration{first, second} {
		if d := <-held; d < handshakeTO-300*time.Millisecond || d > handshakeTO+time.Second {
			t.Errorf("a stalled handshake held %v, want the handshake timeout %v", d, handshakeTO)
		}
	}
	if _, err := e.upload("127.0.0.4", "anna", key, "/acme/staff/q2.bin", []byte("x")); err != nil {
		t.Errorf("once the slots are free: %v", err)
	}
	e.waitIdle(t)
}
