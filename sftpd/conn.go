package sftpd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/authfs"
	"pier/authz"
	"pier/defender"
	"pier/internal/untrusted"
	"pier/sessions"
	"pier/vpath"
)

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// Phases of a watchedConn.
const (
	awaitBanner int32 = iota // until the client's version line is in
	inHandshake              // key exchange and authentication
	serving                  // authenticated
)

// watchedConn applies each phase's deadline and takes the handshake slot
// once the client's version line has arrived: until then a connection
// holds no slot, and it has BannerTimeout to send that line. Once
// serving, each read pushes the idle deadline back.
type watchedConn struct {
	net.Conn
	adm          *admission
	src          *source
	handshakeEnd time.Time // HandshakeTimeout after the accept
	idle         time.Duration

	phase atomic.Int32
	line  []byte    // the start of the line being received, before the banner
	slot  bool      // a handshake slot is held; read after the handshake
	until time.Time // the idle deadline last set, once serving; the reader's alone
}

func (c *watchedConn) Read(b []byte) (int, error) {
	switch c.phase.Load() {
	case serving:
		// Push the idle deadline back, but not on every read: a deadline
		// still most of the idle timeout away is good enough, and setting
		// one costs a timer update per packet.
		if now := time.Now(); c.idle > 0 && c.until.Sub(now) < c.idle-c.idle/8 {
			c.until = now.Add(c.idle)
			c.SetReadDeadline(c.until)
		}
		return c.Conn.Read(b)
	case inHandshake:
		return c.Conn.Read(b)
	}
	// x/crypto/ssh reads the version line one byte at a time in the
	// goroutine that called NewServerConn, before any other read.
	n, err := c.Conn.Read(b)
	for _, ch := range b[:n] {
		if ch != '\n' {
			if len(c.line) < 4 {
				c.line = append(c.line, ch)
			}
			continue
		}
		// RFC 4253 lets lines come before the version line.
		if string(c.line) == "SSH-" {
			c.phase.Store(inHandshake)
			if err := c.adm.acquire(c.src); err != nil {
				return 0, err
			}
			c.slot = true
			c.SetReadDeadline(c.handshakeEnd)
			break
		}
		c.line = c.line[:0]
	}
	return n, err
}

// handle admits a connection, runs the handshake and serves its channels
// until the client goes or Shutdown closes it.
func (s *Server) handle(nc net.Conn) {
	defer nc.Close()
	from := nc.RemoteAddr().String()
	var addr netip.Addr // invalid for addresses that are not IP (pipes in tests)
	if ap, err := netip.ParseAddrPort(from); err == nil {
		addr = ap.Addr().Unmap()
	}
	// One attacker's addresses: an IPv4 address, an IPv6 /64; pipes share
	// the zero source.
	src := defender.SourceOf(addr)
	if !s.screen.Admit(context.Background(), addr, "sftp") {
		return // banned or denied: closed before a byte is read
	}
	source, ok := s.admit.enter(src, from)
	if !ok {
		s.cfg.Observer.Refused("unauthenticated-limit")
		return
	}
	s.track(nc, true)
	defer s.track(nc, false)
	now := time.Now()
	bc := newBatchConn(nc)
	wc := &watchedConn{Conn: bc, adm: s.admit, src: source, handshakeEnd: now.Add(s.cfg.HandshakeTimeout), idle: s.cfg.IdleTimeout}
	nc.SetReadDeadline(now.Add(s.cfg.BannerTimeout))
	nc.SetWriteDeadline(wc.handshakeEnd)
	defer s.tried.Delete(from)
	// The client's offer first: a client that can do AES-GCM gets it alone.
	read, offer, perr := prelude(wc, s.ssh.ServerVersion, s.ssh.Ciphers, wc.handshakeEnd)
	conf := s.ssh
	if len(offer) < len(s.ssh.Ciphers) {
		conf = s.sshGCM
	}
	rc := &replayConn{watchedConn: wc, read: read, err: perr, version: []byte(s.ssh.ServerVersion + "\r\n")}
	sconn, chans, reqs, err := ssh.NewServerConn(rc, conf)
	if wc.slot {
		s.admit.release(source)
	}
	s.admit.leave(src)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, errHandshakeQueue):
			s.cfg.Observer.Refused("handshake-queue")
			s.log.Warn("ssh handshake waited too long for a slot; closed", "from", from, "wait", s.cfg.HandshakeWait)
		case wc.phase.Load() == awaitBanner && errors.As(err, &ne) && ne.Timeout():
			s.log.Info("no SSH version line in time; closed", "from", from, "timeout", s.cfg.BannerTimeout)
		default:
			// x/crypto/ssh errors may quote the client (its algorithm lists).
			s.log.Info("ssh handshake failed", "from", from, "err", untrusted.Clip(err.Error(), 512))
		}
		if _, tried := s.tried.Load(from); tried {
			// Credentials were tried: the login gate scored each of them.
		} else if k, scored := handshakeFailure(err, wc.phase.Load()); scored {
			s.screen.Failed(context.Background(), "", addr, "sftp", k)
		}
		return
	}
	defer sconn.Close()
	// The read now blocked inside x/crypto/ssh started under the handshake
	// deadline: give it the idle deadline, or a silent client stays forever.
	nc.SetWriteDeadline(time.Time{})
	if s.cfg.IdleTimeout > 0 {
		nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	} else {
		nc.SetReadDeadline(time.Time{})
	}
	wc.phase.Store(serving)
	bc.start()
	s.cfg.Observer.Session("sftp", 1)
	defer s.cfg.Observer.Session("sftp", -1)
	acct, who := account(sconn.Permissions), s.attempt(sconn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.auth.LoggedIn(ctx, acct, who)
	started := time.Now()
	var why atomic.Value // why the session ended, if not the client's doing
	defer func() {
		reason, _ := why.Load().(string)
		s.auth.LoggedOut(context.WithoutCancel(ctx), acct, who, time.Since(started), reason)
	}()
	// One authorising session for the connection, bound to the account,
	// address and key it logged in with.
	sess := s.fs.Session(authfs.Principal{Login: acct.Login, Protocol: authz.SFTP, Bind: acct.Binding(who)})
	go s.watch(ctx, sess, sconn, &why)
	// Listed for administrators, who may end it (the REST API's /sessions).
	_, listed := s.sessions.Add(sessions.Session{Login: acct.Login, Org: sess.Org(ctx), Protocol: string(authz.SFTP),
		From: who.From.String(), Started: started}, func(reason string) {
		s.log.Warn("session ended by an administrator", "user", acct.Login, "from", from, "reason", reason)
		why.Store(reason)
		sconn.Close()
	})
	defer listed()
	go ssh.DiscardRequests(reqs) // port forwarding and the like: refused
	// The sessions end when the connection does; wait for them, so that
	// Shutdown waits for them too.
	var sessions sync.WaitGroup
	defer sessions.Wait()
	var open atomic.Int32
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		if int(open.Load()) >= s.cfg.MaxSessions {
			nch.Reject(ssh.ResourceShortage, "too many sessions on this connection")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		open.Add(1)
		sessions.Go(func() {
			defer open.Add(-1)
			s.session(ctx, sess, ch, creqs)
		})
	}
}

// handshakeFailure classifies a handshake that ended without a login and
// without trying a credential, for the defender: one that ended early or
// authenticated with "none" alone is NoAuth, a broken protocol Malformed.
func handshakeFailure(err error, phase int32) (defender.Kind, bool) {
	var ae *ssh.ServerAuthError
	var ne net.Error
	switch {
	case errors.Is(err, errHandshakeQueue):
		return "", false // our queue, not the client's doing
	case errors.As(err, &ae):
		return defender.NoAuth, true
	case errors.As(err, &ne) && ne.Timeout(), isEOF(err), errors.Is(err, syscall.ECONNRESET):
		return defender.NoAuth, true
	case phase == awaitBanner:
		return defender.Malformed, true // not an SSH version line
	}
	return defender.Malformed, true
}

// watch closes the connection once its account may no longer work: a
// suspension, a deletion, an expiry, a removed key or a network
// restriction ends the session's transfers too, within Revalidate.
func (s *Server) watch(ctx context.Context, sess *authfs.Session, conn *ssh.ServerConn, why *atomic.Value) {
	if s.cfg.Revalidate <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.Revalidate)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := sess.Alive(ctx)
		switch {
		case err == nil:
		case errors.Is(err, authfs.ErrRevoked):
			s.log.Warn("session ended: access revoked", "user", sess.Login(), "from", conn.RemoteAddr().String(), "reason", err)
			why.Store(err.Error())
			conn.Close()
			return
		case ctx.Err() == nil:
			s.log.Warn("session check failed", "user", sess.Login(), "err", err)
		}
	}
}

// session serves one channel: the sftp subsystem, or an exec request or
// shell answered by exec (the hash commands, else an explanation); pty,
// env, other subsystems and the rest are refused.
func (s *Server) session(ctx context.Context, sess *authfs.Session, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	served := make(chan struct{})
	started := false
	for req := range reqs {
		var sub struct{ Name string }
		var run struct{ Command string }
		switch {
		case started:
		case req.Type == "subsystem" && ssh.Unmarshal(req.Payload, &sub) == nil && sub.Name == "sftp":
			started = true
			req.Reply(true, nil)
			go func() {
				defer close(served)
				s.serveSFTP(ctx, sess, ch)
			}()
			continue
		case req.Type == "exec" && ssh.Unmarshal(req.Payload, &run) == nil, req.Type == "shell":
			started = true
			req.Reply(true, nil)
			go func() {
				defer close(served)
				status := s.exec(ctx, sess, ch, run.Command)
				ch.CloseWrite()
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
				ch.Close()
			}()
			continue
		}
		if req.WantReply {
			req.Reply(false, nil)
		}
	}
	if started {
		<-served
	}
}

func (s *Server) serveSFTP(ctx context.Context, sess *authfs.Session, ch ssh.Channel) {
	login := sess.Login()
	h := &handlers{s: sess, log: s.log.With("user", login), window: s.cfg.ReorderWindow, strict: s.cfg.StrictSetstat,
		maxOpen: s.cfg.MaxHandles, handles: &s.handles, memory: s.cfg.Memory, obs: s.cfg.Observer, uploads: map[vpath.Path]*fileWriter{}}
	// The allocator reuses each request's packet buffer once its response
	// is sent: without it every 32 KiB READ reply and WRITE request was a
	// fresh large allocation, a fifth of a download's CPU in allocation and
	// GC. Handlers never keep a packet's bytes past their return (the
	// reorder writer writes them before WriteAt returns).
	rs := sftp.NewRequestServer(ch, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h}, sftp.WithRSAllocator())
	err := rs.Serve()
	if err != nil && ctx.Err() == nil && !isEOF(err) {
		s.log.Info("sftp session ended", "user", login, "err", err)
	}
	// OpenSSH's scp (which speaks SFTP) exits 1 without an exit status;
	// send it before rs.Close closes the channel.
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
	rs.Close()
}
