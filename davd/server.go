// Package davd is pier's WebDAV front end: golang.org/x/net/webdav over the
// authorising file system, behind HTTP Basic authentication (cached
// briefly, keyed by a hash), request limits and the status mapping that
// x/net/webdav lacks. It holds no permission logic: it maps each method to
// file-system calls that authfs decides on.
package davd

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"pier/auth"
	"pier/authfs"
	"pier/authz"
	"pier/defender"
	"pier/internal/untrusted"
	"pier/membudget"
	"pier/sessions"
	"pier/storage"
	"pier/vpath"
)

// Config holds the WebDAV settings.
type Config struct {
	Prefix       string        // URL prefix, e.g. "/dav/"
	MaxXMLBody   int64         // PROPFIND, PROPPATCH and LOCK bodies
	AuthCacheTTL time.Duration // how long verified credentials skip the hash
	// BodyWindow and BodyMinBytes bound slow uploads: a request body must
	// bring at least BodyMinBytes every BodyWindow, or the upload is cut
	// (a trickle must not hold an upload slot for ever).
	BodyWindow   time.Duration
	BodyMinBytes int64
	// Revalidate is how often a long transfer checks that its account may
	// still work; a revoked one is cut.
	Revalidate time.Duration
	// Observer, if set, is told of transfers, requests and refused
	// logins (metrics).
	Observer Observer
	// Memory admits every PUT and GET (membudget.TransferShare); beyond
	// it a request waits briefly, then is answered 503 with Retry-After.
	// nil admits everything.
	Memory *membudget.Budget
}

// Observer is what the server reports to (metrics.Metrics has it).
type Observer interface {
	// Transfer: a PUT ("up") or GET ("down") ended.
	Transfer(protocol, direction string, bytes int64, d time.Duration, ok bool)
	Session(protocol string, delta int) // a request began (+1) or ended (-1)
	AuthFailed(protocol string)         // credentials were refused
}

type nopObserver struct{}

func (nopObserver) Transfer(string, string, int64, time.Duration, bool) {}
func (nopObserver) Session(string, int)                                 {}
func (nopObserver) AuthFailed(string)                                   {}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Prefix: "/dav/", MaxXMLBody: 1 << 20, AuthCacheTTL: time.Minute,
		BodyWindow: 30 * time.Second, BodyMinBytes: 32 << 10, Revalidate: 2 * time.Second}
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case !strings.HasPrefix(c.Prefix, "/"):
		return errors.New("davd: the prefix must start with /")
	case c.MaxXMLBody <= 0, c.BodyWindow <= 0, c.BodyMinBytes < 0, c.AuthCacheTTL < 0, c.Revalidate < 0:
		return errors.New("davd: limits must be positive")
	}
	return nil
}

// Server is the WebDAV handler.
type Server struct {
	cfg    Config
	auth   *auth.Service
	access *authfs.FS
	log    *slog.Logger
	key    [32]byte // keys the credential cache; new in every process

	screen Screen

	mu    sync.Mutex
	cache map[[32]byte]cachedLogin

	sessions *sessions.Registry // transfers listed for administrators (nil: none)
}

// errEnded: an administrator ended the transfer.
var errEnded = errors.New("ended by an administrator")

// WithSessions lists the server's transfers in r, where administrators
// can see and end them.
func (s *Server) WithSessions(r *sessions.Registry) *Server {
	s.sessions = r
	return s
}

// Screen is the defender as the WebDAV server uses it: asked for every
// request, told of garbled credentials (the login gate tells it of wrong
// ones).
type Screen interface {
	Admit(ctx context.Context, a netip.Addr, protocol string) bool
	Failed(ctx context.Context, login string, a netip.Addr, protocol string, k defender.Kind)
}

var _ Screen = (*defender.Defender)(nil)

// Option configures a Server.
type Option func(*Server)

// WithDefender screens requests with d.
func WithDefender(d Screen) Option { return func(s *Server) { s.screen = d } }

type cachedLogin struct {
	acct    auth.Account
	expires time.Time
}

// New returns the handler.
func New(cfg Config, a *auth.Service, access *authfs.FS, log *slog.Logger, opts ...Option) *Server {
	if !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	s := &Server{cfg: cfg, auth: a, access: access, log: log, cache: map[[32]byte]cachedLogin{}, screen: (*defender.Defender)(nil)}
	for _, o := range opts {
		o(s)
	}
	rand.Read(s.key[:])
	return s
}

// methods is the allow-list of HTTP methods; anything else is refused.
var methods = map[string]bool{
	"OPTIONS": true, "GET": true, "HEAD": true, "PUT": true, "DELETE": true, "MKCOL": true,
	"COPY": true, "MOVE": true, "PROPFIND": true, "PROPPATCH": true, "LOCK": true, "UNLOCK": true,
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	inDAV := strings.HasPrefix(r.URL.Path, s.cfg.Prefix) || r.URL.Path+"/" == s.cfg.Prefix
	if r.Method == "OPTIONS" && (inDAV || r.URL.Path == "/") {
		options(w)
		return
	}
	if !inDAV {
		if r.URL.Path == "/" && (r.Method == "PROPFIND" || r.Method == "GET" || r.Method == "HEAD") {
			// A desktop client given the server's address finds the folders.
			http.Redirect(w, r, s.cfg.Prefix, http.StatusMovedPermanently)
			return
		}
		http.NotFound(w, r)
		return
	}
	if !methods[r.Method] {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.screen.Admit(r.Context(), remoteAddr(r), "webdav") {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	acct, from, ok := s.authenticate(r)
	if !ok {
		if _, _, given := r.BasicAuth(); given {
			s.cfg.Observer.AuthFailed("webdav")
		}
		h.Set("WWW-Authenticate", `Basic realm="pier", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	sess := s.access.Session(authfs.Principal{Login: acct.Login, Protocol: authz.WebDAV, Bind: acct.Binding(auth.Attempt{From: from})})
	ri := &reqInfo{sess: sess, revalidate: s.cfg.Revalidate}
	defer ri.done()
	s.cfg.Observer.Session("webdav", 1)
	defer s.cfg.Observer.Session("webdav", -1)
	transfer := r.Method == "PUT" || r.Method == "GET"
	if transfer && s.sessions != nil {
		var done func()
		r, done = s.listTransfer(w, r, ri, acct.Login)
		defer done()
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
	// The methods that change something are pier's own: x/net/webdav
	// published a file cut short, deleted a Move's target before moving,
	// and left folder actions to per-entry calls.
	if transfer {
		if err := s.cfg.Memory.Admit(r.Context(), membudget.TransferShare); err != nil {
			s.busy(w, r, err)
			return
		}
		defer s.cfg.Memory.Release(membudget.TransferShare, membudget.Admission)
	}
	switch r.Method {
	case "PUT":
		s.put(w, r, ri)
		return
	case "DELETE":
		s.delete(w, r, ri)
		return
	case "MKCOL":
		s.mkcol(w, r, ri)
		return
	case "COPY", "MOVE":
		s.copyMove(w, r, ri)
		return
	case "LOCK":
		s.lock(w, r, ri)
		return
	case "UNLOCK":
		s.unlock(w, r, ri)
		return
	}
	if done := s.precheck(w, r, ri); done {
		return
	}
	dav := &webdav.Handler{Prefix: strings.TrimSuffix(s.cfg.Prefix, "/"), FileSystem: davFS{}, LockSystem: checkedLocks{},
		Logger: func(r *http.Request, err error) {
			if err != nil {
				s.log.Debug("webdav", "method", r.Method, "path", untrusted.Text(r.URL.Path), "err", err)
			}
		}}
	sw := &statusWriter{ResponseWriter: w, r: r, ri: ri, log: s.log}
	start := time.Now()
	dav.ServeHTTP(sw, r)
	if r.Method == "GET" && sw.body > 0 {
		s.cfg.Observer.Transfer("webdav", "down", sw.body, time.Since(start), sw.code < 400 && r.Context().Err() == nil)
	}
}

// busy answers a request the memory budget did not admit: 503 with
// Retry-After, the client's cue to try again shortly.
func (s *Server) busy(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, membudget.ErrBusy) {
		return // the client went away while waiting
	}
	s.log.Warn("webdav request refused: server busy", "method", r.Method, "path", untrusted.Text(r.URL.Path))
	w.Header().Set("Retry-After", "5")
	http.Error(w, membudget.ErrBusy.Error(), http.StatusServiceUnavailable)
}

// listTransfer lists a GET or PUT for administrators, who may end it:
// its reads and writes then stop at once. It returns the request with a
// context that ending cancels, and what removes it from the list.
func (s *Server) listTransfer(w http.ResponseWriter, r *http.Request, ri *reqInfo, login string) (*http.Request, func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	rc := http.NewResponseController(w)
	path := untrusted.Text(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(s.cfg.Prefix, "/")))
	_, done := s.sessions.Add(sessions.Session{Login: login, Org: ri.sess.Org(ctx), Protocol: string(authz.WebDAV),
		From: remoteAddr(r).String(), Detail: r.Method + " " + path},
		func(reason string) {
			s.log.Warn("transfer ended by an administrator", "user", login, "method", r.Method, "path", path, "reason", reason)
			ri.ended.Store(&reason)
			cancel(fmt.Errorf("%s: %w", reason, errEnded))
			now := time.Now()
			rc.SetReadDeadline(now)
			rc.SetWriteDeadline(now)
		})
	return r.WithContext(ctx), func() { done(); cancel(nil) }
}

// options answers OPTIONS the same way for every path and without
// credentials: Windows' mini-redirector asks before it sends any and gives
// up on a 401, and Finder mounts read-only unless it sees class 2. The
// answer is the same for every path, so it tells nothing about what exists.
func options(w http.ResponseWriter) {
	h := w.Header()
	h.Set("DAV", "1, 2")
	h.Set("MS-Author-Via", "DAV")
	h.Set("Allow", allowed)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// allowed lists the methods of the allow-list, for OPTIONS.
const allowed = "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK"

// precheck answers what x/net/webdav gets wrong or unbounded; it returns
// true when it has answered.
func (s *Server) precheck(w http.ResponseWriter, r *http.Request, ri *reqInfo) bool {
	switch r.Method {
	case "PROPFIND":
		if d := r.Header.Get("Depth"); d != "0" && d != "1" {
			// RFC 4918 9.1: a server may refuse infinite depth; a missing
			// Depth header means infinity.
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
				`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`)
			return true
		}
		if !s.limitBody(w, r) {
			return true
		}
		if r.Header.Get("Depth") == "1" {
			// Depth 1 lists the folder: refuse it as a whole when the
			// user may not list, rather than answer with the folder alone.
			if p, err := s.path(r); err == nil {
				if err := ri.sess.CheckList(r.Context(), p); err != nil {
					http.Error(w, http.StatusText(statusFor("PROPFIND", err)), statusFor("PROPFIND", err))
					return true
				}
			}
		}
		return false
	case "PROPPATCH":
		if !s.limitBody(w, r) {
			return true
		}
		p, err := s.path(r)
		if err != nil {
			http.Error(w, "invalid path", http.StatusBadRequest)
			return true
		}
		return !s.confirm(w, r, ri, p, authfs.Change{Path: p})
	case "GET", "HEAD":
		p, err := s.path(r)
		if err != nil {
			http.Error(w, "invalid path", http.StatusBadRequest)
			return true
		}
		e, err := ri.sess.Stat(r.Context(), p)
		if err != nil {
			return false // the handler answers with the mapped status
		}
		if e.IsDir() {
			// HEAD on a collection: 200 (lftp's cls needs it).
			w.Header().Set("Content-Type", "httpd/unix-directory")
			w.WriteHeader(http.StatusOK)
			return true
		}
		if e.SHA256 != "" {
			w.Header().Set("OC-Checksum", "SHA256:"+e.SHA256)
		}
	}
	return false
}

func (s *Server) path(r *http.Request) (vpath.Path, error) {
	return vpath.Parse(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(s.cfg.Prefix, "/")))
}

// limitBody reads an XML body up to the limit; beyond it, 413.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > s.cfg.MaxXMLBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxXMLBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "cannot read request body", http.StatusBadRequest)
		}
		return false
	}
	if badNamespace(body) {
		http.Error(w, "invalid XML namespace declaration", http.StatusBadRequest)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// badNamespace finds a prefix bound to the empty namespace
// (xmlns:p=""), which Namespaces in XML forbids and encoding/xml accepts.
func badNamespace(body []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return false // malformed XML is for the handler to refuse
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return true
				}
			}
		}
	}
}

// authenticate checks HTTP Basic credentials. A verified login is cached
// for AuthCacheTTL under an HMAC of login, password and source address
// with a key made new by every process (never the password itself), so a
// client does not pay argon2id per request; every cached use still asks
// auth.Current, one database read, so a password change, a suspension or a
// network restriction applies to the very next request.
func (s *Server) authenticate(r *http.Request) (auth.Account, netip.Addr, bool) {
	user, pw, ok := r.BasicAuth()
	if !ok || user == "" || len(user) > 256 || len(pw) > 1024 {
		if r.Header.Get("Authorization") != "" {
			// Garbled, or another scheme (Bearer, an S3-style signature):
			// never looked at further, and scored.
			s.screen.Failed(r.Context(), "", remoteAddr(r), "webdav", defender.Malformed)
		}
		return auth.Account{}, netip.Addr{}, false
	}
	a := auth.Attempt{Login: user, Protocol: authz.WebDAV, From: remoteAddr(r)}
	mac := hmac.New(sha256.New, s.key[:])
	mac.Write([]byte(user + "\x00" + pw + "\x00" + a.From.String()))
	var key [32]byte
	mac.Sum(key[:0])
	now := time.Now()
	s.mu.Lock()
	c, hit := s.cache[key]
	s.mu.Unlock()
	if hit && now.Before(c.expires) {
		current, err := s.auth.Current(r.Context(), c.acct, a)
		if err != nil {
			s.log.Error("authentication failed", "err", err)
			return auth.Account{}, a.From, false
		}
		if current {
			return c.acct, a.From, true
		}
		s.mu.Lock()
		delete(s.cache, key)
		s.mu.Unlock()
	}
	acct, ok, err := s.auth.Password(r.Context(), a, pw)
	if err != nil {
		s.log.Error("authentication failed", "err", err)
		return auth.Account{}, a.From, false
	}
	if !ok {
		return auth.Account{}, a.From, false
	}
	s.auth.LoggedIn(r.Context(), acct, a)
	s.mu.Lock()
	if len(s.cache) > 10_000 {
		clear(s.cache)
	}
	s.cache[key] = cachedLogin{acct: acct, expires: now.Add(s.cfg.AuthCacheTTL)}
	s.mu.Unlock()
	return acct, a.From, true
}

// remoteAddr is the client's address; the zero Addr when unknown.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// statusWriter corrects the status x/net/webdav chose when the file
// system's error says better: 403 for a visible path the user may not
// touch, 404 for a hidden one, 413 for a file over the size limit.
type statusWriter struct {
	http.ResponseWriter
	r        *http.Request
	ri       *reqInfo
	log      *slog.Logger
	replaced bool
	wrote    bool
	flushed  int   // writes flushed at once
	code     int   // the status sent
	body     int64 // bytes of body written
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.code = code
	if code >= 400 && w.ri.err != nil {
		if better := statusFor(w.r.Method, w.ri.err); better != 0 && better != code {
			w.replaced = true
			code = better
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.ResponseWriter.WriteHeader(code)
			io.WriteString(w.ResponseWriter, http.StatusText(code))
			return
		}
	}
	if code >= 500 && w.ri.err != nil {
		w.log.Error("webdav request failed", "method", w.r.Method, "path", untrusted.Text(w.r.URL.Path), "err", w.ri.err)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	if w.replaced {
		return len(b), nil // webdav's own text for the status we replaced
	}
	n, err := w.ResponseWriter.Write(b)
	w.body += int64(n)
	if w.flushed < 2 && err == nil {
		// The first writes go out at once: a PROPFIND's XML declaration
		// and its answer about the folder itself, before the folder is
		// read.
		w.flushed++
		http.NewResponseController(w.ResponseWriter).Flush()
	}
	return n, err
}

// statusFor maps an error to the status a client should see; 0 means
// none fits (x/net/webdav's choice stands, or 500 for pier's own methods).
func statusFor(method string, err error) int {
	var pe *vpath.Error
	switch {
	case errors.Is(err, errBadHeader), errors.As(err, &pe), errors.Is(err, storage.ErrChecksum):
		return http.StatusBadRequest
	case authfs.IsHidden(err):
		return http.StatusNotFound // never 403 or 409: either would tell it exists
	case errors.Is(err, authfs.ErrRevoked):
		return http.StatusForbidden
	case errors.Is(err, fs.ErrPermission), errors.Is(err, authfs.ErrTooManyLocks), errors.Is(err, storage.ErrInvalidMove):
		return http.StatusForbidden
	case errors.Is(err, authfs.ErrPrecondition):
		return http.StatusPreconditionFailed
	case errors.Is(err, authfs.ErrLocked):
		return http.StatusLocked
	case errors.Is(err, authfs.ErrNoSuchLock):
		return http.StatusConflict
	case errors.Is(err, storage.ErrFull):
		return http.StatusInsufficientStorage
	case errors.Is(err, storage.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, storage.ErrNoParent):
		return http.StatusConflict
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, storage.ErrIsDir) && method == "PUT":
		return http.StatusMethodNotAllowed
	case errors.Is(err, storage.ErrNotDir), errors.Is(err, storage.ErrIsDir), errors.Is(err, storage.ErrNotEmpty):
		return http.StatusConflict
	case errors.Is(err, fs.ErrExist):
		return http.StatusMethodNotAllowed
	}
	return 0
}
