// Package secevent names the security events pier's login gate, defender
// and account lifecycle raise — logins, refusals, bans, suspensions — and
// gives the one small interface they are raised through. Today's Sink
// writes one structured log line per event, in a fixed attribute order
// that fail2ban can read. (Administrative changes, and logins, also reach
// the audit trail, which records them in the database.)
package secevent

import (
	"context"
	"log/slog"
	"net/netip"

	"pier/internal/untrusted"
)

// Kind names what happened.
type Kind string

// The events.
const (
	Login        Kind = "login"         // a login completed
	LoginRefused Kind = "login refused" // credentials refused, or the account may not log in
	// AuthFailure is a failure the defender scores against a source: a
	// wrong password or code, an unknown login, a handshake that never
	// authenticated, malformed protocol. fail2ban's filter reads these.
	AuthFailure    Kind = "auth failure"
	SourceBanned   Kind = "source banned"
	SourceUnbanned Kind = "source unbanned"
	SourceRefused  Kind = "source refused" // a connection from a banned or denied source
	// AccountGuarded: guessing against an account from many sources
	// crossed the limit; guesses from unknown sources are refused.
	AccountGuarded Kind = "account guarded"
	Suspended      Kind = "account suspended" // by the lifecycle job
	Deleted        Kind = "account deleted"   // by the lifecycle job
	RecoveryUsed   Kind = "recovery code used"
)

// Event is one security event. Source comes first on the log line, so a
// log reader anchors on it rather than on client-chosen text (a login
// naming another address must not get that address banned).
type Event struct {
	Kind     Kind
	Source   netip.Addr // the client's address; the zero Addr when none
	Login    string     // as the client gave it: untrusted
	Protocol string     // "sftp", "webdav", "" for the admin CLI and jobs
	Method   string     // "password", "publickey", "certificate", "keyboard-interactive", "app-password", ...
	Reason   string     // why, for refusals and actions
	Detail   string     // the key's fingerprint, the ban's length, ...
}

// Sink receives security events. Record must not block for long: it is
// called on the login path.
type Sink interface {
	Record(ctx context.Context, e Event)
}

// Log writes each event as one log line: WARN for refusals, failures and
// bans, INFO for the rest.
type Log struct{ L *slog.Logger }

var _ Sink = Log{}

// Record writes e.
func (l Log) Record(ctx context.Context, e Event) {
	level := slog.LevelInfo
	switch e.Kind {
	case LoginRefused, AuthFailure, SourceBanned, SourceRefused, AccountGuarded:
		level = slog.LevelWarn
	}
	attrs := make([]slog.Attr, 0, 6)
	if e.Source.IsValid() {
		attrs = append(attrs, slog.String("from", e.Source.Unmap().String()))
	} else {
		attrs = append(attrs, slog.String("from", "-"))
	}
	attrs = append(attrs, slog.String("login", untrusted.Text(e.Login)))
	for _, a := range [][2]string{{"protocol", e.Protocol}, {"method", e.Method}, {"reason", e.Reason}, {"detail", e.Detail}} {
		if a[1] != "" {
			attrs = append(attrs, slog.String(a[0], a[1]))
		}
	}
	l.L.LogAttrs(ctx, level, string(e.Kind), attrs...)
}

// Discard drops every event.
type Discard struct{}

// Record does nothing.
func (Discard) Record(context.Context, Event) {}
