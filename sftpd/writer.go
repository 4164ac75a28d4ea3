package sftpd

import (
	"errors"
	"fmt"
	"sync"
)

// errOutOfOrder refuses writes that a streaming upload cannot take: a gap
// larger than the reorder window, a rewrite of bytes already written, or a
// resume at an offset. The file is then not published.
var errOutOfOrder = errors.New("random or resumed writes are not supported: upload the file sequentially from the start")

// errBusy refuses an upload when the server's budget for early chunks,
// shared by all uploads, is spent: better a clear error than running out
// of memory under many concurrent uploads.
var errBusy = errors.New("server busy: too many uploads in progress, try again later")

// budget bounds the bytes all reorder writers of a server hold at once.
type budget struct {
	mu   sync.Mutex
	size int64
	left int64
}

// held reports the bytes taken and not given back.
func (b *budget) held() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.left
}

func (b *budget) take(n int) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left < int64(n) {
		return false
	}
	b.left -= int64(n)
	return true
}

func (b *budget) give(n int) {
	if b != nil {
		b.mu.Lock()
		b.left += int64(n)
		b.mu.Unlock()
	}
}

// uploadStream is where ordered bytes go: an authfs upload.
type uploadStream interface {
	Write(p []byte) (int, error)
}

// reorderWriter turns pkg/sftp's concurrent WriteAt calls (its workers
// deliver about half of them out of order) into one sequential stream. It
// holds early chunks until the gap before them is filled, up to window
// bytes; beyond that it fails the upload rather than grow.
type reorderWriter struct {
	mu      sync.Mutex
	w       uploadStream
	next    int64            // offset of the next byte the stream expects
	pending map[int64][]byte // early chunks by offset, copied
	held    int              // bytes in pending
	window  int
	err     error    // sticky
	free    [][]byte // buffers of drained chunks, reused for early ones
	budget  *budget  // shared by the server's uploads; nil: unbounded
}

func newReorderWriter(w uploadStream, window int, b *budget) *reorderWriter {
	return &reorderWriter{w: w, pending: map[int64][]byte{}, window: window, budget: b}
}

// WriteAt accepts p at off. pkg/sftp may reuse p after WriteAt returns
// (WithRSAllocator), so held chunks are copied.
func (r *reorderWriter) WriteAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	switch {
	case off == r.next:
		if err := r.write(p); err != nil {
			return 0, err
		}
		return len(p), r.drain()
	case off < r.next:
		r.err = fmt.Errorf("%w (rewrite at offset %d)", errOutOfOrder, off)
		return 0, r.err
	}
	if _, dup := r.pending[off]; dup || r.held+len(p) > r.window || off-r.next > int64(r.window) {
		r.err = fmt.Errorf("%w (write at offset %d, expected %d)", errOutOfOrder, off, r.next)
		return 0, r.err
	}
	if !r.budget.take(len(p)) {
		r.err = errBusy
		return 0, r.err
	}
	r.pending[off] = append(r.buffer(len(p)), p...)
	r.held += len(p)
	return len(p), nil
}

func (r *reorderWriter) write(p []byte) error {
	n, err := r.w.Write(p)
	r.next += int64(n)
	if err != nil {
		r.err = err
	}
	return err
}

// drain writes held chunks that have become contiguous.
func (r *reorderWriter) drain() error {
	for {
		chunk, ok := r.pending[r.next]
		if !ok {
			return nil
		}
		delete(r.pending, r.next)
		r.held -= len(chunk)
		r.budget.give(len(chunk))
		if err := r.write(chunk); err != nil {
			return err
		}
		if len(r.free) < 256 {
			r.free = append(r.free, chunk[:0])
		}
	}
}

// buffer returns an empty buffer for n bytes, reusing a drained one: about
// half of all chunks arrive early, and a fresh slice for each made the
// garbage of an upload as large as the upload.
func (r *reorderWriter) buffer(n int) []byte {
	for i := len(r.free) - 1; i >= 0; i-- {
		if b := r.free[i]; cap(b) >= n {
			r.free[i] = r.free[len(r.free)-1]
			r.free = r.free[:len(r.free)-1]
			return b
		}
	}
	return make([]byte, 0, n)
}

// written returns how many bytes the stream has taken, and whether no
// early chunk is waiting (only then is that the file's size).
func (r *reorderWriter) written() (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next, len(r.pending) == 0
}

// finish reports whether the stream is complete: no failure and no gap.
func (r *reorderWriter) finish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.release()
	if r.err == nil && len(r.pending) > 0 {
		r.err = fmt.Errorf("%w (a gap before offset %d)", errOutOfOrder, r.next)
	}
	return r.err
}

// release returns what failed uploads still hold to the budget.
func (r *reorderWriter) release() {
	for off, chunk := range r.pending {
		r.budget.give(len(chunk))
		delete(r.pending, off)
	}
	r.held = 0
}

// abandon gives up the stream (the session ended with the file open).
func (r *reorderWriter) abandon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
	if r.err == nil {
		r.err = errors.New("upload abandoned")
	}
}
