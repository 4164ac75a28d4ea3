package defender

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config sets what the defender scores, when it bans and how it guards
// accounts. The zero value is a disabled defender; DefaultConfig is on.
type Config struct {
	// Enabled turns the defender on. Off, every source is admitted and
	// nothing is recorded (the deny list still holds).
	Enabled bool

	// Scores a source earns for each failure of the kind.
	ScoreUnknownLogin  int // a login that names no account
	ScoreWrongPassword int // a wrong password, code or app password
	ScoreNoAuth        int // an SSH handshake that never tried to authenticate
	ScoreMalformed     int // a protocol error: not SSH, a broken packet, a garbled header
	// Threshold is the score within Window at which a source is banned.
	Threshold int
	Window    time.Duration
	// BanTime is a source's first ban; each ban that follows one ended
	// within BanMemory doubles it, up to MaxBanTime.
	BanTime    time.Duration
	MaxBanTime time.Duration
	BanMemory  time.Duration

	// Guessing against one account from any number of sources: after
	// AccountSlow failures within AccountWindow every further failure
	// waits longer (up to MaxDelay); after AccountBlock, guessable
	// credentials (password, code) are refused unchecked from sources
	// where the account never logged in. A key or certificate, or a
	// source the account logged in from before, still works.
	AccountSlow   int
	AccountBlock  int
	AccountWindow time.Duration

	// Delay is added to every failed authentication; MaxDelay bounds it
	// once an account is slowed.
	Delay    time.Duration
	MaxDelay time.Duration

	// Allow lists networks never scored or banned (monitoring, the
	// office); Deny lists networks always refused.
	Allow []netip.Prefix
	Deny  []netip.Prefix

	// CacheTTL is how long a node trusts what it read of bans and account
	// scores before reading again: bans reach every node within it.
	CacheTTL time.Duration
}

// DefaultConfig returns the defaults: on; a source is banned after 15
// wrong passwords (or about 7 unknown logins) within 10 minutes, for 15
// minutes, doubling on repeat up to a day; an account is slowed after 5
// failures from anywhere within 30 minutes and guarded after 20; each
// failure waits 1 s.
func DefaultConfig() Config {
	return Config{
		Enabled:           true,
		ScoreUnknownLogin: 2, ScoreWrongPassword: 1, ScoreNoAuth: 1, ScoreMalformed: 3,
		Threshold: 15, Window: 10 * time.Minute,
		BanTime: 15 * time.Minute, MaxBanTime: 24 * time.Hour, BanMemory: 24 * time.Hour,
		AccountSlow: 5, AccountBlock: 20, AccountWindow: 30 * time.Minute,
		Delay: time.Second, MaxDelay: 8 * time.Second,
		CacheTTL: 2 * time.Second,
	}
}

// Validate reports settings that cannot work, naming the flags.
func (c *Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"--defender-threshold", c.Threshold}, {"--defender-account-slow", c.AccountSlow}, {"--defender-account-block", c.AccountBlock}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, not %d", f.name, f.v))
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"--defender-window", c.Window}, {"--defender-ban", c.BanTime}, {"--defender-account-window", c.AccountWindow}, {"defender CacheTTL", c.CacheTTL}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, not %v", f.name, f.v))
		}
	}
	if c.ScoreUnknownLogin < 0 || c.ScoreWrongPassword < 0 || c.ScoreNoAuth < 0 || c.ScoreMalformed < 0 {
		errs = append(errs, errors.New("defender: scores must not be negative"))
	}
	if c.Delay < 0 || c.MaxDelay < c.Delay {
		errs = append(errs, fmt.Errorf("--defender-delay: %v must be between 0 and the maximum delay %v", c.Delay, c.MaxDelay))
	}
	if c.MaxBanTime < c.BanTime {
		errs = append(errs, fmt.Errorf("--defender-max-ban: %v is shorter than --defender-ban %v", c.MaxBanTime, c.BanTime))
	}
	if c.AccountBlock < c.AccountSlow {
		errs = append(errs, fmt.Errorf("--defender-account-block: %d is below --defender-account-slow %d", c.AccountBlock, c.AccountSlow))
	}
	if c.BanMemory < 0 {
		errs = append(errs, errors.New("defender: BanMemory must not be negative"))
	}
	return errors.Join(errs...)
}

// ParsePrefixes reads "10.0.0.0/8,192.0.2.7,2001:db8::/32"; a bare
// address is that one host.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a network or address", part)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network (want e.g. 192.0.2.0/24)", part)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
