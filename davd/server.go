// Package davd is pier's WebDAV front end: golang.org/x/net/webdav over the
// authorising file system, behind HTTP Basic authentication (cached
// briefly, keyed by a hash), request limits and the status mapping that
// x/net/webdav lacks. It holds no permission logic: it maps each method to
// file-system calls that authfs decides on.
package davd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"pier/auth"
	"pier/authfs"
	"pier/authz"
	"pier/locks"
	"pier/storage"
	"pier/vpath"
)

// Config holds the WebDAV settings.
type Config struct {
	Prefix       string        // URL prefix, e.g. "/dav/"
	MaxXMLBody   int64         // PROPFIND, PROPPATCH and LOCK bodies
	AuthCacheTTL time.Duration // how long verified credentials are trusted
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Prefix: "/dav/", MaxXMLBody: 1 << 20, AuthCacheTTL: time.Minute}
}

// Server is the WebDAV handler.
type Server struct {
	cfg    Config
	auth   *auth.Service
	access *authfs.FS
	locks  Locks
	log    *slog.Logger

	mu    sync.Mutex
	cache map[[32]byte]cachedLogin
}

type cachedLogin struct {
	login   string
	expires time.Time
}

// Locks is where WebDAV locks live (locks.Store: in the database, shared
// by every node and protocol). ForRequest binds a lock system to one
// request's user; CreateShared takes the shared locks x/net/webdav lacks.
type Locks interface {
	ForRequest(ctx context.Context, login string, etag locks.ETagFunc) webdav.LockSystem
	CreateShared(ctx context.Context, login string, d webdav.LockDetails, now time.Time) (string, error)
}

// New returns the handler.
func New(cfg Config, a *auth.Service, access *authfs.FS, locks Locks, log *slog.Logger) *Server {
	if !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	return &Server{cfg: cfg, auth: a, access: access, locks: locks, log: log, cache: map[[32]byte]cachedLogin{}}
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
	if !strings.HasPrefix(r.URL.Path, s.cfg.Prefix) && r.URL.Path+"/" != s.cfg.Prefix {
		http.NotFound(w, r)
		return
	}
	if !methods[r.Method] {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	login, ok := s.authenticate(r)
	if !ok {
		h.Set("WWW-Authenticate", `Basic realm="pier", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	ri := &reqInfo{sess: s.access.Session(login, authz.WebDAV)}
	if r.Method == "PUT" {
		ri.size = max(r.ContentLength, 0)
		if v, err := strconv.ParseInt(r.Header.Get("X-OC-Mtime"), 10, 64); err == nil && v > 0 {
			ri.modTime = time.Unix(v, 0)
			h.Set("X-OC-Mtime", "accepted")
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
	if done := s.precheck(w, r, ri); done {
		return
	}
	dav := &webdav.Handler{Prefix: strings.TrimSuffix(s.cfg.Prefix, "/"), FileSystem: davFS{}, LockSystem: s.locks.ForRequest(r.Context(), login, etagOf(r.Context(), ri)),
		Logger: func(r *http.Request, err error) {
			if err != nil {
				s.log.Debug("webdav", "method", r.Method, "path", r.URL.Path, "err", err)
			}
		}}
	dav.ServeHTTP(&statusWriter{ResponseWriter: w, r: r, ri: ri, log: s.log}, r)
}

// etagOf answers If-header ETag conditions with the ETag GET would send.
func etagOf(ctx context.Context, ri *reqInfo) locks.ETagFunc {
	return func(name string) string {
		p, err := vpath.Parse(name)
		if err != nil {
			return ""
		}
		e, err := ri.sess.Stat(ctx, p)
		if err != nil {
			return ""
		}
		tag, _ := fileInfo{storage.FileInfo{Entry: e}}.ETag(ctx)
		return tag
	}
}

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
	case "COPY", "MOVE":
		// x/net/webdav strips the prefix from Destination as a string
		// prefix: "/davacme/x" would become "acme/x". Only a Destination
		// inside our prefix on this host is accepted.
		dst, err := url.Parse(r.Header.Get("Destination"))
		if err != nil || dst.Path == "" {
			http.Error(w, "bad Destination header", http.StatusBadRequest)
			return true
		}
		if dst.Host != "" && dst.Host != r.Host {
			http.Error(w, "Destination is on another server", http.StatusBadGateway)
			return true
		}
		if !strings.HasPrefix(dst.Path, s.cfg.Prefix) && dst.Path+"/" != s.cfg.Prefix {
			http.Error(w, "Destination is outside "+s.cfg.Prefix, http.StatusBadGateway)
			return true
		}
		if _, err := vpath.Parse(strings.TrimPrefix(dst.Path, strings.TrimSuffix(s.cfg.Prefix, "/"))); err != nil {
			http.Error(w, "invalid Destination path", http.StatusBadRequest)
			return true
		}
		if r.Method == "MOVE" {
			// x/net/webdav renames without looking at the source first;
			// a missing one must answer 404, not the rename's error.
			p, err := s.path(r)
			if err == nil {
				_, err = ri.sess.Stat(r.Context(), p)
			}
			if err != nil {
				code := statusFor("GET", err)
				if code == 0 {
					code = http.StatusInternalServerError
				}
				http.Error(w, http.StatusText(code), code)
				return true
			}
		}
	case "LOCK":
		if !s.limitBody(w, r) {
			return true
		}
		return s.lock(w, r, ri)
	case "PROPPATCH":
		return !s.limitBody(w, r)
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

// authenticate checks HTTP Basic credentials, trusting a verified pair
// for AuthCacheTTL (keyed by a hash of login, password and source address,
// never the password itself) so a client does not pay argon2id per request.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	user, pw, ok := r.BasicAuth()
	if !ok || user == "" {
		return "", false
	}
	a := auth.Attempt{Login: user, Protocol: authz.WebDAV}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		a.From = ap.Addr()
	}
	key := sha256.Sum256([]byte(user + "\x00" + pw + "\x00" + a.From.String()))
	now := time.Now()
	s.mu.Lock()
	c, hit := s.cache[key]
	s.mu.Unlock()
	if hit && now.Before(c.expires) {
		return c.login, true
	}
	login, ok, err := s.auth.Password(r.Context(), a, pw)
	if err != nil {
		s.log.Error("authentication failed", "err", err)
		return "", false
	}
	if !ok {
		return "", false
	}
	s.auth.LoggedIn(r.Context(), login, a, "")
	s.mu.Lock()
	if len(s.cache) > 10_000 {
		clear(s.cache)
	}
	s.cache[key] = cachedLogin{login: login, expires: now.Add(s.cfg.AuthCacheTTL)}
	s.mu.Unlock()
	return login, true
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
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
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
		w.log.Error("webdav request failed", "method", w.r.Method, "path", w.r.URL.Path, "err", w.ri.err)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	if w.replaced {
		return len(b), nil // webdav's own text for the status we replaced
	}
	return w.ResponseWriter.Write(b)
}

// statusFor maps a file-system error to the status a client should see;
// 0 keeps x/net/webdav's choice.
func statusFor(method string, err error) int {
	var pe *vpath.Error
	switch {
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden
	case errors.Is(err, storage.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &pe):
		return http.StatusBadRequest
	case authfs.IsHidden(err):
		return http.StatusNotFound // never 409: that would tell a hidden folder exists
	case errors.Is(err, fs.ErrNotExist):
		switch method {
		case "MOVE":
			return http.StatusConflict // the source was checked: the target's parent is missing
		case "PUT", "MKCOL", "COPY":
			return 0 // webdav answers 409 for a missing parent, 404 for a missing COPY source
		}
		return http.StatusNotFound
	case errors.Is(err, authfs.ErrLocked):
		return http.StatusLocked
	case errors.Is(err, storage.ErrNotDir), errors.Is(err, storage.ErrIsDir):
		return http.StatusConflict
	}
	return 0
}
