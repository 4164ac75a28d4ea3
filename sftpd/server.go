// Package sftpd is pier's SFTP front end: an SSH server (golang.org/x/crypto/ssh)
// with explicit modern algorithms, limits on handshakes, sessions and idle
// connections, serving only the sftp subsystem through pkg/sftp's request
// server. Every request goes through the authorising file system (authfs);
// errors become SFTP status codes here and nowhere else.
package sftpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/auth"
	"pier/authfs"
	"pier/authz"
)

// Config holds the SSH server's settings.
type Config struct {
	HostKeyDir         string
	HandshakeTimeout   time.Duration // whole key exchange and authentication
	IdleTimeout        time.Duration // no packet from the client for this long
	MaxAuthTries       int
	MaxUnauthenticated int   // connections still in the handshake
	MaxSessions        int   // channels per connection
	ReorderWindow      int   // bytes an upload may hold out of order
	ReorderBudget      int64 // bytes all uploads together may hold out of order
	// StrictSetstat refuses setstat of permissions and owners (pier keeps
	// neither) instead of answering success, for clients that must know.
	StrictSetstat bool
	// ChaCha20 offers chacha20-poly1305 (last). Go's implementation is
	// about 4x slower than AES-GCM, and OpenSSH prefers it if offered.
	ChaCha20 bool
	// CompatMACs also offers hmac-sha2-256 and hmac-sha2-512 in
	// encrypt-and-MAC mode, after the ETM ones, for clients on libssh2
	// before 1.11 (curl and PHP on Debian 12) that know no ETM MAC.
	CompatMACs bool
	// Revalidate is how often a connection checks that its account may
	// still work (not suspended, deleted, expired; key and networks
	// unchanged); a connection that may not is closed, transfers and all.
	Revalidate time.Duration
}

// DefaultConfig returns safe defaults.
func DefaultConfig(hostKeyDir string) Config {
	return Config{HostKeyDir: hostKeyDir, HandshakeTimeout: 30 * time.Second, IdleTimeout: 15 * time.Minute,
		MaxAuthTries: 4, MaxUnauthenticated: 64, MaxSessions: 4, ReorderWindow: 4 << 20, ReorderBudget: 256 << 20,
		Revalidate: 2 * time.Second}
}

// Algorithms pier offers, strongest and fastest first; nothing with SHA-1.
var (
	KeyExchanges = []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519, "curve25519-sha256@libssh.org",
		ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384}
	Ciphers        = []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM, ssh.CipherAES128CTR, ssh.CipherAES256CTR}
	MACs           = []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM}
	PublicKeyAlgos = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384,
		ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
)

// Server is the SFTP server.
type Server struct {
	cfg  Config
	auth *auth.Service
	fs   *authfs.FS
	log  *slog.Logger
	ssh  *ssh.ServerConfig
	keys []ssh.Signer

	unauth chan struct{}
	budget *budget
	mu     sync.Mutex
	ln     net.Listener
	conns  map[*ssh.ServerConn]struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
}

// The identity a login proved travels in ssh.Permissions.Extensions,
// never in state kept by the callbacks (CVE-2024-45337).
const loginExt, keyExt, userExt = "pier-login", "pier-key", "pier-user"

var errDenied = errors.New("permission denied")

// New prepares a server; host keys are loaded or generated now.
func New(cfg Config, a *auth.Service, afs *authfs.FS, log *slog.Logger) (*Server, error) {
	keys, err := LoadHostKeys(cfg.HostKeyDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, auth: a, fs: afs, log: log, keys: keys,
		unauth: make(chan struct{}, cfg.MaxUnauthenticated), conns: map[*ssh.ServerConn]struct{}{}}
	if cfg.ReorderBudget > 0 {
		s.budget = &budget{left: cfg.ReorderBudget}
	}
	ciphers := Ciphers
	if cfg.ChaCha20 {
		ciphers = append(append([]string{}, Ciphers...), ssh.CipherChaCha20Poly1305)
	}
	macs := MACs
	if cfg.CompatMACs {
		macs = append(append([]string{}, MACs...), ssh.HMACSHA256, ssh.HMACSHA512)
	}
	s.ssh = &ssh.ServerConfig{
		Config:                  ssh.Config{KeyExchanges: KeyExchanges, Ciphers: ciphers, MACs: macs},
		PublicKeyAuthAlgorithms: PublicKeyAlgos,
		MaxAuthTries:            cfg.MaxAuthTries,
		ServerVersion:           "SSH-2.0-pier",
		PasswordCallback:        s.password,
		PublicKeyCallback:       s.publicKey,
	}
	for _, k := range keys {
		s.ssh.AddHostKey(k)
	}
	return s, nil
}

// Fingerprints lists the host keys' SHA-256 fingerprints, to print at start.
func (s *Server) Fingerprints() []string {
	var out []string
	for _, k := range s.keys {
		out = append(out, k.PublicKey().Type()+" "+ssh.FingerprintSHA256(k.PublicKey()))
	}
	return out
}

func attempt(c ssh.ConnMetadata) auth.Attempt {
	a := auth.Attempt{Login: c.User(), Protocol: authz.SFTP}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		a.From = ap.Addr()
	}
	return a
}

func (s *Server) password(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
	defer cancel()
	acct, ok, err := s.auth.Password(ctx, attempt(c), string(pw))
	return s.permit(acct, ok, err)
}

// publicKey may be called for keys the client only offers: it keeps no
// state, and the identity travels in the Permissions that x/crypto/ssh
// returns only for the key that was proven (CVE-2024-45337).
func (s *Server) publicKey(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
	defer cancel()
	fp := ssh.FingerprintSHA256(key)
	acct, ok, err := s.auth.PublicKey(ctx, attempt(c), fp)
	return s.permit(acct, ok, err)
}

func (s *Server) permit(acct auth.Account, ok bool, err error) (*ssh.Permissions, error) {
	if err != nil {
		s.log.Error("authentication failed", "err", err)
		return nil, errDenied
	}
	if !ok {
		return nil, errDenied
	}
	return &ssh.Permissions{Extensions: map[string]string{loginExt: acct.Login, keyExt: acct.Key,
		userExt: strconv.FormatInt(acct.UserID, 10)}}, nil
}

// account reads back what permit stored for an authenticated connection.
func account(p *ssh.Permissions) auth.Account {
	id, _ := strconv.ParseInt(p.Extensions[userExt], 10, 64)
	return auth.Account{Login: p.Extensions[loginExt], UserID: id, Key: p.Extensions[keyExt]}
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("sftp: accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(nc)
		}()
	}
}

// Shutdown stops accepting, lets sessions finish until ctx ends, then
// closes what remains; uploads still open are discarded, never published.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closed.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return nil
}
