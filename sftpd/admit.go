package sftpd

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// errHandshakeQueue ends a handshake that waited HandshakeWait in vain for
// a slot, or was waiting when the server shut down.
var errHandshakeQueue = errors.New("no handshake slot free in time")

// admission decides which connections may start and finish a handshake.
//
// Key exchange and authentication, which cost CPU and memory, run in
// MaxHandshakes slots, of which one source (an IPv4 address or an IPv6
// /64) may hold MaxHandshakesPerSource. A connection takes its slots only
// once its version line has arrived, so idle sockets hold none (and are
// cut at BannerTimeout); a connection that finds no slot waits up to
// HandshakeWait, so that a burst of honest clients, even from one
// address behind NAT, queues instead of being refused. What waits or
// idles is bounded too: MaxUnauthenticatedPerSource per source and
// MaxUnauthenticated in all; beyond them a new connection is closed at
// once. One source thus cannot starve the others.
type admission struct {
	perSource     int // connections not yet authenticated
	perSourceSlot int // handshake slots
	total         int
	wait          time.Duration
	slots         chan struct{}
	quit          <-chan struct{} // closed at shutdown
	log           *slog.Logger

	mu      sync.Mutex
	pending int
	full    refusals // refused because everything together is at its limit
	sources map[netip.Prefix]*source
}

// source is what admission keeps of one source with connections not yet
// authenticated; it goes when the last of them does.
type source struct {
	pending int
	slots   chan struct{} // the source's share of admission.slots
	refusals
}

// refusals counts refused connections between log lines.
type refusals struct {
	n      int       // since the last log line
	logged time.Time // last log line
}

// refusalLogEvery throttles the log lines about refused connections: an
// attacker reopening sockets must not flood the log.
const refusalLogEvery = 10 * time.Second

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

func newAdmission(cfg Config, quit <-chan struct{}, log *slog.Logger) *admission {
	return &admission{perSource: cfg.MaxUnauthenticatedPerSource, perSourceSlot: cfg.MaxHandshakesPerSource,
		total: cfg.MaxUnauthenticated, wait: cfg.HandshakeWait, slots: make(chan struct{}, cfg.MaxHandshakes),
		quit: quit, log: log, sources: map[netip.Prefix]*source{}}
}

// enter admits a new connection from src, or refuses it (and logs why,
// at most every refusalLogEvery). An admitted one must leave.
func (a *admission) enter(src netip.Prefix, from string) (*source, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sources[src]
	switch {
	case s != nil && s.pending >= a.perSource:
		if n := s.note(); n > 0 {
			a.log.Warn("too many unauthenticated connections from one source; refused",
				"from", from, "source", src.String(), "limit", a.perSource, "refused", n)
		}
		return nil, false
	case a.pending >= a.total:
		if n := a.full.note(); n > 0 {
			a.log.Warn("too many unauthenticated connections; refused", "from", from, "limit", a.total, "refused", n)
		}
		return nil, false
	}
	if s == nil {
		s = &source{slots: make(chan struct{}, a.perSourceSlot)}
		a.sources[src] = s
	}
	s.pending++
	a.pending++
	return s, true
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

// acquire waits up to HandshakeWait for a slot of the source and one of
// the server; release gives both back.
func (a *admission) acquire(s *source) error {
	t := time.NewTimer(a.wait)
	defer t.Stop()
	if !a.take(s.slots, t.C) {
		return errHandshakeQueue
	}
	if !a.take(a.slots, t.C) {
		<-s.slots
		return errHandshakeQueue
	}
	return nil
}

// take waits for a place in slots until timeout or shutdown.
func (a *admission) take(slots chan struct{}, timeout <-chan time.Time) bool {
	select {
	case slots <- struct{}{}:
		return true
	case <-timeout:
	case <-a.quit:
	}
	return false
}

func (a *admission) release(s *source) {
	<-a.slots
	<-s.slots
}

// counts reports the connections not yet authenticated and the
// handshake slots in use.
func (a *admission) counts() (pending, handshakes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending, len(a.slots)
}
