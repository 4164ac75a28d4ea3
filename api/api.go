// Package api is pier's administration REST API under /api/v1, served on
// the admin listener (127.0.0.1 by default: the administration plane is
// never on the partners' listener unless configured). Every route goes
// through one authentication gate — an API token ("Authorization: Bearer
// pier_…") or a web console session cookie with its CSRF token — and
// through package admin, the same operations, roles and checks as the
// command line. Bodies are JSON only (no native deserialisation), strictly
// decoded: unknown fields, duplicate keys, deep nesting and oversized
// bodies are refused. Errors are JSON objects naming the field at fault.
// The OpenAPI 3.1 document (openapi.json, served at /api/v1/openapi.json)
// describes every route and schema; a test holds the two together.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"pier/admin"
	"pier/audit"
	"pier/auth"
	"pier/authz"
	"pier/defender"
	"pier/directory"
	"pier/identity"
	"pier/internal/untrusted"
	"pier/mfa"
	"pier/sessions"
)

// Prefix is where the API lives.
const Prefix = "/api/v1"

// Config holds the API's settings.
type Config struct {
	MaxBody        int64         // largest request body (CSV imports too)
	SessionTimeout time.Duration // a web console session's life
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxBody: 8 << 20, SessionTimeout: 8 * time.Hour}
}

// Server is the API's HTTP handler.
type Server struct {
	cfg    Config
	ops    *admin.Service
	ids    *identity.Store
	auth   *auth.Service
	audit  audit.Recorder
	log    *slog.Logger
	mux    *http.ServeMux
	routes []route
	guard  *defender.Defender // nil: no defender
	mfa    *mfa.Sealer        // nil: no MFA key on this node
}

// WithMFA lets the API enrol second factors, sealing their secrets with
// sealer (nil: enrolments are refused, saying why).
func (s *Server) WithMFA(sealer *mfa.Sealer) *Server {
	s.mfa = sealer
	return s
}

// WithDefender screens every request's source with the defender, as the
// file protocols are: a banned or denied source is refused, and a
// credential that fails counts against its source.
func (s *Server) WithDefender(d *defender.Defender) *Server {
	s.guard = d
	return s
}

// route is one registered operation, for the OpenAPI document's
// cross-check: its request and answer bodies are given as values of the
// Go types they decode into and encode from.
type route struct {
	method, path string // path in OpenAPI form: /users/{login}
	in, out      any    // nil: no body (out nil: 204 No Content)
	public       bool   // reachable without credentials (logging in)
}

// csvBody marks a route whose request body is a CSV file.
type csvBody struct{}

// New returns the API handler.
func New(cfg Config, ops *admin.Service, ids *identity.Store, a *auth.Service, rec audit.Recorder, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, ops: ops, ids: ids, auth: a, audit: rec, log: log, mux: http.NewServeMux()}
	s.register()
	return s
}

// handler is an API operation: it gets the authenticated actor and
// returns the status and body to send, or an error to map.
type handler func(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error)

// handle registers an operation that needs an authenticated actor.
func (s *Server) handle(method, path string, in, out any, h handler) {
	write := method != http.MethodGet
	s.routes = append(s.routes, route{method: method, path: path, in: in, out: out})
	s.mux.HandleFunc(method+" "+Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		a, err := s.authenticate(r, write)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ctx := audit.WithActor(r.Context(), a.Name)
		status, body, err := h(w, r.WithContext(ctx), a)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, status, body)
	})
}

// public registers an operation reachable without credentials.
func (s *Server) public(method, path string, in, out any, h http.HandlerFunc) {
	s.routes = append(s.routes, route{method: method, path: path, in: in, out: out, public: true})
	s.mux.HandleFunc(method+" "+Prefix+path, h)
}

// Routes lists the registered operations as "METHOD /path", for tests and
// documentation.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, r := range s.routes {
		out[i] = r.method + " " + r.path
	}
	return out
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	// Names in the path and the query are plain text: control
	// characters (NUL among them) name nothing and are refused here.
	if !plainText(r.URL.Path, false) {
		s.fail(w, r, bad("", "the path holds control characters"))
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.fail(w, r, bad("", "the query is malformed"))
		return
	}
	for k, vs := range q {
		for _, v := range vs {
			if !plainText(k, false) || !plainText(v, false) {
				s.fail(w, r, bad(untrusted.Text(k), "%s holds control characters", untrusted.Text(k)))
				return
			}
		}
	}
	if a, ok := parseAddr(r); ok && !s.guard.Admit(r.Context(), a, string(auth.AdminAPI)) {
		s.fail(w, r, errBanned)
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// An unknown route, or a method a route does not take: said the
		// same way to everyone, authenticated or not.
		s.fail(w, r, errNoRoute)
		return
	}
	s.mux.ServeHTTP(w, r)
}

var errNoRoute = errors.New("no such route")

// errBanned: the defender refuses the request's source.
var errBanned = errors.New("refused: too many failed logins from this address, or a network not allowed")

// Errors of the gate.
var (
	errUnauthenticated = errors.New("authentication required: an API token (Authorization: Bearer pier_…) or a session")
	errCSRF            = errors.New("a session's changes need its CSRF token in X-CSRF-Token")
)

// sessionCookie names the web console's session cookie.
const sessionCookie = "pier_session"

// authenticate is the one gate: a bearer token, or a session cookie (with
// its CSRF token for changes). Anything else — Basic credentials, other
// schemes, a malformed, unknown, expired or revoked token, a user without
// an administrator role or whose account may not work — is refused alike.
func (s *Server) authenticate(r *http.Request, write bool) (admin.Actor, error) {
	ctx := r.Context()
	authz := r.Header.Values("Authorization")
	cookie, cookieErr := r.Cookie(sessionCookie)
	var login, org string
	readOnly := false
	switch {
	case len(authz) > 1 || len(authz) == 1 && cookieErr == nil:
		return s.refuse(ctx, r, "", "more than one credential")
	case len(authz) == 1:
		scheme, token, ok := strings.Cut(authz[0], " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 256 {
			return s.refuse(ctx, r, "", "not a bearer token")
		}
		t, err := s.ids.CheckToken(ctx, strings.TrimSpace(token))
		if errors.Is(err, identity.ErrBadToken) {
			return s.refuse(ctx, r, "", "unknown, expired or revoked token")
		} else if err != nil {
			return admin.Actor{}, err
		}
		login, org, readOnly = t.Login, t.Org, t.ReadOnly
	case cookieErr == nil:
		ws, err := s.ids.CheckWebSession(ctx, cookie.Value)
		if errors.Is(err, identity.ErrBadToken) {
			return s.refuse(ctx, r, "", "unknown or expired session")
		} else if err != nil {
			return admin.Actor{}, err
		}
		if write && !constantEq(r.Header.Get("X-CSRF-Token"), ws.CSRF) {
			return admin.Actor{}, errCSRF
		}
		login = ws.Login
	default:
		return admin.Actor{}, errUnauthenticated
	}
	if why := s.unusable(ctx, login); why != "" {
		return s.refuse(ctx, r, login, why)
	}
	a, err := s.ops.ActorOf(ctx, login, readOnly, org)
	if err != nil {
		return admin.Actor{}, err
	}
	if a.Role == admin.RoleNone {
		return s.refuse(ctx, r, login, "no administrator role")
	}
	return a, nil
}

// unusable says why an account may not use the API now, "" if it may:
// it must be active, unexpired, and its stored restrictions readable.
func (s *Server) unusable(ctx context.Context, login string) string {
	f, _, err := s.ids.Facts(ctx, login)
	if err != nil {
		return "no such account"
	}
	f.Protocols = nil // the admin API is not a file protocol
	if ok, why := f.Usable(time.Now()); !ok {
		return why
	}
	return ""
}

// refuse records a refused authentication and answers 401. A
// credential that names nobody (a wrong, expired or revoked token or
// session) counts against its source in the defender, as a wrong
// password does.
func (s *Server) refuse(ctx context.Context, r *http.Request, login, why string) (admin.Actor, error) {
	if a, ok := parseAddr(r); ok && login == "" {
		s.guard.Failed(ctx, "", a, string(auth.AdminAPI), defender.WrongPassword)
	}
	s.log.WarnContext(ctx, "api authentication refused", "from", r.RemoteAddr, "login", login, "reason", why)
	if s.audit != nil {
		audit.Logged(ctx, s.audit, s.log, audit.Record{Time: time.Now(), Actor: login, Action: audit.Login, Protocol: "api",
			From: remoteAddr(r), Outcome: audit.Refused, Reason: why})
	}
	return admin.Actor{}, errUnauthenticated
}

func parseAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

func remoteAddr(r *http.Request) string {
	if a, ok := parseAddr(r); ok {
		return a.String()
	}
	return ""
}

func constantEq(a, b string) bool {
	if len(a) != len(b) || a == "" {
		return false
	}
	var v byte
	for i := range len(a) {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code, a message for people,
// and the request field at fault when there is one.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// fail maps an error to its status and JSON body; internal failures are
// logged, never described to the client.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, "internal"
	var body ErrorBody
	var fe *identity.FieldError
	var be *badRequest
	switch {
	case errors.Is(err, errNoRoute):
		status, code = http.StatusNotFound, "no-route"
	case errors.Is(err, errUnauthenticated):
		status, code = http.StatusUnauthorized, "unauthenticated"
		w.Header().Set("WWW-Authenticate", `Bearer realm="pier"`)
	case errors.Is(err, errBanned):
		status, code = http.StatusForbidden, "source-refused"
	case errors.Is(err, errCSRF):
		status, code = http.StatusForbidden, "csrf"
	case errors.As(err, &be):
		status, code = be.status, be.code
		body.Error.Field = be.field
	case errors.As(err, &fe):
		status, code = http.StatusBadRequest, "invalid"
		body.Error.Field = fe.Field
	case errors.Is(err, admin.ErrForbidden):
		status, code = http.StatusForbidden, "forbidden"
	case errors.Is(err, admin.ErrChanged):
		status, code = http.StatusPreconditionFailed, "changed"
	case errors.Is(err, identity.ErrNotFound):
		status, code = http.StatusNotFound, "not-found"
	case errors.Is(err, identity.ErrExists):
		status, code = http.StatusConflict, "exists"
	case errors.Is(err, sessions.ErrNodeSilent):
		status, code = http.StatusServiceUnavailable, "node-silent"
	case errors.Is(err, admin.ErrNoMFAKey):
		status, code = http.StatusConflict, "no-mfa-key"
	case errors.Is(err, admin.ErrNoDirectory):
		status, code = http.StatusConflict, "no-directory"
	case errors.Is(err, directory.ErrTooManySuspensions):
		status, code = http.StatusConflict, "too-many-suspensions"
	case errors.Is(err, directory.ErrBusy):
		status, code = http.StatusConflict, "busy"
	case errors.Is(err, authz.ErrNoAccount):
		status, code = http.StatusNotFound, "not-found"
	}
	body.Error.Code = code
	if status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		body.Error.Message = "internal error (see the server's log)"
	} else {
		body.Error.Message = message(err, fe)
	}
	writeJSON(w, status, body)
}

// message is an error's text for the client, without the field name that
// the field member already carries.
func message(err error, fe *identity.FieldError) string {
	if fe != nil {
		return fe.Msg
	}
	return err.Error()
}

// badRequest is a refusal the API itself makes (a body, a header, a query
// parameter).
type badRequest struct {
	status      int
	code, field string
	msg         string
}

func (e *badRequest) Error() string { return e.msg }

func bad(field, format string, args ...any) error {
	return &badRequest{status: http.StatusBadRequest, code: "invalid", field: field, msg: fmt.Sprintf(format, args...)}
}
