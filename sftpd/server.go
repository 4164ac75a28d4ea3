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
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/auth"
	"pier/authfs"
	"pier/defender"
	"pier/membudget"
	"pier/sessions"
)

// Config holds the SSH server's settings.
type Config struct {
	HostKeyDir string

	// Admission of connections that have not authenticated yet. A
	// connection first has BannerTimeout to send its SSH version line
	// (an idle socket costs little, but must not stay), then waits up to
	// HandshakeWait for a slot for key exchange and authentication, all
	// within HandshakeTimeout of being accepted. A source is an IPv4
	// address or an IPv6 /64.
	BannerTimeout          time.Duration
	HandshakeTimeout       time.Duration
	HandshakeWait          time.Duration
	MaxHandshakes          int // slots: key exchanges and authentications at once
	MaxHandshakesPerSource int // slots one source may hold; its others wait
	// MaxUnauthenticated bounds connections not yet authenticated, idle
	// and waiting ones included; beyond it, and beyond
	// MaxUnauthenticatedPerSource from one source, a new connection is
	// closed at once.
	MaxUnauthenticated          int
	MaxUnauthenticatedPerSource int

	IdleTimeout   time.Duration // no packet from the client for this long
	MaxAuthTries  int
	MaxSessions   int // channels per connection
	MaxHandles    int // files and folders open at once in one SFTP session
	ReorderWindow int // how far ahead of the next byte a write may come
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
	// Compat makes this server the compatibility listener for older
	// integration platforms (Debian's JSch 0.1.54, libssh2 1.10): it also
	// offers compatMACs and compatKeyAlgos, and only accounts marked
	// for it (identity's SSHCompat, on the user or an organisation above
	// them) may log in — decided by auth and authz on every login and
	// request, not by the listener. Keep the main listener modern.
	Compat bool
	// Revalidate is how often a connection checks that its account may
	// still work (not suspended, deleted, expired; key and networks
	// unchanged); a connection that may not is closed, transfers and all.
	Revalidate time.Duration
	// Observer, if set, is told of transfers, sessions, refused logins
	// and connections (metrics).
	Observer Observer
	// Memory admits every upload and download (membudget.TransferShare);
	// beyond it a new one waits briefly, then fails with "server busy,
	// retry later". nil admits everything.
	Memory *membudget.Budget
}

// DefaultConfig returns safe defaults.
func DefaultConfig(hostKeyDir string) Config {
	return Config{HostKeyDir: hostKeyDir,
		BannerTimeout: 10 * time.Second, HandshakeTimeout: 30 * time.Second, HandshakeWait: 10 * time.Second,
		MaxHandshakes: 64, MaxHandshakesPerSource: 8, MaxUnauthenticated: 1024, MaxUnauthenticatedPerSource: 32,
		IdleTimeout: 15 * time.Minute, MaxAuthTries: 4, MaxSessions: 4, MaxHandles: 64,
		ReorderWindow: 4 << 20, Revalidate: 2 * time.Second}
}

// Validate reports settings that cannot work, naming the fields.
func (c *Config) Validate() error {
	var errs []error
	positive := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("sftpd: %s must be positive, not %d", name, v))
		}
	}
	positive("BannerTimeout", int64(c.BannerTimeout))
	positive("HandshakeTimeout", int64(c.HandshakeTimeout))
	positive("MaxHandshakes", int64(c.MaxHandshakes))
	positive("MaxHandshakesPerSource", int64(c.MaxHandshakesPerSource))
	positive("MaxUnauthenticated", int64(c.MaxUnauthenticated))
	positive("MaxUnauthenticatedPerSource", int64(c.MaxUnauthenticatedPerSource))
	positive("MaxAuthTries", int64(c.MaxAuthTries))
	positive("MaxSessions", int64(c.MaxSessions))
	positive("MaxHandles", int64(c.MaxHandles))
	positive("ReorderWindow", int64(c.ReorderWindow))
	if c.BannerTimeout > c.HandshakeTimeout {
		errs = append(errs, fmt.Errorf("sftpd: BannerTimeout %v exceeds HandshakeTimeout %v", c.BannerTimeout, c.HandshakeTimeout))
	}
	if c.HandshakeWait < 0 || c.IdleTimeout < 0 || c.Revalidate < 0 {
		errs = append(errs, errors.New("sftpd: HandshakeWait, IdleTimeout and Revalidate must not be negative"))
	}
	if c.MaxUnauthenticatedPerSource > c.MaxUnauthenticated {
		errs = append(errs, fmt.Errorf("sftpd: MaxUnauthenticatedPerSource %d exceeds MaxUnauthenticated %d", c.MaxUnauthenticatedPerSource, c.MaxUnauthenticated))
	}
	return errors.Join(errs...)
}

// Observer is what the server reports to (metrics.Metrics has it).
type Observer interface {
	// Transfer: an upload ("up") or download ("down") ended.
	Transfer(protocol, direction string, bytes int64, d time.Duration, ok bool)
	Session(protocol string, delta int) // a connection logged in (+1) or ended (-1)
	AuthFailed(protocol string)         // a login was refused
	Refused(reason string)              // a connection was closed by an admission limit
}

type nopObserver struct{}

func (nopObserver) Transfer(string, string, int64, time.Duration, bool) {}
func (nopObserver) Session(string, int)                                 {}
func (nopObserver) AuthFailed(string)                                   {}
func (nopObserver) Refused(string)                                      {}

// Algorithms pier offers, strongest and fastest first; nothing with SHA-1.
var (
	KeyExchanges = []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519, "curve25519-sha256@libssh.org",
		ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384}
	Ciphers        = []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM, ssh.CipherAES128CTR, ssh.CipherAES256CTR}
	MACs           = []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM}
	PublicKeyAlgos = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384,
		ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}

	// What the compatibility listener adds, measured against the clients
	// that need it: hmac-sha2-256 in encrypt-and-MAC mode (JSch 0.1.54 and
	// libssh2 1.10 know no ETM MAC; both know this one) and RSA signatures
	// with SHA-1 for user keys (JSch 0.1.54 signs only so). Both find a key exchange (ECDH P-256,
	// curve25519) and a cipher (aes-ctr) among the main listener's.
	compatMACs     = []string{ssh.HMACSHA256}
	compatKeyAlgos = []string{ssh.KeyAlgoRSA}
)

// Server is the SFTP server.
type Server struct {
	cfg  Config
	auth *auth.Service
	fs   *authfs.FS
	log  *slog.Logger
	ssh  *ssh.ServerConfig
	// sshGCM is ssh without aes-ctr, for clients that can do AES-GCM
	// (prelude.go).
	sshGCM *ssh.ServerConfig
	keys   []ssh.Signer

	screen  Screen
	admit   *admission
	handles atomic.Int64 // open SFTP handles of all sessions
	// sessions lists logged-in connections for administrators (nil: none).
	sessions *sessions.Registry

	// tried holds the remote address of connections in the handshake
	// that tried a credential (not just "none"), for scoring.
	tried sync.Map

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{} // in the handshake or serving
	wg     sync.WaitGroup
	closed atomic.Bool
	quit   chan struct{} // closed by Shutdown
}

var errDenied = errors.New("permission denied")

// WithSessions lists the server's sessions in r, where administrators
// can see and end them.
func (s *Server) WithSessions(r *sessions.Registry) *Server {
	s.sessions = r
	return s
}

// New prepares a server; host keys are loaded or generated now.
func New(cfg Config, a *auth.Service, afs *authfs.FS, log *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	keys, err := LoadHostKeys(cfg.HostKeyDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, auth: a, fs: afs, log: log, keys: keys, screen: (*defender.Defender)(nil),
		conns: map[net.Conn]struct{}{}, quit: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.admit = newAdmission(cfg, s.quit, log)
	ciphers := Ciphers
	if cfg.ChaCha20 {
		ciphers = append(append([]string{}, Ciphers...), ssh.CipherChaCha20Poly1305)
	}
	macs, keyAlgos := MACs, PublicKeyAlgos
	switch {
	case cfg.Compat:
		macs = append(append([]string{}, MACs...), compatMACs...)
		keyAlgos = append(append([]string{}, PublicKeyAlgos...), compatKeyAlgos...)
	case cfg.CompatMACs:
		macs = append(append([]string{}, MACs...), ssh.HMACSHA256, ssh.HMACSHA512)
	}
	s.ssh = &ssh.ServerConfig{
		Config:                      ssh.Config{KeyExchanges: KeyExchanges, Ciphers: ciphers, MACs: macs},
		PublicKeyAuthAlgorithms:     keyAlgos,
		MaxAuthTries:                cfg.MaxAuthTries,
		ServerVersion:               "SSH-2.0-pier",
		PasswordCallback:            s.password,
		KeyboardInteractiveCallback: s.keyboardInteractive,
		PublicKeyCallback:           s.publicKey,
		VerifiedPublicKeyCallback:   s.verifiedKey,
		AuthLogCallback: func(c ssh.ConnMetadata, method string, _ error) {
			if method != "none" {
				s.tried.Store(c.RemoteAddr().String(), true)
			}
		},
	}
	for _, k := range keys {
		s.ssh.AddHostKey(k)
	}
	gcm := *s.ssh
	gcm.Ciphers = aeadOnly(ciphers)
	s.sshGCM = &gcm
	return s, nil
}

// Option configures a Server.
type Option func(*Server)

// Screen is the defender as the SSH server uses it: asked for every
// connection, told of handshakes that never authenticated or broke the
// protocol (the login gate tells it of wrong credentials).
type Screen interface {
	Admit(ctx context.Context, a netip.Addr, protocol string) bool
	Failed(ctx context.Context, login string, a netip.Addr, protocol string, k defender.Kind)
}

var _ Screen = (*defender.Defender)(nil)

// WithDefender screens connections with d.
func WithDefender(d Screen) Option { return func(s *Server) { s.screen = d } }

// Fingerprints lists the host keys' SHA-256 fingerprints, to print at start.
func (s *Server) Fingerprints() []string {
	var out []string
	for _, k := range s.keys {
		out = append(out, k.PublicKey().Type()+" "+ssh.FingerprintSHA256(k.PublicKey()))
	}
	return out
}

// Serve accepts connections on ln until Shutdown. Accept errors other
// than a closed listener (out of file descriptors, say) pause accepting
// for a while instead of stopping the server.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	var pause time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("sftp: accept: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.log.Error("sftp: accept failed; pausing", "err", err, "pause", pause)
			select {
			case <-time.After(pause):
			case <-s.quit:
			}
			continue
		}
		pause = 0
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
	if !s.closed.Swap(true) {
		close(s.quit)
	}
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

// track adds a connection to those Shutdown closes, or removes it.
func (s *Server) track(nc net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[nc] = struct{}{}
	} else {
		delete(s.conns, nc)
	}
}

// Stats is a snapshot of what the server holds.
type Stats struct {
	Unauthenticated int   // connections not yet authenticated
	Handshakes      int   // of those, in a handshake slot
	Connections     int   // connections in the handshake or serving
	Handles         int64 // open SFTP files and folders, all sessions
}

// Stats reports what the server holds now.
func (s *Server) Stats() Stats {
	st := Stats{Handles: s.handles.Load()}
	st.Unauthenticated, st.Handshakes = s.admit.counts()
	s.mu.Lock()
	st.Connections = len(s.conns)
	s.mu.Unlock()
	return st
}
