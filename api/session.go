package api

import (
	"errors"
	"net/http"
	"time"

	"pier/admin"
	"pier/auth"
	"pier/identity"
)

// Login is the body of POST /session.
type Login struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// SessionStarted answers a login: who, until when, and the CSRF token that
// changes made with the session's cookie must repeat in X-CSRF-Token.
type SessionStarted struct {
	Actor   ActorView `json:"actor"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// login starts a web console session for an administrator: the password
// is checked by the same gate as the file protocols' (status, expiry,
// networks), and the account must hold an administrator role. Every
// refusal says the same thing.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in Login
	if err := s.decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Login == "" || len(in.Login) > 256 || in.Password == "" || len(in.Password) > 1024 {
		s.fail(w, r, bad("", "login and password are required"))
		return
	}
	ctx := r.Context()
	from, _ := parseAddr(r)
	acct, ok, err := s.auth.Password(ctx, auth.Attempt{Login: in.Login, From: from, Protocol: auth.AdminAPI}, in.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.fail(w, r, errUnauthenticated)
		return
	}
	a, err := s.ops.ActorOf(ctx, acct.Login, false, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if a.Role == admin.RoleNone {
		_, err := s.refuse(ctx, r, acct.Login, "no administrator role")
		s.fail(w, r, err)
		return
	}
	secret, ws, err := s.ids.AddWebSession(ctx, acct.Login, s.cfg.SessionTimeout)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.auth.LoggedIn(ctx, acct, auth.Attempt{Login: acct.Login, From: from, Protocol: auth.AdminAPI})
	// A cookie set over HTTPS is sent back over HTTPS only.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: Prefix + "/", Expires: ws.Expires,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusCreated, SessionStarted{Actor: actorView(a), CSRF: ws.CSRF, Expires: ws.Expires.UTC()})
}

// logout ends the session its cookie names, with the CSRF token (a page
// elsewhere cannot log an administrator out).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		s.fail(w, r, errUnauthenticated)
		return
	}
	ws, err := s.ids.CheckWebSession(r.Context(), c.Value)
	if errors.Is(err, identity.ErrBadToken) {
		s.fail(w, r, errUnauthenticated)
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	if !constantEq(r.Header.Get("X-CSRF-Token"), ws.CSRF) {
		s.fail(w, r, errCSRF)
		return
	}
	if err := s.ids.EndWebSession(r.Context(), c.Value); err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: Prefix + "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}
