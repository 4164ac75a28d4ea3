// Package node runs one pier node: it opens the catalog database and the
// blob storage named by the configuration, serves the admin/health
// endpoint, collects garbage periodically and shuts down cleanly. Front ends
// (SFTP, WebDAV) are started here as they arrive.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/admin"
	"pier/api"
	"pier/audit"
	"pier/auth"
	"pier/authfs"
	"pier/config"
	"pier/credential"
	"pier/davd"
	"pier/db"
	"pier/defender"
	"pier/directory"
	"pier/identity"
	"pier/lifecycle"
	"pier/locks"
	"pier/membudget"
	"pier/metrics"
	"pier/mfa"
	"pier/secevent"
	"pier/sessions"
	"pier/sftpd"
	"pier/storage"
	"pier/storage/diskblob"
	"pier/storage/s3blob"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

// Node is an opened pier: database, storage and the file store over them.
type Node struct {
	Config config.Config
	DB     *db.DB
	Blobs  storage.BlobStore
	FS     *storage.FS
	IDs    *identity.Store
	Hasher *credential.Hasher
	Auth   *auth.Service
	Access *authfs.FS
	Locks  *locks.Store
	Audit  *audit.Log
	Admin  *admin.Service
	API    *api.Server
	// Sessions are this node's live sessions, for the admin API; Shared
	// shows them to the other nodes, and theirs to this one.
	Sessions *sessions.Registry
	Shared   *sessions.Shared
	// Directory syncs users from LDAP; nil without a directory.
	Directory *directory.Syncer
	Log       *slog.Logger
	// Defender guards the login surfaces; Events receives security events.
	Defender  *defender.Defender
	Events    secevent.Sink
	Lifecycle *lifecycle.Job
	// MFA seals TOTP secrets; nil when this node has no MFA key file.
	MFA *mfa.Sealer
	// BlobsWhere describes the blob storage without secrets.
	BlobsWhere string
	// Memory bounds the buffers of all transfers together.
	Memory *membudget.Budget
	// Metrics counts what the node does, for /metrics.
	Metrics *metrics.Metrics

	gcLimit *gcLimit // set while serving without GOMEMLIMIT
}

// gcLimit keeps a soft Go memory limit (debug.SetMemoryLimit) while the
// node serves without GOMEMLIMIT. Without one, the garbage of a burst
// (every SSH packet is a fresh allocation) lets the heap grow to twice
// what is live before the GC runs. The limit is 1.75 times the transfer
// budget (the process's code and runtime take some 30 MiB of RSS beside
// the heap: with the 128 MiB default, RSS stays under 256 MiB), or the
// budget and sessionAllowance for each session open, if more: a stalled upload session holds about 3 MiB the budget does not
// count (x/crypto/ssh's 2 MiB channel window, pkg/sftp's queued packets),
// and a limit below what is live would keep the GC running. Most of the
// heap is buffers without pointers, cheap for the GC to pass over.
type gcLimit struct {
	*metrics.Metrics
	budget   int64
	sessions atomic.Int64
}

const sessionAllowance = 3 << 20

func (g *gcLimit) set() {
	debug.SetMemoryLimit(max(g.budget*7/4, g.budget+sessionAllowance*g.sessions.Load()))
}

// Session counts sessions for the limit, and for the metrics.
func (g *gcLimit) Session(protocol string, delta int) {
	g.Metrics.Session(protocol, delta)
	g.sessions.Add(int64(delta))
	g.set()
}

// observer is what the front ends report to.
func (n *Node) observer() interface {
	Transfer(protocol, direction string, bytes int64, d time.Duration, ok bool)
	Session(protocol string, delta int)
	AuthFailed(protocol string)
	Refused(reason string)
} {
	if n.gcLimit != nil {
		return n.gcLimit
	}
	return n.Metrics
}

// admitWait is how long a new transfer waits for memory before it is
// refused as "server busy".
const admitWait = 5 * time.Second

// Open validates cfg and opens its storage and database, checking that
// both answer. Storage is opened first: a wrong S3 endpoint then fails
// before a database file is created.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	limit := int64(cfg.TransferMemory)
	if limit == 0 {
		limit = membudget.DefaultLimit()
	}

	memory := membudget.New(membudget.Config{Limit: limit, AdmitWait: admitWait})
	m := metrics.New()
	m.WatchMemory(memory)
	blobs, where, err := OpenBlobs(ctx, cfg.StorageURL(), BlobOptions{Memory: memory, Observe: m.StorageRequest})
	if err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, cfg.DBURL())
	if err != nil {
		return nil, err
	}
	d.OnRetry = m.TxRetry
	hasher, err := credential.NewHasher(credential.DefaultParams(), 0)
	if err != nil {
		d.Close()
		return nil, err
	}
	n := &Node{
		Config: cfg, DB: d, Blobs: blobs, BlobsWhere: where, Log: log, Memory: memory, Metrics: m,
		FS: storage.New(sqlcatalog.New(d), blobs), IDs: identity.New(d), Hasher: hasher,
	}
	n.Events = secevent.Log{L: log}
	if n.Defender, err = defender.New(cfg.Defender, d, n.Events, log); err != nil {
		d.Close()
		return nil, err
	}
	keys, err := audit.LoadKeys(filepath.Join(cfg.DataDir, "audit"), cfg.AuditKey)
	if err != nil {
		d.Close()
		return nil, err
	}
	n.Audit = audit.New(d, keys, nil, log)
	opts, err := n.authOptions()
	if err != nil {
		d.Close()
		return nil, err
	}
	n.Auth = auth.New(n.IDs, hasher, log, opts...).WithAudit(n.Audit)
	n.Lifecycle = lifecycle.New(d, n.IDs, cfg.Policy, n.Events, log)
	if cfg.Directory.Enabled() {
		n.Directory = directory.New(cfg.Directory, n.IDs, d, log)
		if cfg.Directory.Auth {
			n.Auth = n.Auth.WithPasswordChecker(directory.NewAuthenticator(cfg.Directory))
		}
	}
	n.Locks = locks.New(d)
	n.Access = authfs.New(authfs.DefaultConfig(), n.FS, n.IDs, n.Locks, log).WithAudit(n.Audit).WithBarrier(n.Defender)
	n.Sessions = sessions.New()
	n.Shared = sessions.NewShared(n.Sessions, d, log)
	n.Admin = admin.New(n.IDs, n.FS, n.Access, n.Audit, hasher).WithSessions(n.Sessions, n.Shared).WithDefender(n.Defender)
	if n.Directory != nil {
		n.Admin = n.Admin.WithDirectory(n.Directory)
	}
	n.API = api.New(api.DefaultConfig(), n.Admin, n.IDs, n.Auth, n.Audit, log).WithDefender(n.Defender).WithMFA(n.MFA)
	return n, nil
}

// authOptions gathers the login gate's settings: the defender, the MFA
// key (when its file exists: a node without it refuses TOTP codes, and
// says so), the default policy and the SSH user CAs.
func (n *Node) authOptions() ([]auth.Option, error) {
	opts := []auth.Option{auth.WithGuard(n.Defender), auth.WithEvents(n.Events)}
	sealer, err := mfa.LoadKey(n.Config.MFAKeyFile(), false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--mfa-key: %w", err)
	}
	n.MFA = sealer
	opts = append(opts, auth.WithMFA(sealer, n.Config.Policy))
	if f := n.Config.SSHUserCA; f != "" {
		cas, err := readCAs(f)
		if err != nil {
			return nil, fmt.Errorf("--ssh-user-ca: %w", err)
		}
		opts = append(opts, auth.WithUserCAs(cas))
	}
	return opts, nil
}

// readCAs reads SSH CA public keys, one per line (authorized_keys form;
// blank lines and # comments skipped).
func readCAs(path string) ([]ssh.PublicKey, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's --ssh-user-ca path
	if err != nil {
		return nil, err
	}
	var out []ssh.PublicKey
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		if _, isCert := k.(*ssh.Certificate); isCert {
			return nil, fmt.Errorf("%s line %d: a certificate, not a CA key", path, i+1)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no CA key in it", path)
	}
	return out, nil
}

// BlobOptions tie a blob store to its node.
type BlobOptions struct {
	Memory  *membudget.Budget // buffers come from it (nil: a budget of the store's own)
	Observe func(op string, d time.Duration, failed bool)
}

// OpenBlobs opens the blob store a storage URL names.
func OpenBlobs(ctx context.Context, raw string, opts BlobOptions) (storage.BlobStore, string, error) {
	switch {
	case strings.HasPrefix(raw, "s3://"):
		c, err := s3blob.ParseURL(raw, os.Getenv)
		if err != nil {
			return nil, "", fmt.Errorf("--storage: %w", err)
		}
		c.Budget, c.Observe = opts.Memory, opts.Observe
		s, err := s3blob.Open(ctx, c)
		if err != nil {
			return nil, "", fmt.Errorf("storage: %w", err)
		}
		return s, c.URL(), nil
	case strings.HasPrefix(raw, "file:"):
		dir := strings.TrimPrefix(raw, "file:")
		s, err := diskblob.Open(dir)
		if err != nil {
			return nil, "", fmt.Errorf("storage: %w", err)
		}
		return s, "disk:" + dir, nil
	}
	return nil, "", fmt.Errorf("--storage: unknown kind of storage URL (want s3:// or file:)")
}

var rootPath = vpath.Root()

// Close releases the database.
func (n *Node) Close() error { return n.DB.Close() }

// httpServer is a running HTTP front end and its name for the log.
type httpServer struct {
	name string
	srv  *http.Server
}

// Serve runs the node until ctx is canceled, then stops accepting and
// gives in-flight work Config.ShutdownGrace to finish. Connections still
// open when the grace ends are closed, so that nothing outlives Serve.
func (n *Node) Serve(ctx context.Context) error {
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		n.gcLimit = &gcLimit{Metrics: n.Metrics, budget: n.Memory.Limit()}
		n.gcLimit.set()
	}
	n.Log.Info("pier is serving", "catalog", n.DB.Where, "blobs", n.BlobsWhere, "schema", db.SchemaVersion(),
		"transfer_memory_mib", n.Memory.Limit()>>20)
	var servers []httpServer
	if addr := n.Config.AdminAddr; addr != "" && addr != "off" {
		srv, err := n.listenAdmin(addr)
		if err != nil {
			return err
		}
		servers = append(servers, httpServer{"admin", srv})
	}
	var sftpSrvs []*sftpd.Server
	for _, l := range []struct {
		flag, addr string
		compat     bool
	}{{"--sftp-addr", n.Config.SFTPAddr, false}, {"--sftp-compat-addr", n.Config.SFTPCompatAddr, true}} {
		if l.addr == "" || l.addr == "off" {
			continue
		}
		srv, err := n.listenSFTP(l.flag, l.addr, l.compat)
		if err != nil {
			for _, s := range sftpSrvs {
				s.Shutdown(ctx)
			}
			return err
		}
		sftpSrvs = append(sftpSrvs, srv)
	}
	if addr := n.Config.DAVAddr; addr != "" && addr != "off" {
		srv, err := n.listenDAV(addr)
		if err != nil {
			return err
		}
		servers = append(servers, httpServer{"webdav", srv})
	}
	gcDone := make(chan struct{})
	go func() { defer close(gcDone); n.gcLoop(ctx) }()
	jobsDone := make(chan struct{})
	go func() { defer close(jobsDone); n.securityLoop(ctx) }()
	sharedDone := make(chan struct{})
	go func() { defer close(sharedDone); n.Shared.Run(ctx) }()
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		if d := n.Config.Directory; n.Directory != nil {
			n.Log.Info("directory", "url", d.URL, "sync_interval", d.Interval, "password_check", d.Auth)
			n.Directory.Run(audit.WithActor(ctx, directory.Actor))
		}
	}()
	// The audit sequencer stops after the front ends, so that what they
	// record while shutting down still reaches the log.
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	auditDone := make(chan struct{})
	go func() {
		defer close(auditDone)
		l := n.Audit
		if n.Config.AuditStdout {
			l = l.WithOutput(os.Stdout)
		}
		run := audit.DefaultRun
		run.Retention = n.Config.AuditRetention
		l.Run(auditCtx, run)
	}()
	n.Log.Info("audit log", "public_key", n.Audit.PublicKey())

	<-ctx.Done()
	n.Log.Info("shutting down", "grace", n.Config.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), n.Config.ShutdownGrace)
	defer cancel()
	var errs []error
	for _, s := range sftpSrvs {
		errs = append(errs, s.Shutdown(sctx))
	}
	for _, s := range servers {
		if err := s.srv.Shutdown(sctx); err != nil {
			// Shutdown leaves connections open when its context ends: cut
			// them, as the SFTP server does, rather than let requests run
			// on after the node has stopped.
			n.Log.Warn("shutdown grace ended: closing open connections", "server", s.name, "err", err)
			if err := s.srv.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s server: %w", s.name, err))
			}
		}
	}
	<-gcDone
	<-jobsDone
	<-sharedDone
	<-syncDone
	stopAudit()
	<-auditDone
	return errors.Join(errs...)
}

// listenSFTP starts an SFTP listener: the main one, or with compat the
// compatibility listener (older algorithms, for accounts marked for it).
// Both share the host keys.
func (n *Node) listenSFTP(flag, addr string, compat bool) (*sftpd.Server, error) {
	cfg := sftpd.DefaultConfig(filepath.Join(n.Config.DataDir, "hostkeys"))
	cfg.ChaCha20, cfg.CompatMACs, cfg.StrictSetstat = n.Config.SFTPChaCha20, n.Config.SFTPCompatMACs, n.Config.SFTPStrictSetstat
	cfg.MaxUnauthenticatedPerSource = n.Config.SFTPUnauthPerSource
	cfg.Compat = compat
	cfg.Memory, cfg.Observer = n.Memory, n.observer()
	name := "sftp"
	if compat {
		name = "sftp-compat"
	}
	log := n.Log.With("listener", name)
	srv, err := sftpd.New(cfg, n.Auth, n.Access, log, sftpd.WithDefender(n.Defender))
	if err != nil {
		return nil, err
	}
	srv.WithSessions(n.Sessions)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil {
			log.Error("sftp server stopped", "err", err)
		}
	}()
	log.Info(name+" listening", "addr", ln.Addr().String(), "host_keys", strings.Join(srv.Fingerprints(), ", "))
	return srv, nil
}

func (n *Node) listenDAV(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--dav-addr: %w", err)
	}
	dcfg := davd.DefaultConfig()
	dcfg.Memory, dcfg.Observer = n.Memory, n.observer()
	dav := davd.New(dcfg, n.Auth, n.Access, n.Log, davd.WithDefender(n.Defender)).WithSessions(n.Sessions)
	srv := &http.Server{Handler: dav, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: serverLog(n.Log, "webdav")}
	scheme := "https"
	if n.Config.DAVInsecure {
		scheme = "http"
		n.Log.Warn("WebDAV over plain HTTP: passwords travel in clear; use only for development", "addr", ln.Addr().String())
	} else {
		certFile, keyFile, made := n.Config.TLSCert, n.Config.TLSKey, false
		if certFile == "" {
			// Self-signed, naming every address listened on and the
			// public names, so that clients checking names accept it.
			certFile, keyFile, made, err = davd.SelfSigned(filepath.Join(n.Config.DataDir, "tls"),
				davd.ListenNames(ln.Addr().String(), n.Config.PublicNames))
			if err != nil {
				ln.Close()
				return nil, err
			}
		}
		tc, fp, err := davd.TLSConfig(certFile, keyFile, "")
		if err != nil {
			ln.Close()
			return nil, err
		}
		srv.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
		n.Log.Info("webdav TLS certificate", "sha256", fp, "file", certFile, "new", made)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Log.Error("webdav server stopped", "err", err)
		}
	}()
	n.Log.Info("webdav listening", "url", scheme+"://"+ln.Addr().String()+"/dav/")
	return srv, nil
}

func (n *Node) listenAdmin(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", n.ready)
	mux.Handle(api.Prefix+"/", n.API)
	mux.Handle("GET /metrics", n.Metrics.Handler())
	if n.Config.AdminPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// Reading allows an 8 MiB user import over a slow line; writing, an
	// import of thousands of rows or an audit search over a long trail.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10, ErrorLog: serverLog(n.Log, "admin")}
	if n.Config.AdminPprof {
		srv.WriteTimeout = 0 // a CPU profile takes as long as asked
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Log.Error("admin server stopped", "err", err)
		}
	}()
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
		n.Log.Warn("the admin listener is reachable from other machines over plain HTTP: API tokens and passwords cross the network in clear; keep --admin-addr on 127.0.0.1 or put a TLS proxy in front",
			"addr", ln.Addr().String())
	}
	n.Log.Info("admin endpoint", "url", "http://"+ln.Addr().String()+"/readyz", "api", "http://"+ln.Addr().String()+api.Prefix+"/")
	return srv, nil
}

// serverLog sends net/http's own messages (TLS handshakes that failed,
// malformed requests: the client's doing) to the node's log at debug
// level, instead of standard error.
func serverLog(l *slog.Logger, name string) *log.Logger {
	return slog.NewLogLogger(l.With("listener", name).Handler(), slog.LevelDebug)
}

// ready answers 200 when the catalog database and the blob storage both
// answer within Config.ReadyTimeout, else 503 with a short reason. The
// details (hosts, paths, driver errors) go to the log only: the admin
// endpoint may be reachable by more people than the log.
func (n *Node) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), n.Config.ReadyTimeout)
	defer cancel()
	start := time.Now()
	if reason, err := n.check(ctx); err != nil {
		n.Log.Warn("not ready", "reason", reason, "err", err, "took", time.Since(start).Round(time.Millisecond))
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// check asks the database, the catalog and the blob storage. The blob
// store is asked alongside, so that a slow database does not use up its
// time; a database failure is reported first.
func (n *Node) check(ctx context.Context) (reason string, err error) {
	blobs := make(chan error, 1)
	go func() { blobs <- n.Blobs.Ping(ctx) }()
	if err := n.DB.PingContext(ctx); err != nil {
		return "database unavailable", err
	}
	if _, err := n.FS.Stat(ctx, rootPath); err != nil {
		return "catalog unavailable", err
	}
	if err := <-blobs; err != nil {
		return "blob storage unavailable", err
	}
	return "", nil
}

func (n *Node) gcLoop(ctx context.Context) {
	if n.Config.GCInterval <= 0 {
		return
	}
	t := time.NewTicker(n.Config.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := n.FS.GC(ctx, n.Config.GC)
			if err != nil && ctx.Err() == nil {
				n.Log.Error("gc", "err", err)
			} else if st != (storage.GCStats{}) {
				n.Log.Info("gc", "abandoned_uploads", st.AbandonedUploads, "released", st.Released, "unknown", st.Unknown)
			}
		}
	}
}

// securityLoop runs the lifecycle job (one node at a time) and prunes the
// defender's old failures and bans.
func (n *Node) securityLoop(ctx context.Context) {
	done := make(chan struct{})
	go func() { defer close(done); n.Lifecycle.Run(ctx, n.Config.Lifecycle) }()
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
			if err := n.Defender.Prune(ctx); err != nil && ctx.Err() == nil {
				n.Log.Error("defender", "err", err)
			}
		}
	}
}
