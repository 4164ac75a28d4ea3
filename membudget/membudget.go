// Package membudget bounds the memory that the transfer buffers of a pier
// node hold together — S3 part buffers, upload buffers, read windows —
// with one Budget, and keeps those buffers in a pool so that a burst of
// transfers reuses them instead of leaving garbage behind.
//
// A transfer first takes its admission share (Admit): at most half the
// budget goes to admission shares, and a transfer that finds no room
// waits up to a few seconds, then is refused with ErrBusy, which front
// ends turn into "server busy, retry". An admitted transfer that needs
// more as it goes (an upload that outgrows its first buffer needs a part
// buffer) takes it with Grow, which waits as long as it must: every
// holder of growth memory finishes without needing more, and admission
// shares never take more than half, so some growth is always possible
// and no set of transfers can wait on each other for ever.
//
// Free buffers stay in the pool while transfers come and go; after a
// quiet period (Config.Idle) the pool drops them and the memory goes
// back to the operating system.
package membudget

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"
)

// ErrBusy refuses a transfer that found no memory within its wait. Front
// ends answer it as "server busy, retry later" (SFTP failure text, HTTP
// 503 with Retry-After).
var ErrBusy = errors.New("server busy: too many transfers at once, retry later")

// Config is a budget's size and timing.
type Config struct {
	// Limit is the bytes all transfer buffers may hold together.
	Limit int64
	// AdmitWait is how long a new transfer waits for room before ErrBusy.
	AdmitWait time.Duration
	// Idle is how long free buffers stay pooled after the last one came
	// back; then they are dropped and the memory returned to the system.
	Idle time.Duration
}

// Stats is a snapshot of a budget.
type Stats struct {
	Limit    int64
	Used     int64 // bytes held by transfers
	Admitted int64 // of Used, admission shares
	Pooled   int64 // bytes of free buffers kept for reuse
	Waiting  int   // transfers waiting for memory now
	Waits    int64 // transfers that had to wait, since start
	Refused  int64 // transfers refused with ErrBusy, since start
}

// Budget is a bound on transfer memory with a pool of buffers. The zero
// value is not usable; a nil *Budget imposes no bound and pools nothing.
type Budget struct {
	cfg Config

	mu       sync.Mutex
	used     int64
	admitted int64
	pooled   int64
	free     map[int][][]byte // free buffers by length
	queue    []*waiter        // in arrival order
	waits    int64
	refused  int64
	trim     *time.Timer
}

type waiter struct {
	n     int64
	admit bool
	ready chan struct{} // closed when granted
	done  bool          // granted or given up; under Budget.mu
}

// New returns a budget of cfg.Limit bytes.
func New(cfg Config) *Budget {
	if cfg.Idle <= 0 {
		cfg.Idle = 10 * time.Second
	}
	b := &Budget{cfg: cfg, free: map[int][][]byte{}}
	b.trim = time.AfterFunc(time.Hour, b.drop)
	b.trim.Stop()
	return b
}

// Limit is the budget's size; 0 for a nil budget.
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.cfg.Limit
}

// Stats reports what the budget holds now.
func (b *Budget) Stats() Stats {
	if b == nil {
		return Stats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Limit: b.cfg.Limit, Used: b.used, Admitted: b.admitted, Pooled: b.pooled,
		Waiting: len(b.queue), Waits: b.waits, Refused: b.refused}
}

// fits reports whether n more bytes fit, counting pooled buffers as
// droppable. Admission shares also stay within half the limit. A request
// larger than the limit fits only an empty budget, so it is never
// refused for ever.
func (b *Budget) fits(n int64, admit bool) bool {
	if admit && b.admitted+n > b.cfg.Limit/2 && b.admitted > 0 {
		return false
	}
	return b.used+n <= b.cfg.Limit || b.used == 0
}

// take books n bytes, dropping pooled buffers to make room; b.mu held.
func (b *Budget) take(n int64, admit bool) {
	b.used += n
	if admit {
		b.admitted += n
	}
	for b.used+b.pooled > b.cfg.Limit && b.pooled > 0 {
		for size, bufs := range b.free {
			if len(bufs) == 0 {
				delete(b.free, size)
				continue
			}
			b.free[size] = bufs[:len(bufs)-1]
			b.pooled -= int64(size)
			break
		}
	}
}

// reserve books n bytes: at once when they fit and nobody waits before,
// else after waiting up to wait (0: until ctx ends).
func (b *Budget) reserve(ctx context.Context, n int64, admit bool, wait time.Duration) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	if b.first(admit) && b.fits(n, admit) {
		b.take(n, admit)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, admit: admit, ready: make(chan struct{})}
	b.queue = append(b.queue, w)
	b.waits++
	b.mu.Unlock()

	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = context.Cause(ctx)
	case <-timeout:
		err = ErrBusy
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.done { // granted meanwhile: keep it
		return nil
	}
	w.done = true
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			break
		}
	}
	if errors.Is(err, ErrBusy) {
		b.refused++
	}
	b.grant() // those behind it may fit now
	return err
}

// first reports whether a new request would be first in line: nobody
// waits before an admission, no growth before a growth (growth passes
// waiting admissions: it lets admitted transfers finish); b.mu held.
func (b *Budget) first(admit bool) bool {
	if admit {
		return len(b.queue) == 0
	}
	for _, w := range b.queue {
		if !w.admit {
			return false
		}
	}
	return true
}

// grant wakes waiters while they fit, in order: growth requests in
// arrival order before anything behind them, admissions in arrival
// order among themselves; b.mu held.
func (b *Budget) grant() {
	admitBlocked := false
	for i := 0; i < len(b.queue); {
		w := b.queue[i]
		if w.admit && admitBlocked {
			i++
			continue
		}
		if !b.fits(w.n, w.admit) {
			if !w.admit {
				return
			}
			admitBlocked = true
			i++
			continue
		}
		b.queue = append(b.queue[:i], b.queue[i+1:]...)
		w.done = true
		b.take(w.n, w.admit)
		close(w.ready)
	}
}

// Admit books a new transfer's first n bytes, waiting up to the
// budget's AdmitWait, then failing with ErrBusy (or ctx's error). The
// transfer gives them back with Release(n, true).
func (b *Budget) Admit(ctx context.Context, n int64) error {
	if b == nil {
		return nil
	}
	return b.reserve(ctx, n, true, b.cfg.AdmitWait)
}

// Grow books n more bytes for an admitted transfer, waiting until they
// fit or ctx ends. The transfer gives them back with Release(n, false).
func (b *Budget) Grow(ctx context.Context, n int64) error {
	return b.reserve(ctx, n, false, 0)
}

// TryGrow books n more bytes if they fit at once and no one waits.
func (b *Budget) TryGrow(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.first(false) || !b.fits(n, false) || b.used == 0 && n > b.cfg.Limit {
		return false
	}
	b.take(n, false)
	return true
}

// Release gives back n bytes booked by Admit (admit set) or Grow.
func (b *Budget) Release(n int64, admit bool) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if admit {
		b.admitted -= n
	}
	b.grant()
}

// Buffer returns a buffer of size bytes whose memory is already booked
// (by Admit, Grow or TryGrow): a pooled one when there is one.
func (b *Budget) Buffer(size int) []byte {
	if b != nil {
		b.mu.Lock()
		if bufs := b.free[size]; len(bufs) > 0 {
			buf := bufs[len(bufs)-1]
			b.free[size] = bufs[:len(bufs)-1]
			b.pooled -= int64(size)
			b.mu.Unlock()
			return buf
		}
		b.mu.Unlock()
	}
	return make([]byte, size)
}

// Recycle puts a buffer from Buffer back into the pool and releases its
// booking, as Release(len(buf), admit) does.
func (b *Budget) Recycle(buf []byte, admit bool) {
	if b == nil || buf == nil {
		return
	}
	buf = buf[:cap(buf)]
	b.mu.Lock()
	defer b.mu.Unlock()
	n := int64(len(buf))
	b.used -= n
	if admit {
		b.admitted -= n
	}
	if b.used+b.pooled+n <= b.cfg.Limit {
		b.free[len(buf)] = append(b.free[len(buf)], buf)
		b.pooled += n
	}
	b.grant()
	b.trim.Reset(b.cfg.Idle)
}

// drop empties the pool after a quiet period and returns the memory to
// the operating system.
func (b *Budget) drop() {
	b.mu.Lock()
	dropped := b.pooled
	if b.used > 0 {
		// Transfers still run: keep the pool for them, look again later.
		b.trim.Reset(b.cfg.Idle)
		b.mu.Unlock()
		return
	}
	clear(b.free)
	b.pooled = 0
	b.mu.Unlock()
	if dropped > 0 {
		debug.FreeOSMemory()
	}
}
