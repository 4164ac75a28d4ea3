package defender

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pier/db"
	"pier/internal/testenv"
	"pier/secevent"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	d     *Defender
	db    *db.DB
	clock *clock
	slept time.Duration
	log   *bytes.Buffer
}

// backends runs fn on SQLite and PostgreSQL.
func backends(t *testing.T, cfg Config, fn func(t *testing.T, e *env)) {
	testenv.Databases(t, func(t *testing.T, d *db.DB) { fn(t, newEnv(t, cfg, d)) })
}

func newEnv(t *testing.T, cfg Config, d *db.DB) *env {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	def, err := New(cfg, d, secevent.Log{L: log}, log)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{d: def, db: d, clock: &clock{t: time.Unix(1_800_000_000, 0)}, log: &buf}
	def.now = e.clock.now
	def.sleep = func(_ context.Context, w time.Duration) { e.slept += w }
	return e
}

func testConfig() Config {
	c := DefaultConfig()
	c.CacheTTL = time.Nanosecond // read the database every time: what other nodes see
	return c
}

var (
	attacker = netip.MustParseAddr("198.51.100.7")
	owner    = netip.MustParseAddr("192.0.2.10")
)

// TestBanGrowsAndEnds: wrong passwords ban a source at the threshold, the
// ban ends after its time, and the next one lasts twice as long.
func TestBanGrowsAndEnds(t *testing.T) {
	backends(t, testConfig(), func(t *testing.T, e *env) {
		ctx := t.Context()
		for i := range 15 {
			if !e.d.Admit(ctx, attacker, "sftp") {
				t.Fatalf("banned after %d wrong passwords, want 15", i)
			}
			e.d.Failed(ctx, "anna", attacker, "sftp", WrongPassword)
		}
		if e.d.Admit(ctx, attacker, "sftp") {
			t.Fatal("15 wrong passwords: not banned")
		}
		if !e.d.Admit(ctx, owner, "sftp") {
			t.Fatal("another source is banned too")
		}
		if e.slept < 15*time.Second {
			t.Errorf("15 failures waited %v in all, want at least 15 s", e.slept)
		}
		e.clock.add(15*time.Minute + time.Second)
		if !e.d.Admit(ctx, attacker, "sftp") {
			t.Fatal("still banned after the ban's 15 minutes")
		}
		for range 15 {
			e.d.Failed(ctx, "anna", attacker, "sftp", WrongPassword)
		}
		bans, err := e.d.Bans(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(bans) != 1 || bans[0].Count != 2 || bans[0].Until.Sub(e.clock.now()) != 30*time.Minute {
			t.Fatalf("second ban: %+v, want ban #2 for 30 minutes", bans)
		}
		if !strings.Contains(e.log.String(), `msg="source banned" from=198.51.100.7`) {
			t.Errorf("no log line for the ban:\n%s", e.log)
		}
	})
}

// TestUnknownLoginsScoreMore: unknown logins score 2, so a source that
// tries names is banned sooner.
func TestUnknownLoginsScoreMore(t *testing.T) {
	backends(t, testConfig(), func(t *testing.T, e *env) {
		ctx := t.Context()
		for range 8 {
			e.d.Failed(ctx, "nobody", attacker, "webdav", UnknownLogin)
		}
		if e.d.Admit(ctx, attacker, "webdav") {
			t.Fatal("8 unknown logins (score 16): not banned")
		}
	})
}

// TestAccountGuard: failures against one account from many sources guard
// it: new sources are refused unchecked, a source it logged in from is
// not. The guard lifts when the failures age out of the window.
func TestAccountGuard(t *testing.T) {
	backends(t, testConfig(), func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := addUser(t, e.db, "anna")
		e.d.Succeeded(ctx, uid, owner)
		for i := range 20 {
			from := netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)})
			if v := e.d.Check(ctx, "Anna", from); v.Refuse {
				t.Fatalf("guessing refused after %d failures, want 20", i)
			}
			e.d.Failed(ctx, "Anna", from, "sftp", WrongPassword)
		}
		stranger := netip.MustParseAddr("203.0.113.200")
		if v := e.d.Check(ctx, "anna", stranger); !v.Refuse {
			t.Fatal("20 failures from 20 sources: guessing from a new source is still allowed")
		}
		if v := e.d.Check(ctx, "anna", owner); v.Refuse {
			t.Fatalf("the owner's known source is refused: %s", v.Reason)
		}
		if v := e.d.Check(ctx, "bob", stranger); v.Refuse {
			t.Fatal("another account is guarded too")
		}
		// Slowed: each failure beyond AccountSlow waits longer, up to MaxDelay.
		e.slept = 0
		e.d.Failed(ctx, "anna", stranger, "sftp", Guarded)
		if e.slept != 8*time.Second {
			t.Errorf("a failure against a guarded account waited %v, want the maximum 8s", e.slept)
		}
		e.clock.add(31 * time.Minute)
		if v := e.d.Check(ctx, "anna", stranger); v.Refuse {
			t.Fatal("still guarded after the failures left the window")
		}
	})
}

// TestAllowDeny: allowed networks are never banned (but count against
// accounts); denied ones are always refused.
func TestAllowDeny(t *testing.T) {
	cfg := testConfig()
	cfg.Allow, _ = ParsePrefixes("198.51.100.0/24")
	cfg.Deny, _ = ParsePrefixes("203.0.113.0/24, 2001:db8::/32")
	backends(t, cfg, func(t *testing.T, e *env) {
		ctx := t.Context()
		for range 40 {
			e.d.Failed(ctx, "anna", attacker, "sftp", WrongPassword)
		}
		if !e.d.Admit(ctx, attacker, "sftp") {
			t.Fatal("an allowed source was banned")
		}
		if v := e.d.Check(ctx, "anna", attacker); !v.Refuse {
			t.Fatal("failures from an allowed network do not count against the account")
		}
		for _, a := range []string{"203.0.113.9", "2001:db8::1", "::ffff:203.0.113.9"} {
			if e.d.Admit(ctx, netip.MustParseAddr(a), "webdav") {
				t.Errorf("%s from a denied network admitted", a)
			}
		}
	})
}

// TestAdminBanUnban: pier defender ban and unban, IPv6 by /64.
func TestAdminBanUnban(t *testing.T) {
	backends(t, testConfig(), func(t *testing.T, e *env) {
		ctx := t.Context()
		if _, err := e.d.Ban(ctx, "2001:db8:1:2::5", time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
		if e.d.Admit(ctx, netip.MustParseAddr("2001:db8:1:2:ffff::1"), "sftp") {
			t.Fatal("an address in a banned /64 admitted")
		}
		if !e.d.Admit(ctx, netip.MustParseAddr("2001:db8:1:3::1"), "sftp") {
			t.Fatal("an address in another /64 refused")
		}
		for range 14 {
			e.d.Failed(ctx, "x", attacker, "sftp", WrongPassword)
		}
		if _, err := e.d.Ban(ctx, attacker.String(), 0, ""); err != nil {
			t.Fatal(err)
		}
		if ok, err := e.d.Unban(ctx, attacker.String()); err != nil || !ok {
			t.Fatalf("unban: %v %v", ok, err)
		}
		e.d.Failed(ctx, "x", attacker, "sftp", WrongPassword)
		if !e.d.Admit(ctx, attacker, "sftp") {
			t.Fatal("banned again at once after unban: its score was kept")
		}
		for _, bad := range []string{"10.0.0.0/8", "nonsense", ""} {
			if _, err := e.d.Ban(ctx, bad, time.Hour, ""); err == nil {
				t.Errorf("Ban(%q) accepted", bad)
			}
		}
		e.clock.add(2 * time.Hour)
		if err := e.d.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.d.Scores(ctx, 10); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDisabled: off, nothing is recorded and nothing waits; the deny list
// still holds.
func TestDisabled(t *testing.T) {
	cfg := Config{Deny: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}
	backends(t, cfg, func(t *testing.T, e *env) {
		ctx := t.Context()
		for range 50 {
			e.d.Failed(ctx, "anna", attacker, "sftp", WrongPassword)
		}
		if !e.d.Admit(ctx, attacker, "sftp") || e.slept != 0 {
			t.Fatalf("a disabled defender banned or waited (%v)", e.slept)
		}
		if e.d.Admit(ctx, netip.MustParseAddr("203.0.113.1"), "sftp") {
			t.Fatal("the deny list does not hold with the defender off")
		}
		var nilD *Defender
		if !nilD.Admit(ctx, attacker, "sftp") || nilD.Check(ctx, "a", attacker).Refuse {
			t.Fatal("a nil defender refuses")
		}
		nilD.Failed(ctx, "a", attacker, "sftp", WrongPassword)
		nilD.Succeeded(ctx, 1, attacker)
	})
}

func addUser(t *testing.T, d *db.DB, login string) int64 {
	t.Helper()
	ctx := t.Context()
	if _, err := d.Exec(ctx, "INSERT INTO orgs (slug, name, kind, created_at) VALUES ('o', 'o', 'partner', 0)"); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := d.QueryRow(ctx, "INSERT INTO users (login, org_id, status, created_at, updated_at) VALUES (?, (SELECT id FROM orgs WHERE slug = 'o'), 'active', 0, 0) RETURNING id", login).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Threshold, c.AccountBlock, c.Delay = 0, 2, 20*time.Second
	err := c.Validate()
	for _, want := range []string{"--defender-threshold", "--defender-account-block", "--defender-delay"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to name %s", err, want)
		}
	}
}

// TestFail2banFilter: the filter in contrib/fail2ban matches the lines
// the defender writes, takes the client's address from them, and cannot
// be led to another address by a login that names one.
func TestFail2banFilter(t *testing.T) {
	b, err := os.ReadFile("../contrib/fail2ban/filter.d/pier.conf")
	if err != nil {
		t.Fatal(err)
	}
	var res []*regexp.Regexp
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "failregex = "):
			in, line = true, strings.TrimPrefix(line, "failregex = ")
		case in && strings.HasPrefix(line, " "):
			line = strings.TrimSpace(line)
		default:
			in = false
		}
		if in {
			res = append(res, regexp.MustCompile(strings.Replace(line, "<HOST>", `(?P<host>\S+)`, 1)))
		}
	}
	if len(res) != 2 {
		t.Fatalf("found %d failregex lines, want 2", len(res))
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	def, err := New(Config{Deny: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}, nil, secevent.Log{L: log}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	def.Failed(ctx, "anna", attacker, "sftp", WrongPassword) // logged even while off
	def.Failed(ctx, `x from=192.0.2.1 login=y`, netip.MustParseAddr("2001:db8::7"), "webdav", UnknownLogin)
	def.Admit(ctx, netip.MustParseAddr("203.0.113.5"), "sftp")
	var hosts []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		line = regexp.MustCompile(`^time=\S+`).ReplaceAllString(line, "") // fail2ban's datepattern takes it
		for _, re := range res {
			if m := re.FindStringSubmatch(line); m != nil {
				hosts = append(hosts, m[1])
			}
		}
	}
	if want := []string{"198.51.100.7", "2001:db8::7", "203.0.113.5"}; !slices.Equal(hosts, want) {
		t.Fatalf("the filter found %q, want %q in:\n%s", hosts, want, buf.String())
	}
}

// TestBarred: a session admitted before its source was banned, or its
// network denied, is told to end, with the reason; an allowed network, a
// lifted or ended ban, a disabled or nil defender let it go on. Barred
// records no event: sessions ask it every few seconds.
func TestBarred(t *testing.T) {
	cfg := testConfig()
	cfg.Allow, _ = ParsePrefixes("192.0.2.0/24")
	cfg.Deny, _ = ParsePrefixes("203.0.113.0/24")
	backends(t, cfg, func(t *testing.T, e *env) {
		ctx := t.Context()
		if why := e.d.Barred(ctx, attacker); why != "" {
			t.Fatalf("barred before any ban: %q", why)
		}
		if _, err := e.d.Ban(ctx, attacker.String(), time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
		logged := e.log.Len()
		if why := e.d.Barred(ctx, attacker); !strings.HasPrefix(why, "source banned until ") {
			t.Fatalf("a banned source: %q", why)
		}
		if e.log.Len() != logged {
			t.Errorf("Barred logged: %s", e.log.String()[logged:])
		}
		if why := e.d.Barred(ctx, netip.MustParseAddr("::ffff:"+attacker.String())); why == "" {
			t.Error("the banned source as an IPv4-mapped address goes on")
		}
		if why := e.d.Barred(ctx, netip.MustParseAddr("203.0.113.4")); why != "network denied" {
			t.Errorf("a denied network: %q", why)
		}
		if _, err := e.d.Ban(ctx, owner.String(), time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
		if why := e.d.Barred(ctx, owner); why != "" {
			t.Errorf("an allowed network barred: %q", why)
		}
		e.clock.add(time.Hour + time.Second)
		if why := e.d.Barred(ctx, attacker); why != "" {
			t.Errorf("barred after the ban ended: %q", why)
		}
		if why := e.d.Barred(ctx, netip.Addr{}); why != "" {
			t.Errorf("an unknown address barred: %q", why)
		}
		var nilD *Defender
		if nilD.Barred(ctx, attacker) != "" {
			t.Error("a nil defender bars")
		}
	})
}

// TestBarredAcrossNodes: a node that read sources as not banned reads
// them again only once a ban is made, on any node, its clock up to a
// minute off; until then the newest ban answers for all of them.
func TestBarredAcrossNodes(t *testing.T) {
	cfg := DefaultConfig() // a 2 s cache, as in production
	backends(t, cfg, func(t *testing.T, a *env) {
		ctx := t.Context()
		b := newEnv(t, cfg, a.db)
		b.clock.t = a.clock.t.Add(-30 * time.Second) // b's clock runs 30 s behind
		sources := make([]netip.Addr, 50)
		for i := range sources {
			sources[i] = netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
			if why := a.d.Barred(ctx, sources[i]); why != "" {
				t.Fatalf("%v barred before any ban: %q", sources[i], why)
			}
		}
		// Long after, with no ban anywhere: no source is read again.
		a.clock.add(10 * time.Minute)
		b.clock.add(10 * time.Minute)
		for _, s := range sources {
			a.d.Barred(ctx, s)
			a.clock.add(time.Millisecond) // a source read now would show it
		}
		a.d.mu.Lock()
		for _, s := range sources {
			if c := a.d.bans[SourceOf(s)]; !c.read.Equal(a.d.newest.read) {
				t.Fatalf("%v was read again (at %v, the newest ban at %v)", s, c.read, a.d.newest.read)
			}
		}
		a.d.mu.Unlock()
		// b bans one of them: a sees it after its cache time.
		if _, err := b.d.Ban(ctx, sources[7].String(), time.Hour, "from the other node"); err != nil {
			t.Fatal(err)
		}
		a.clock.add(cfg.CacheTTL)
		if why := a.d.Barred(ctx, sources[7]); !strings.HasPrefix(why, "source banned") {
			t.Fatalf("a ban made on a node whose clock is 30 s behind is not seen: %q", why)
		}
		if why := a.d.Barred(ctx, sources[8]); why != "" {
			t.Fatalf("another source barred: %q", why)
		}
		// Lifted on b: a admits it again after its cache time.
		if _, err := b.d.Unban(ctx, sources[7].String()); err != nil {
			t.Fatal(err)
		}
		a.clock.add(cfg.CacheTTL)
		if why := a.d.Barred(ctx, sources[7]); why != "" {
			t.Fatalf("barred after the ban was lifted: %q", why)
		}
	})
}
