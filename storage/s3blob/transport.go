package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"

	"pier/storage"
)

// How a hung service is noticed and ends an operation:
//
//   - Every connection carries a deadline that each Read and Write pushes
//     Timeout ahead (idleConn): a transfer that moves bytes runs as long
//     as it needs, one in which nothing moves for Timeout fails. Writes
//     are cut into small pieces so that one big Write still counts as
//     progress piece by piece.
//   - Dialing, the TLS handshake and the wait for response headers have
//     their own Timeout in the transport.
//   - minio-go retries a failed request up to ten times, which would make
//     a stall last ten timeouts. So each store operation runs under its
//     own context (operation), and the transport (guard) cancels it with
//     a stallError cause when a request of it times out: minio-go then
//     stops retrying at once, and the store reports the cause. Requests
//     the operation still makes after that (minio-go's abort of a failed
//     multipart upload, which detaches from the canceled context) fail at
//     once instead of waiting out another timeout each. Errors that come
//     quickly (connection refused, 503) keep minio-go's retries.

// writeChunk is the most one Write on the connection sends at once, so
// that a slow link still shows progress within Timeout (256 KiB drain in
// a second at 256 KB/s), while a fast one sends a GiB in 4,096 system
// calls.
const writeChunk = 256 << 10

// sendBuffer is the size of the buffer ReadFrom sends request bodies
// from: net/http copies a body through 32 KiB writes otherwise, one
// system call each.
const sendBuffer = writeChunk

var sendBuffers = sync.Pool{New: func() any { b := make([]byte, sendBuffer); return &b }}

// NewTransport returns the HTTP transport Open uses for cfg: minio-go's
// default with every wait bounded by cfg.Timeout (see Config.Timeout).
// Callers that need their own transport (custom CAs) can adjust this one
// and pass it as Config.Transport. It speaks HTTP/1.1 only: the no-
// progress deadline belongs to one connection, which under HTTP/2 would
// carry many requests.
func NewTransport(cfg Config) (*http.Transport, error) {
	cfg = withDefaults(cfg)
	tr, err := minio.DefaultTransport(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("s3blob: transport: %w", err)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, timeout: cfg.Timeout, where: cfg.Endpoint}, nil
	}
	tr.TLSHandshakeTimeout = cfg.Timeout
	tr.ResponseHeaderTimeout = cfg.Timeout
	// A pooled connection's pending read keeps the deadline of its last
	// use; closing idle connections earlier than that deadline keeps it
	// from firing just as the connection is taken for a new request.
	tr.IdleConnTimeout = cfg.Timeout / 2
	return tr, nil
}

// stallError is the cause of an operation that got no answer: a net.Error
// with Timeout, as net/http expects of a deadline, and storage's
// ErrUnavailable for everyone else.
type stallError struct {
	where   string
	timeout time.Duration
}

func (e *stallError) Error() string {
	return fmt.Sprintf("%v: no answer from %s for %v", storage.ErrUnavailable, e.where, e.timeout)
}
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }
func (e *stallError) Is(target error) bool {
	return target == storage.ErrUnavailable || target == os.ErrDeadlineExceeded
}

// errBodyTooLong refuses a request body longer than its Content-Length.
var errBodyTooLong = errors.New("s3blob: request body longer than its Content-Length")

// limitedWriter writes at most left bytes: a body that holds more than
// its Content-Length fails instead of corrupting the connection.
type limitedWriter struct {
	write func([]byte) (int, error)
	left  int64
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= w.left {
		n, err := w.write(p)
		w.left -= int64(n)
		return n, err
	}
	n, err := w.write(p[:w.left])
	w.left -= int64(n)
	if err == nil {
		err = errBodyTooLong
	}
	return n, err
}

// idleConn is a connection on which nothing may stand still for timeout.
type idleConn struct {
	net.Conn
	timeout  time.Duration
	where    string
	deadline atomic.Int64 // the deadline last set, in Unix nanoseconds
}

// extend pushes the deadline timeout ahead. Both directions move it: the
// pending read of a request being uploaded waits for the answer while the
// body still flows. It skips the system call while the deadline set is
// still nearly a whole timeout away.
func (c *idleConn) extend() {
	now := time.Now()
	if c.deadline.Load()-now.UnixNano() > int64(c.timeout-c.timeout/8) {
		return
	}
	dl := now.Add(c.timeout)
	c.deadline.Store(dl.UnixNano())
	c.Conn.SetDeadline(dl)
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.extend()
	n, err := c.Conn.Read(p)
	return n, c.check(err)
}

func (c *idleConn) Write(p []byte) (int, error) { return c.writeAll(p) }

// writeAll writes p in pieces small enough to show progress within the
// timeout on a slow link, and large enough to cost few system calls
// on a fast one: the deadline moves before each piece.
func (c *idleConn) writeAll(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c.extend()
		m, err := c.Conn.Write(p[n:min(len(p), n+writeChunk)])
		n += m
		if err != nil {
			return n, c.check(err)
		}
	}
	return n, nil
}

// ReadFrom sends a request body (net/http hands it over whole, limited to
// its Content-Length) in writes of up to sendBuffer bytes. A body that
// writes itself (a part's bytes.Reader) is written straight from its
// memory: a copy into the send buffer would read the whole part back.
func (c *idleConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if wt, ok := lr.R.(io.WriterTo); ok {
			w := &limitedWriter{write: c.writeAll, left: lr.N}
			n, err := wt.WriteTo(w)
			lr.N -= n
			return n, err
		}
	}
	bp := sendBuffers.Get().(*[]byte)
	defer sendBuffers.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			m, werr := c.writeAll(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

func (c *idleConn) check(err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return &stallError{where: c.where, timeout: c.timeout}
	}
	return err
}

// opKey marks the context of one store operation; its value is the
// operation's *opState.
type opKey struct{}

// opState is what guard knows of one operation.
type opState struct {
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	stall *stallError // set once a request stalled: the operation is over
	last  error       // the last failed request, for when ctx ends first
}

func (st *opState) stalled() *stallError {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stall
}

func (st *opState) fail(err error, stall *stallError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.last = err
	if stall != nil && st.stall == nil {
		st.stall = stall
		st.cancel(stall)
	}
}

// operation returns a context for one store operation, which guard
// cancels when one of its requests times out, and the function that
// releases it. Every request a Store makes runs under one.
func operation(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	return context.WithValue(ctx, opKey{}, &opState{cancel: cancel}), func() { cancel(nil) }
}

// stalledOp reports whether the operation of ctx ended by a stall.
func stalledOp(ctx context.Context) bool {
	st, ok := ctx.Value(opKey{}).(*opState)
	return ok && st.stalled() != nil
}

// guard is the transport's outer layer: it ends the operation of a
// request that timed out, so minio-go does not retry a hung service.
type guard struct {
	next    http.RoundTripper
	where   string
	timeout time.Duration
	observe func(op string, d time.Duration, failed bool)
}

// opName names a request for metrics: its method, and for multipart
// uploads and listings what the query says.
func opName(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case q.Has("uploads"):
		return "POST-initiate"
	case q.Has("partNumber"):
		return r.Method + "-part"
	case q.Has("uploadId") && r.Method == http.MethodPost:
		return "POST-complete"
	case q.Has("uploadId"):
		return r.Method + "-upload"
	case q.Has("list-type") || q.Has("prefix"):
		return "LIST"
	case q.Has("location"):
		return "GET-location"
	}
	return r.Method
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(opKey{}).(*opState)
	if st != nil {
		if se := st.stalled(); se != nil {
			if req.Body != nil {
				req.Body.Close() // as RoundTrip must, even when failing
			}
			return nil, se
		}
	}
	start := time.Now()
	resp, err := g.next.RoundTrip(req)
	if g.observe != nil {
		g.observe(opName(req), time.Since(start), err != nil || resp.StatusCode >= 500)
	}
	if err != nil && st != nil {
		var se *stallError
		if req.Context().Err() == nil && isTimeout(err) && !errors.As(err, &se) {
			se = &stallError{where: g.where, timeout: g.timeout}
		}
		st.fail(err, se)
	}
	return resp, err
}

// isTimeout reports a network timeout: a stalled connection, no response
// headers in time, a dial or TLS handshake that did not finish.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// failure is the error to report for err, returned by an operation run
// under ctx: the stall that ended the operation when there was one
// (minio-go then says only "context canceled"), ErrUnavailable for a
// timeout, else err. When ctx ended otherwise it names the last failed
// request, which minio-go drops (a deadline hit while retrying a refused
// connection says only "context deadline exceeded").
func failure(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); errors.Is(cause, storage.ErrUnavailable) {
			return cause
		}
		if st, ok := ctx.Value(opKey{}).(*opState); ok && errors.Is(err, ctx.Err()) {
			st.mu.Lock()
			last := st.last
			st.mu.Unlock()
			if last != nil {
				return fmt.Errorf("%w (last request: %v)", err, last)
			}
		}
	}
	if !errors.Is(err, storage.ErrUnavailable) && isTimeout(err) && ctx.Err() == nil {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	if isFull(err) {
		return fmt.Errorf("%w: %w", storage.ErrFull, err)
	}
	return err
}

// fullCodes are the S3 error codes of a service without room: MinIO past
// its free-drive threshold or a bucket quota, and the quota error of other
// S3 services (Ceph RGW).
var fullCodes = map[string]bool{"XMinioStorageFull": true, "XMinioAdminBucketQuotaExceeded": true, "QuotaExceeded": true}

func isFull(err error) bool {
	if errors.Is(err, storage.ErrFull) {
		return false // marked already
	}
	r := minio.ToErrorResponse(err)
	return fullCodes[r.Code] || r.StatusCode == http.StatusInsufficientStorage
}
