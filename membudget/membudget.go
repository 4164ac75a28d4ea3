// Package membudget bounds the memory that the transfer buffers of a pier
// node hold together — S3 part buffers, upload buffers, read windows —
// with one Budget, and keeps those buffers in a pool so that a burst of
// transfers reuses them instead of leaving garbage behind.
//
// Memory is booked in three classes, so that transfers waiting for
// memory never wait on each other for ever:
//
//   - Admission: every transfer first books its share (Admit). Shares take
//     at most half the budget; a transfer that finds no room waits up to
//     Config.AdmitWait, then is refused with ErrBusy, which front ends
//     answer as "server busy, retry".
//   - Small: an upload's first buffer (a blob that may still fit in one
//     PUT). Small buffers take at most a quarter of the budget; an upload
//     waits for one holding nothing but its share.
//   - Large: part buffers and read windows, from the rest. An upload that
//     outgrows its small buffer waits for a part buffer holding the small
//     one; holders of large buffers finish without waiting for more, and
//     the other classes can never take all of the budget, so large
//     buffers always come free again.
//
// Growth waits as long as it must (until its context ends). Free buffers
// stay in the pool while transfers come and go; after a quiet period
// (Config.Idle) the pool drops them and the memory goes back to the
// operating system.
package membudget

import (
	"context"
	"errors"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrBusy refuses a transfer that found no memory within its wait. Front
// ends answer it as "server busy, retry later" (SFTP failure text, HTTP
// 503 with Retry-After).
var ErrBusy = errors.New("server busy: too many transfers at once, retry later")

// Class is the kind of memory a booking is for.
type Class uint8

const (
	Admission Class = iota // a transfer's share, booked on admission
	Small                  // an upload's first buffer
	Large                  // part buffers, read windows
)

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
	Small    int64 // of Used, small buffers
	Pooled   int64 // bytes of free buffers kept for reuse
	Waiting  int   // transfers waiting for memory now
	Waits    int64 // bookings that had to wait, since start
	Refused  int64 // transfers refused with ErrBusy, since start
}

// Budget is a bound on transfer memory with a pool of buffers. The zero
// value is not usable; a nil *Budget imposes no bound and pools nothing.
type Budget struct {
	cfg Config

	mu      sync.Mutex
	used    int64
	class   [3]int64 // used by class
	pooled  int64
	free    map[int][][]byte // free buffers by length
	queue   []*waiter        // in arrival order
	waits   int64
	refused int64
	trim    *time.Timer
}

type waiter struct {
	n     int64
	class Class
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
	return Stats{Limit: b.cfg.Limit, Used: b.used, Admitted: b.class[Admission], Small: b.class[Small],
		Pooled: b.pooled, Waiting: len(b.queue), Waits: b.waits, Refused: b.refused}
}

// capOf is the most a class may hold.
func (b *Budget) capOf(c Class) int64 {
	switch c {
	case Admission:
		return b.cfg.Limit / 2
	case Small:
		return b.cfg.Limit / 4
	}
	return b.cfg.Limit
}

// fits reports whether n more bytes of class c fit, counting pooled
// buffers as droppable. A request larger than its class may hold fits
// only when the class holds nothing, so it is never refused for ever.
func (b *Budget) fits(n int64, c Class) bool {
	if b.class[c]+n > b.capOf(c) && b.class[c] > 0 {
		return false
	}
	return b.used+n <= b.cfg.Limit || b.used == 0
}

// take books n bytes of class c, dropping pooled buffers to make room;
// b.mu held.
func (b *Budget) take(n int64, c Class) {
	b.used += n
	b.class[c] += n
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

// first reports whether a new request of class c would be first in line:
// nobody of its class or a later one waits (large before small before
// admission: each lets transfers admitted earlier go on); b.mu held.
func (b *Budget) first(c Class) bool {
	for _, w := range b.queue {
		if w.class >= c {
			return false
		}
	}
	return true
}

// reserve books n bytes of class c: at once when they fit and nobody
// waits before, else after waiting up to wait (0: until ctx ends).
func (b *Budget) reserve(ctx context.Context, n int64, c Class, wait time.Duration) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	if b.first(c) && b.fits(n, c) {
		b.take(n, c)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, class: c, ready: make(chan struct{})}
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

// grant wakes waiters that fit: each class in arrival order, and one
// that does not fit holds back those of its class and earlier classes
// behind it; b.mu held.
func (b *Budget) grant() {
	var blocked [3]bool
	for i := 0; i < len(b.queue); {
		w := b.queue[i]
		if blocked[Admission] && w.class == Admission || blocked[Small] && w.class <= Small || blocked[Large] {
			i++
			continue
		}
		if !b.fits(w.n, w.class) {
			blocked[w.class] = true
			i++
			continue
		}
		b.queue = append(b.queue[:i], b.queue[i+1:]...)
		w.done = true
		b.take(w.n, w.class)
		close(w.ready)
	}
}

// Admit books a new transfer's share of n bytes, waiting up to the
// budget's AdmitWait, then failing with ErrBusy (or ctx's error). The
// transfer gives it back with Release(n, Admission).
func (b *Budget) Admit(ctx context.Context, n int64) error {
	if b == nil {
		return nil
	}
	return b.reserve(ctx, n, Admission, b.cfg.AdmitWait)
}

// Grow books n bytes of class c (Small or Large) for an admitted
// transfer, waiting until they fit or ctx ends. The transfer gives them
// back with Release(n, c) or Recycle.
func (b *Budget) Grow(ctx context.Context, n int64, c Class) error {
	return b.reserve(ctx, n, c, 0)
}

// TryGrow books n large bytes if they fit at once and nobody waits for
// memory of any class: a transfer's optional second buffer.
func (b *Budget) TryGrow(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) > 0 || b.used+n > b.cfg.Limit {
		return false
	}
	b.take(n, Large)
	return true
}

// Contended reports whether anyone waits for memory.
func (b *Budget) Contended() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) > 0
}

// Release gives back n bytes of class c.
func (b *Budget) Release(n int64, c Class) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.class[c] -= n
	b.grant()
}

// Buffer returns a buffer of size bytes whose memory is already booked
// (by Grow or TryGrow): a pooled one when there is one.
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
// booking of class c, as Release(cap(buf), c) does.
func (b *Budget) Recycle(buf []byte, c Class) {
	if b == nil || cap(buf) == 0 {
		return
	}
	buf = buf[:cap(buf)]
	b.mu.Lock()
	defer b.mu.Unlock()
	n := int64(len(buf))
	b.used -= n
	b.class[c] -= n
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
	if b.used > b.class[Admission] {
		// Transfers still hold buffers: keep the pool, look again later.
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

// TransferShare is what every transfer books on admission, for the memory
// it holds outside its buffers (protocol packets, a WebDAV copy buffer).
// Half the budget for admission shares bounds the transfers running at
// once to Limit / 2 / TransferShare: 512 with a 128 MiB budget.
const TransferShare = 128 << 10

// Limits of DefaultLimit.
const (
	minDefault = 64 << 20
	maxDefault = 1 << 30
)

// DefaultLimit is the budget for a machine: a quarter of the Go memory
// limit when one is set (GOMEMLIMIT), else 1/192 of the memory the
// process may use (the machine's, or its cgroup's if less), between 64 MiB
// and 1 GiB: 128 MiB on a machine of 24 GiB.
func DefaultLimit() int64 {
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
		return max(lim/4, minDefault/2)
	}
	mem := systemMemory()
	if mem <= 0 {
		return 128 << 20
	}
	return min(max(mem/192, minDefault), maxDefault)
}

// systemMemory is the memory this process may use: MemTotal, or the
// cgroup v2 limit when lower; 0 when unknown.
func systemMemory() int64 {
	var total int64
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				total = kb << 10
			}
		}
	}
	if data, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}
