package sftpd

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// errHandshakeQueue ends a handshake that waited HandshakeWait in vain for
// a slot, or was waiting when the server shut down.
var errHandshakeQueue = errors.New("no handshake slot free in time")

// admission decides which connections may start and finish a handshake.
// One source (an IPv4 address or an IPv6 /64) may hold only a few
// unauthenticated connections, so that it cannot starve the others;
// everything together may hold MaxUnauthenticated. Key exchange and
// authentication, which cost CPU and memory, run in MaxHandshakes slots
// that a connection takes only once its version line has arrived: idle
// sockets wait outside, cut at BannerTimeout, and bursts of honest
// clients queue for a slot instead of being refused.
type admission struct {
	perSource, total int
	wait             time.Duration
	slots            chan struct{}
	quit             <-chan struct{} // closed at shutdown
	log              *slog.Logger

	mu      sync.Mutex
	pending int
	full    refusals // refused because everything together is at its limit
	sources map[netip.Prefix]*source
}

// source is what admission remembers of one source with connections in
// the handshake.
type source struct {
	pending int
	refusals
}

// refusals counts refused connections between log lines.
type refusals struct {
	n      int       // since the last log line
	logged time.Time // last log line
}

// note counts a refusal and reports how many to log, or 0 to stay quiet.
func (r *refusals) note() int {
	r.n++
	now := time.Now()
	if now.Sub(r.logged) < refusalLogEvery {
		return 0
	}
	n := r.n
	r.n, r.logged = 0, now
	return n
}

// refusalLogEvery throttles the log line about a source's refused
// connections: an attacker reopening sockets must not flood the log.
const refusalLogEvery = 10 * time.Second

func newAdmission(cfg Config, quit <-chan struct{}, log *slog.Logger) *admission {
	return &admission{perSource: cfg.MaxUnauthenticatedPerSource, total: cfg.MaxUnauthenticated,
		wait: cfg.HandshakeWait, slots: make(chan struct{}, cfg.MaxHandshakes), quit: quit, log: log,
		sources: map[netip.Prefix]*source{}}
}

// sourceOf groups addresses the way one attacker holds them: an IPv4
// address alone, an IPv6 address with its /64. Addresses that are not IP
// (pipes in tests) share one group.
func sourceOf(a net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// enter admits a new connection from src, or refuses it (and logs why,
// at most every refusalLogEvery per source). An admitted one must leave.
func (a *admission) enter(src netip.Prefix, from string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sources[src]
	if s == nil {
		s = &source{}
		a.sources[src] = s
	}
	switch {
	case s.pending >= a.perSource:
		if n := s.note(); n > 0 {
			a.log.Warn("too many unauthenticated connections from one source; refused",
				"from", from, "source", src.String(), "limit", a.perSource, "refused", n)
		}
		return false
	case a.pending >= a.total:
		if s.pending == 0 {
			delete(a.sources, src)
		}
		if n := a.full.note(); n > 0 {
			a.log.Warn("too many unauthenticated connections; refused", "from", from, "limit", a.total, "refused", n)
		}
		return false
	}
	s.pending++
	a.pending++
	return true
}

// leave ends what enter admitted: the handshake is over.
func (a *admission) leave(src netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending--
	if s := a.sources[src]; s != nil {
		if s.pending--; s.pending == 0 {
			delete(a.sources, src)
		}
	}
}

// acquire waits up to HandshakeWait for a handshake slot; release gives
// it back.
func (a *admission) acquire() error {
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-t.C:
	case <-a.quit:
	}
	return errHandshakeQueue
}

func (a *admission) release() { <-a.slots }

// counts reports the connections in the handshake and the slots in use.
func (a *admission) counts() (pending, handshakes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending, len(a.slots)
}
