package sftpd

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// errOutOfOrder refuses writes that a streaming upload cannot take: a gap
// larger than the reorder window, a rewrite of bytes already written, or a
// resume at an offset. The file is then not published.
var errOutOfOrder = errors.New("random or resumed writes are not supported: upload the file sequentially from the start")

// uploadStream is where ordered bytes go: an authfs upload.
type uploadStream interface {
	Write(p []byte) (int, error)
}

// gapWait is how long an early write waits for the bytes before it while
// nothing is written: longer, the gap is taken for a random write.
const gapWait = 5 * time.Second

// reorderWriter turns pkg/sftp's concurrent WriteAt calls into one
// sequential stream. Its workers (eight per session) take a client's
// requests in order but finish them in any order, so about half of all
// writes arrive before the one they follow. Such an early write waits,
// holding its worker, until the bytes before it are written, then writes
// its own bytes straight from the packet: nothing is copied or held
// aside. The write it waits for has always been taken by another worker
// already (they take requests in order), so the wait is short — unless
// the client really left a gap: a write more than window bytes ahead
// fails at once, and one whose gap stays unfilled for gapWait while no
// other write is under way fails then.
type reorderWriter struct {
	mu       sync.Mutex
	w        uploadStream
	next     int64 // offset of the next byte the stream expects
	window   int
	err      error                   // sticky
	waiting  map[int64]chan struct{} // early writes by offset, waiting for their turn
	progress time.Time               // when a write last ended
}

func newReorderWriter(w uploadStream, window int) *reorderWriter {
	return &reorderWriter{w: w, window: window, waiting: map[int64]chan struct{}{}, progress: time.Now()}
}

// WriteAt writes p at off once every byte before off is written. pkg/sftp
// may reuse p after WriteAt returns (WithRSAllocator); it is written
// before that.
func (r *reorderWriter) WriteAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	switch {
	case off < r.next:
		return 0, r.fail(fmt.Errorf("%w (rewrite at offset %d)", errOutOfOrder, off))
	case off > r.next:
		if err := r.await(off); err != nil {
			return 0, err
		}
	}
	// r.mu is held while w writes: a waiter sees the write only once it
	// is done, with its progress.
	n, err := r.w.Write(p)
	r.next += int64(n)
	r.progress = time.Now()
	if err != nil {
		return n, r.fail(err)
	}
	if turn, ok := r.waiting[r.next]; ok {
		delete(r.waiting, r.next)
		close(turn)
	}
	return n, nil
}

// await waits, with r.mu held on entry and on return, until off is the
// next offset to write.
func (r *reorderWriter) await(off int64) error {
	if _, dup := r.waiting[off]; dup || off-r.next > int64(r.window) {
		return r.fail(fmt.Errorf("%w (write at offset %d, expected %d)", errOutOfOrder, off, r.next))
	}
	turn := make(chan struct{})
	r.waiting[off] = turn
	tick := time.NewTicker(gapWait / 4)
	defer tick.Stop()
	for {
		r.mu.Unlock()
		select {
		case <-turn:
		case <-tick.C:
		}
		r.mu.Lock()
		if r.err != nil {
			return r.err
		}
		if off == r.next {
			return nil
		}
		if off < r.next {
			delete(r.waiting, off)
			return r.fail(fmt.Errorf("%w (rewrite at offset %d)", errOutOfOrder, off))
		}
		if time.Since(r.progress) >= gapWait {
			delete(r.waiting, off)
			return r.fail(fmt.Errorf("%w (a gap before offset %d)", errOutOfOrder, off))
		}
	}
}

// fail makes err the stream's error and wakes every waiting write to
// return it; r.mu held.
func (r *reorderWriter) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	for off, turn := range r.waiting {
		delete(r.waiting, off)
		close(turn)
	}
	return r.err
}

// written returns how many bytes the stream has taken, and whether no
// early write is waiting (only then is that the file's size).
func (r *reorderWriter) written() (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next, len(r.waiting) == 0
}

// finish reports whether the stream is complete: no failure and no gap.
func (r *reorderWriter) finish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil && len(r.waiting) > 0 {
		return r.fail(fmt.Errorf("%w (a gap before offset %d)", errOutOfOrder, r.next))
	}
	return r.err
}

// abandon gives up the stream (the session ended with the file open).
func (r *reorderWriter) abandon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail(errors.New("upload abandoned"))
}
