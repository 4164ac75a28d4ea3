package sftpd

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/authz"
	"pier/internal/untrusted"
	"pier/vpath"
)

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// idleConn closes connections that stay silent: each read pushes the
// deadline back, once the handshake (which has its own deadline) is over.
type idleConn struct {
	net.Conn
	idle  time.Duration
	armed atomic.Bool
}

func (c *idleConn) Read(b []byte) (int, error) {
	if c.armed.Load() && c.idle > 0 {
		c.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Read(b)
}

func (s *Server) handle(nc net.Conn) {
	defer nc.Close()
	select {
	case s.unauth <- struct{}{}:
	default:
		s.log.Warn("too many connections in the handshake; refused", "from", nc.RemoteAddr().String())
		return
	}
	ic := &idleConn{Conn: nc, idle: s.cfg.IdleTimeout}
	nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(ic, s.ssh)
	<-s.unauth
	if err != nil {
		// x/crypto/ssh errors may quote the client (its algorithm lists).
		s.log.Info("ssh handshake failed", "from", nc.RemoteAddr().String(), "err", untrusted.Clip(err.Error(), 512))
		return
	}
	// The read now blocked inside x/crypto/ssh started under the handshake
	// deadline: give it the idle deadline, or a silent client stays forever.
	nc.SetWriteDeadline(time.Time{})
	if s.cfg.IdleTimeout > 0 {
		nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	} else {
		nc.SetReadDeadline(time.Time{})
	}
	ic.armed.Store(true)
	s.mu.Lock()
	s.conns[sconn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sconn)
		s.mu.Unlock()
		sconn.Close()
	}()
	login, fp := sconn.Permissions.Extensions[loginExt], sconn.Permissions.Extensions[keyExt]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.auth.LoggedIn(ctx, login, attempt(sconn), fp)
	go ssh.DiscardRequests(reqs) // port forwarding and the like: refused
	var sessions atomic.Int32
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		if int(sessions.Load()) >= s.cfg.MaxSessions {
			nch.Reject(ssh.ResourceShortage, "too many sessions on this connection")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Add(-1)
			s.session(ctx, login, ch, creqs)
		}()
	}
}

// session serves one channel: only the sftp subsystem; exec, shell and
// the rest are refused.
func (s *Server) session(ctx context.Context, login string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	served := make(chan struct{})
	started := false
	for req := range reqs {
		var sub struct{ Name string }
		if req.Type == "subsystem" && !started && ssh.Unmarshal(req.Payload, &sub) == nil && sub.Name == "sftp" {
			started = true
			req.Reply(true, nil)
			go func() {
				defer close(served)
				s.serveSFTP(ctx, login, ch)
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

func (s *Server) serveSFTP(ctx context.Context, login string, ch ssh.Channel) {
	h := &handlers{s: s.fs.Session(login, authz.SFTP), log: s.log.With("user", login), window: s.cfg.ReorderWindow, budget: s.budget, strict: s.cfg.StrictSetstat,
		uploads: map[vpath.Path]*fileWriter{}}
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
