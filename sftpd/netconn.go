package sftpd

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// batchConn cuts the system calls of an SSH connection. x/crypto/ssh
// writes every packet with its own write: one call per 32 KiB of a
// download and one per status reply of an upload (32,768 per GiB). Writes
// here are queued and sent by a goroutine of the connection, which sends
// everything queued while it was busy in one call. Reads fill a buffer of
// readChunk bytes, where x/crypto/ssh's own 4 KiB reader made two or
// three calls per packet.
//
// A Write returns once its bytes are queued; an error of the network
// surfaces on a later Write (the connection is then broken anyway). At
// most maxQueued bytes wait, beyond which Write waits. Close sends what
// is queued first, for at most closeFlush.
//
// Until start is called (once the client has authenticated) reads and
// writes go straight through, so that connections that never log in hold
// neither buffer nor goroutine.
type batchConn struct {
	net.Conn
	batching atomic.Bool

	rbuf       []byte // read but not yet returned: rbuf[rpos:rend]; the reader's alone
	rpos, rend int

	mu      sync.Mutex
	cond    sync.Cond // queue changes
	queue   []byte    // written, not yet sent
	sending bool
	err     error // of the last send; sticky
	closed  bool
	done    chan struct{} // closed when the sender has ended
}

const (
	readChunk  = 64 << 10
	maxQueued  = 256 << 10
	closeFlush = time.Second
)

var queuePool = sync.Pool{New: func() any { b := make([]byte, 0, maxQueued); return &b }}

func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c, done: make(chan struct{})}
	b.cond.L = &b.mu
	return b
}

// start turns batching on.
func (b *batchConn) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.batching.Load() {
		return
	}
	b.batching.Store(true)
	go b.sender()
}

func (b *batchConn) Read(p []byte) (int, error) {
	if !b.batching.Load() {
		return b.Conn.Read(p)
	}
	if b.rpos < b.rend {
		n := copy(p, b.rbuf[b.rpos:b.rend])
		b.rpos += n
		return n, nil
	}
	if len(p) >= readChunk {
		return b.Conn.Read(p)
	}
	if b.rbuf == nil {
		b.rbuf = make([]byte, readChunk)
	}
	n, err := b.Conn.Read(b.rbuf)
	b.rpos, b.rend = 0, n
	m := copy(p, b.rbuf[:n])
	b.rpos = m
	return m, err
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.batching.Load() {
		// Straight through, under the lock: nothing queued later can pass it.
		return b.Conn.Write(p)
	}
	for b.err == nil && !b.closed && len(b.queue) > 0 && len(b.queue)+len(p) > maxQueued {
		b.cond.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.closed {
		return 0, net.ErrClosed
	}
	if b.queue == nil {
		b.queue = (*queuePool.Get().(*[]byte))[:0]
	}
	b.queue = append(b.queue, p...)
	b.cond.Broadcast()
	return len(p), nil
}

// sender sends the queue, all of it in one write, until the connection
// closes.
func (b *batchConn) sender() {
	defer close(b.done)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for len(b.queue) == 0 && !b.closed {
			b.cond.Wait()
		}
		if len(b.queue) == 0 {
			return
		}
		if len(b.queue) < maxQueued/2 && !b.closed {
			// Let the goroutines that are about to write (the next
			// replies, the next data packets) run first: one call then
			// sends them all.
			b.mu.Unlock()
			runtime.Gosched()
			b.mu.Lock()
		}
		out := b.queue
		b.queue = nil
		b.sending = true
		b.mu.Unlock()
		_, err := b.Conn.Write(out)
		b.mu.Lock()
		b.sending = false
		if cap(out) == maxQueued {
			queuePool.Put(&out)
		}
		if err != nil && b.err == nil {
			b.err = err
		}
		b.cond.Broadcast()
		if b.err != nil {
			return
		}
	}
}

// Close sends what is queued (a disconnect message, the last replies),
// waiting at most closeFlush, then closes the connection.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return b.Conn.Close()
	}
	b.closed = true
	batching := b.batching.Load()
	b.cond.Broadcast()
	b.mu.Unlock()
	if batching {
		select {
		case <-b.done:
		case <-time.After(closeFlush):
		}
	}
	return b.Conn.Close()
}
