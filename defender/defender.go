// Package defender protects every login surface (SFTP, WebDAV and any
// later one) against password guessing, with its state in the database so
// that every node agrees:
//
//   - a source (an IPv4 address or an IPv6 /64) earns a score for each
//     failure (unknown login, wrong password, a handshake that never
//     authenticated, malformed protocol) and is banned for a while once
//     its score within a window reaches the threshold; bans grow on repeat;
//   - an account guessed at from many sources (credential stuffing) is
//     slowed, then guarded: guessable credentials are refused unchecked
//     from sources where the account never logged in, while its owner
//     still gets in from a known source or with a key or certificate;
//   - every failed authentication waits a while;
//   - allow and deny lists of networks.
//
// The hot path is cheap: a node caches what it read for CacheTTL, and a
// failure costs one insert (plus a ban, once in a while).
package defender

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"pier/db"
	"pier/secevent"
)

// Kind is the kind of a failure.
type Kind string

// The failures the defender scores.
const (
	UnknownLogin  Kind = "unknown login"
	WrongPassword Kind = "wrong password" // or code, or app password
	NoAuth        Kind = "no authentication"
	Malformed     Kind = "malformed protocol"
	// Guarded is an attempt refused unchecked because its account is
	// guarded: it scores as a wrong password.
	Guarded Kind = "account guarded"
)

// Verdict is what the defender says of an attempt before it is checked.
type Verdict struct {
	// Refuse: do not check the credential; the attempt fails.
	Refuse bool
	// Reason says why, for the log.
	Reason string
}

// Defender keeps scores and bans. Its methods are safe for concurrent use;
// a nil *Defender, or one not Enabled, admits everything.
type Defender struct {
	cfg    Config
	db     *db.DB
	events secevent.Sink
	log    *slog.Logger
	now    func() time.Time
	sleep  func(context.Context, time.Duration)

	mu       sync.Mutex
	bans     map[netip.Prefix]cachedBan
	newest   newestBan
	accounts map[string]cachedCount
}

// newestBan is when the newest ban anywhere was made (created_at), as read
// at read.
type newestBan struct {
	at   int64
	read time.Time
}

// clockSkew is how far apart the clocks of two nodes may be: a ban made
// on another node up to this long "before" a source was read still
// makes this node read the source again.
const clockSkew = time.Minute

type cachedBan struct {
	until time.Time // zero: not banned
	read  time.Time
}

type cachedCount struct {
	n    int
	read time.Time
}

// New returns a defender over an open, migrated database.
func New(cfg Config, d *db.DB, events secevent.Sink, log *slog.Logger) (*Defender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if events == nil {
		events = secevent.Discard{}
	}
	return &Defender{cfg: cfg, db: d, events: events, log: log, now: time.Now, sleep: sleepCtx,
		bans: map[netip.Prefix]cachedBan{}, accounts: map[string]cachedCount{}}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// SourceOf returns the source an address belongs to: the address itself
// for IPv4, its /64 for IPv6 (one host often holds a whole /64).
func SourceOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if !a.IsValid() {
		return netip.Prefix{}
	}
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// sourceKey is how a source is stored: "192.0.2.7" or "2001:db8::/64".
func sourceKey(p netip.Prefix) string {
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// parseSource reads an address or network typed by an administrator into
// the source it names.
func parseSource(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address", s)
		}
		if p.Addr().Is4() && p.Bits() == 32 || p.Addr().Is6() && p.Bits() == 64 {
			return SourceOf(p.Addr()), nil
		}
		return netip.Prefix{}, fmt.Errorf("%q: give one IPv4 address or an IPv6 /64 (ranges belong in --defender-deny)", s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address", s)
	}
	return SourceOf(a), nil
}

func (d *Defender) on() bool { return d != nil && d.cfg.Enabled }

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Admit says whether a connection or request from a may proceed at all:
// not from a denied network, not from a banned source. It is asked on
// every connection and WebDAV request, and answers from the cache.
func (d *Defender) Admit(ctx context.Context, a netip.Addr, protocol string) bool {
	if d == nil {
		return true
	}
	if inAny(d.cfg.Deny, a) {
		d.events.Record(ctx, secevent.Event{Kind: secevent.SourceRefused, Source: a, Protocol: protocol, Reason: "network denied"})
		return false
	}
	if !d.on() || !a.IsValid() || inAny(d.cfg.Allow, a) {
		return true
	}
	until, err := d.bannedUntil(ctx, SourceOf(a))
	if err != nil {
		// The database is where logins are checked too: while it does not
		// answer, nobody logs in. Admit rather than refuse everyone.
		d.log.WarnContext(ctx, "defender: cannot read bans", "err", err)
		return true
	}
	if until.IsZero() {
		return true
	}
	d.events.Record(ctx, secevent.Event{Kind: secevent.SourceRefused, Source: a, Protocol: protocol,
		Reason: "source banned", Detail: "until " + until.UTC().Format(time.RFC3339)})
	return false
}

// Barred says why a session from a, admitted earlier, must end now: its
// source was banned since, or its network denied. "" lets it go on. Every
// live session asks it every few seconds, so it answers from the cache
// and, unlike Admit, records nothing (the session's end is recorded).
func (d *Defender) Barred(ctx context.Context, a netip.Addr) string {
	if d == nil || !a.IsValid() {
		return ""
	}
	if inAny(d.cfg.Deny, a) {
		return "network denied"
	}
	if !d.on() || inAny(d.cfg.Allow, a) {
		return ""
	}
	until, err := d.bannedUntil(ctx, SourceOf(a))
	if err != nil || until.IsZero() {
		// As in Admit: while the database does not answer, go on.
		return ""
	}
	return "source banned until " + until.UTC().Format(time.RFC3339)
}

// bannedUntil returns when the source's ban ends, or the zero time.
//
// A source read as not banned stays so until a ban is made, anywhere: so
// once its entry is older than CacheTTL, it is read again only if the
// newest ban (one query per node and CacheTTL, whatever the number of
// sources) is not older than the entry. Every live session asks for its
// source every few seconds (Barred); a thousand sessions from a thousand
// sources cost one query per CacheTTL, not five hundred a second.
func (d *Defender) bannedUntil(ctx context.Context, src netip.Prefix) (time.Time, error) {
	now := d.now()
	d.mu.Lock()
	c, ok := d.bans[src]
	d.mu.Unlock()
	if ok && now.Sub(c.read) >= d.cfg.CacheTTL && !c.until.After(now) {
		if n, err := d.newestBan(ctx, now); err == nil && n.at < c.read.Add(-clockSkew).Unix() {
			c.read = n.read // no ban since the entry was read, as of then
			d.remember(func() { d.bans[src] = c })
			return time.Time{}, nil
		}
	}
	if !ok || now.Sub(c.read) >= d.cfg.CacheTTL {
		var until int64
		err := d.db.QueryRow(ctx, "SELECT until_at FROM defender_bans WHERE source = ?", sourceKey(src)).Scan(&until)
		if err != nil && !isNoRows(err) {
			return time.Time{}, err
		}
		c = cachedBan{read: now}
		if until > 0 {
			c.until = time.Unix(until, 0)
		}
		d.remember(func() {
			if len(d.bans) > 100_000 {
				clear(d.bans)
			}
			d.bans[src] = c
		})
	}
	if c.until.After(now) {
		return c.until, nil
	}
	return time.Time{}, nil
}

// newestBan reads when the newest ban was made, at most once per CacheTTL.
func (d *Defender) newestBan(ctx context.Context, now time.Time) (newestBan, error) {
	d.mu.Lock()
	n := d.newest
	d.mu.Unlock()
	if !n.read.IsZero() && now.Sub(n.read) < d.cfg.CacheTTL {
		return n, nil
	}
	n = newestBan{read: now}
	if err := d.db.QueryRow(ctx, "SELECT COALESCE(MAX(created_at), 0) FROM defender_bans").Scan(&n.at); err != nil {
		return n, err
	}
	d.remember(func() { d.newest = n })
	return n, nil
}

func (d *Defender) remember(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn()
}

// Check is asked before a guessable credential (a password, a code) is
// checked for login from a: it refuses, unchecked, guesses against an
// account that is guarded, unless a is a source the account logged in
// from before.
func (d *Defender) Check(ctx context.Context, login string, a netip.Addr) Verdict {
	if !d.on() {
		return Verdict{}
	}
	if a.IsValid() && !inAny(d.cfg.Allow, a) {
		// A connection that was let in before its source was banned
		// guesses no further.
		if until, err := d.bannedUntil(ctx, SourceOf(a)); err == nil && !until.IsZero() {
			return Verdict{Refuse: true, Reason: "source banned until " + until.UTC().Format(time.RFC3339)}
		}
	}
	login = loginKey(login)
	n, err := d.accountFailures(ctx, login)
	if err != nil {
		d.log.WarnContext(ctx, "defender: cannot read account failures", "err", err)
		return Verdict{}
	}
	if n < d.cfg.AccountBlock {
		return Verdict{}
	}
	known, err := d.known(ctx, login, a)
	if err != nil {
		d.log.WarnContext(ctx, "defender: cannot read known sources", "err", err)
	}
	if known {
		return Verdict{}
	}
	return Verdict{Refuse: true, Reason: fmt.Sprintf("account guarded against guessing (%d failures within %v); this source never logged in to it", n, d.cfg.AccountWindow)}
}

// loginKey is the stored form of a login as a client typed it: logins
// ignore case, and a guess is bounded.
func loginKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func (d *Defender) accountFailures(ctx context.Context, login string) (int, error) {
	if login == "" {
		return 0, nil
	}
	now := d.now()
	d.mu.Lock()
	c, ok := d.accounts[login]
	d.mu.Unlock()
	if ok && now.Sub(c.read) < d.cfg.CacheTTL {
		return c.n, nil
	}
	var n int
	if err := d.db.QueryRow(ctx, "SELECT COUNT(*) FROM defender_events WHERE login = ? AND at > ?",
		login, now.Add(-d.cfg.AccountWindow).Unix()).Scan(&n); err != nil {
		return 0, err
	}
	d.remember(func() {
		if len(d.accounts) > 100_000 {
			clear(d.accounts)
		}
		d.accounts[login] = cachedCount{n: n, read: now}
	})
	return n, nil
}

// known reports whether the account login last logged in from a's source.
func (d *Defender) known(ctx context.Context, login string, a netip.Addr) (bool, error) {
	if !a.IsValid() {
		return false, nil
	}
	var one int
	err := d.db.QueryRow(ctx, `SELECT 1 FROM login_sources ls JOIN users u ON u.id = ls.user_id
		WHERE u.login = ? AND ls.source = ?`, login, sourceKey(SourceOf(a))).Scan(&one)
	if isNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

// Failed records a failure from a (login is "" when none was given),
// bans the source once its score reaches the threshold, and waits the
// failure's delay before returning, so that the refusal reaches the
// client late. It costs one insert.
func (d *Defender) Failed(ctx context.Context, login string, a netip.Addr, protocol string, k Kind) {
	if d == nil || !a.IsValid() {
		return
	}
	login = loginKey(login)
	// Logged even when the defender is off, for fail2ban and the like.
	d.events.Record(ctx, secevent.Event{Kind: secevent.AuthFailure, Source: a, Login: login, Protocol: protocol, Reason: string(k)})
	if !d.cfg.Enabled {
		return
	}
	src := SourceOf(a)
	allowed := inAny(d.cfg.Allow, a)
	score := d.score(k)
	if allowed {
		score = 0 // still counted against the account, never against the source
	}
	now := d.now()
	if _, err := d.db.Exec(ctx, "INSERT INTO defender_events (at, source, login, kind, score) VALUES (?, ?, ?, ?, ?)",
		now.Unix(), sourceKey(src), login, string(k), score); err != nil {
		d.log.WarnContext(ctx, "defender: cannot record a failure", "err", err)
		d.sleep(ctx, d.cfg.Delay)
		return
	}
	fails := 0
	if login != "" {
		d.remember(func() {
			c := d.accounts[login]
			c.n++
			d.accounts[login] = c
			fails = c.n
		})
		if fails == d.cfg.AccountBlock {
			d.events.Record(ctx, secevent.Event{Kind: secevent.AccountGuarded, Source: a, Login: login, Protocol: protocol,
				Reason: fmt.Sprintf("%d failures within %v from any source", fails, d.cfg.AccountWindow)})
		}
	}
	if score > 0 {
		d.maybeBan(ctx, src, a, protocol, now)
	}
	d.sleep(ctx, d.delay(fails))
}

// delay is a failure's wait: Delay, doubled for each failure of the
// account beyond AccountSlow, up to MaxDelay.
func (d *Defender) delay(fails int) time.Duration {
	w := d.cfg.Delay
	for i := d.cfg.AccountSlow; i < fails && w < d.cfg.MaxDelay; i++ {
		w *= 2
	}
	return min(w, d.cfg.MaxDelay)
}

func (d *Defender) score(k Kind) int {
	switch k {
	case UnknownLogin:
		return d.cfg.ScoreUnknownLogin
	case WrongPassword, Guarded:
		return d.cfg.ScoreWrongPassword
	case NoAuth:
		return d.cfg.ScoreNoAuth
	case Malformed:
		return d.cfg.ScoreMalformed
	}
	return d.cfg.ScoreWrongPassword
}

// maybeBan bans src when its score within Window reached the threshold
// and it is not banned already.
func (d *Defender) maybeBan(ctx context.Context, src netip.Prefix, a netip.Addr, protocol string, now time.Time) {
	var sum int
	if err := d.db.QueryRow(ctx, "SELECT COALESCE(SUM(score), 0) FROM defender_events WHERE source = ? AND at > ?",
		sourceKey(src), now.Add(-d.cfg.Window).Unix()).Scan(&sum); err != nil {
		d.log.WarnContext(ctx, "defender: cannot read a score", "err", err)
		return
	}
	if sum < d.cfg.Threshold {
		return
	}
	if until, err := d.bannedUntil(ctx, src); err == nil && !until.IsZero() {
		return
	}
	b, err := d.ban(ctx, src, 0, fmt.Sprintf("score %d within %v", sum, d.cfg.Window), now)
	if err != nil {
		d.log.WarnContext(ctx, "defender: cannot ban", "source", sourceKey(src), "err", err)
		return
	}
	d.events.Record(ctx, secevent.Event{Kind: secevent.SourceBanned, Source: a, Protocol: protocol, Reason: b.Reason,
		Detail: fmt.Sprintf("for %v (ban %d), until %s", b.Until.Sub(now).Round(time.Second), b.Count, b.Until.UTC().Format(time.RFC3339))})
}

// Succeeded records that account userID logged in from a: a later guard
// on the account does not refuse this source.
func (d *Defender) Succeeded(ctx context.Context, userID int64, a netip.Addr) {
	if !d.on() || !a.IsValid() || userID == 0 {
		return
	}
	if _, err := d.db.Exec(ctx, `INSERT INTO login_sources (user_id, source, last_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id, source) DO UPDATE SET last_at = excluded.last_at`, userID, sourceKey(SourceOf(a)), d.now().Unix()); err != nil {
		d.log.WarnContext(ctx, "defender: cannot record a known source", "err", err)
	}
}
