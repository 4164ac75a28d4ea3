package s3blob

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"pier/membudget"
)

const (
	// windowSize is the memory of one open reader. It is the read-ahead
	// and also keeps at least half of it of already read bytes, because
	// SFTP clients pipeline up to 64 reads of 32 KiB that pkg/sftp's
	// workers serve out of order: measured, late reads arrive up to 2 MiB
	// behind the newest one, and each step back must not cost a new GET.
	windowSize = 4 << 20
	// maxSkip is the farthest forward jump read through on the current
	// GET; a farther one costs less as a new ranged GET.
	maxSkip = 1 << 20
)

// reader is a storage.BlobReader over at most one streaming GET at a time.
// The GET covers the blob from an offset to its end and is reused while
// reads stay near its position; any other access starts a new ranged GET.
type reader struct {
	core   minio.Core // Core.GetObject answers with the body of one request
	bucket string
	ctx    context.Context
	id     string
	key    string
	size   int64

	mu     sync.Mutex
	off    int64 // position of Read and Seek
	closed bool
	body   io.ReadCloser // the running GET, delivering bytes from end()
	endGet func()        // releases the GET's operation context
	etag   string        // of the first GET; later GETs insist on it
	// The window is a ring: blob byte x is at ring[x % len(ring)] while
	// x is in [start, start+held). Dropping the older half when it is
	// full moves no byte.
	ring   []byte
	start  int64
	held   int
	budget *membudget.Budget // the window's memory comes from it
}

func (r *reader) end() int64 { return r.start + int64(r.held) }

func (r *reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.readAt(p, r.off)
	r.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil // the next Read reports EOF
	}
	return n, err
}

// ReadAt follows io.ReaderAt: it returns len(p) bytes, or fewer with an
// error, io.EOF at the end of the blob. It is safe for concurrent use.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("s3blob: read %s: negative offset %d", r.id, off)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readAt(p, off)
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("s3blob: seek %s: invalid whence %d", r.id, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("s3blob: seek %s: negative position %d", r.id, offset)
	}
	r.off = offset
	return offset, nil
}

func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropBody()
	if len(r.ring) == windowSize {
		r.budget.Recycle(r.ring, membudget.Large)
	} else if len(r.ring) > 0 {
		r.budget.Release(int64(len(r.ring)), membudget.Large)
	}
	r.closed, r.ring, r.held = true, nil, 0
	return nil
}

// readAt fills p from the window, extending it from the GET as needed.
func (r *reader) readAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("s3blob: read %s: %w", r.id, fs.ErrClosed)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), r.size-off)]
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		if pos >= r.start && pos < r.end() {
			i := int(pos % int64(len(r.ring)))
			run := min(int64(len(r.ring)-i), r.end()-pos)
			n += copy(want[n:], r.ring[i:i+int(run)])
			continue
		}
		if pos < r.start && r.body != nil {
			// A straggler behind the window: serve it on the side and
			// keep the stream that the reads ahead of it still use.
			m, err := r.readRange(want[n:], pos)
			n += m
			if err != nil {
				return n, err
			}
			continue
		}
		if pos < r.start || pos > r.end()+maxSkip {
			r.dropBody()
			r.start, r.held = pos, 0
		}
		if err := r.fill(); err != nil {
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fill appends the next bytes of the GET to the window, dropping the
// older half of the window when it is full.
func (r *reader) fill() error {
	if r.body == nil {
		if err := r.get(r.end()); err != nil {
			return err
		}
	}
	if r.ring == nil {
		// Windows of the full size come from the pool; a small blob's
		// is as small as the blob.
		size := int(min(windowSize, r.size))
		if err := r.budget.Grow(r.ctx, int64(size), membudget.Large); err != nil {
			return fmt.Errorf("s3blob: read %s: %w", r.id, err)
		}
		if size == windowSize {
			r.ring = r.budget.Buffer(windowSize)
		} else {
			r.ring = make([]byte, size)
		}
	}
	if r.held == len(r.ring) {
		drop := len(r.ring) / 2
		r.start += int64(drop)
		r.held -= drop
	}
	i := int(r.end() % int64(len(r.ring)))
	space := min(len(r.ring)-r.held, len(r.ring)-i)
	m, err := r.body.Read(r.ring[i : i+space])
	r.held += m
	switch {
	case err == io.EOF && r.end() < r.size:
		r.dropBody()
		return fmt.Errorf("s3blob: read %s: blob ends before its size %d: %w", r.id, r.size, io.ErrUnexpectedEOF)
	case err == io.EOF:
		r.dropBody()
	case err != nil:
		r.dropBody() // the next read starts a new GET at end()
		return fmt.Errorf("s3blob: read %s: %w", r.id, err)
	}
	return nil
}

// readRange reads p at off with one ranged GET of exactly that range.
func (r *reader) readRange(p []byte, off int64) (int, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+int64(len(p))-1); err != nil {
		return 0, fmt.Errorf("s3blob: read %s: %w", r.id, err)
	}
	if r.etag != "" {
		opts.SetMatchETag(r.etag)
	}
	ctx, end := operation(r.ctx)
	defer end()
	body, _, _, err := r.core.GetObject(ctx, r.bucket, r.key, opts)
	if err != nil {
		return 0, r.getErr(failure(ctx, err))
	}
	defer body.Close()
	n, err := io.ReadFull(body, p)
	if err != nil {
		return n, fmt.Errorf("s3blob: read %s: %w", r.id, err)
	}
	return n, nil
}

// get starts one GET of the blob from off to its end.
func (r *reader) get(off int64) error {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, r.size-1); err != nil {
		return fmt.Errorf("s3blob: read %s: %w", r.id, err)
	}
	if r.etag != "" {
		// A blob never changes, but a deleted and recreated key must not
		// splice someone else's bytes into this read.
		opts.SetMatchETag(r.etag)
	}
	// The operation lives as long as the body: ending it ends the stream.
	ctx, end := operation(r.ctx)
	body, info, hdr, err := r.core.GetObject(ctx, r.bucket, r.key, opts)
	if err != nil {
		err = failure(ctx, err)
		end()
		return r.getErr(err)
	}
	total := rangeTotal(hdr)
	if total < 0 && off == 0 {
		total = info.Size // a service that answered 200 with the whole blob
	}
	if info.Size != r.size-off || total != r.size {
		body.Close()
		end()
		return fmt.Errorf("s3blob: read %s: stored blob does not have the expected size %d", r.id, r.size)
	}
	r.body, r.endGet, r.etag = body, end, info.ETag
	return nil
}

func (r *reader) getErr(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey:
		return fmt.Errorf("s3blob: read %s: %w", r.id, fs.ErrNotExist)
	case minio.PreconditionFailed:
		return fmt.Errorf("s3blob: read %s: blob was replaced while being read", r.id)
	}
	return fmt.Errorf("s3blob: read %s: %w", r.id, err)
}

// rangeTotal is the object size from "Content-Range: bytes a-b/total",
// or -1 when missing.
func rangeTotal(h http.Header) int64 {
	cr := h.Get("Content-Range")
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(cr[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func (r *reader) dropBody() {
	if r.body != nil {
		r.body.Close()
		r.endGet()
		r.body, r.endGet = nil, nil
	}
}
