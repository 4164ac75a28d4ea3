package s3blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/http"
	"slices"

	"github.com/minio/minio-go/v7"

	"pier/membudget"
)

// smallBlob is the most a writer buffers before it starts a multipart
// upload. Smaller blobs cost one PUT instead of three requests (initiate,
// part, complete), which is most of the cost of small files. The buffer
// is booked whole on the first write (membudget.Small): a buffer that
// grew step by step could leave uploads each holding part of it and all
// waiting for more.
const smallBlob = 1 << 20

// partsPerStep is how many parts of one size an upload sends before its
// parts double in size, so that a blob of any size stays within S3's
// 10,000 parts while most uploads hold only PartSize-long buffers.
const partsPerStep = 2000

// writer states.
const (
	writing = iota
	committed
	failed // Commit failed, or Abort ran
)

// writer is a storage.BlobWriter. It is not safe for concurrent use. Its
// bytes go into a buffer: a blob that ends within smallBlob goes in one
// PUT; a larger one in a multipart upload whose parts are sent from the
// buffer they were written into (no pipe, no goroutine per write), one
// part in flight while the next fills. Buffers come from the store's
// memory budget, so the memory of all uploads together is bounded;
// a part buffer the budget cannot give yet is waited for.
//
// Every part carries its CRC32C, which the service checks: the bytes are
// protected in transit without signing a SHA-256 of them.
//
// Its context is the operation of the whole upload: a stalled request
// ends it, and with it a Write waiting for a part to be sent.
type writer struct {
	s   *Store
	ctx context.Context
	end func() // releases ctx
	id  string
	key string

	state int
	buf   []byte          // the bytes not yet sent: the small blob, or the part being filled
	class membudget.Class // of buf
	// crc is the CRC32C of buf, computed as bytes are written, while they
	// are still in the CPU's cache: summing a whole part before it is sent
	// reads it back from memory.
	crc uint32

	stage func() error // called before the multipart upload begins (storage.StagingWriter)

	// Set once the multipart upload has started.
	uploadID string
	slot     bool // holds one of the store's upload slots
	next     int  // number of the next part
	parts    []minio.CompletePart
	flight   chan partResult // the part being sent, if any
	flying   bool
}

type partResult struct {
	part minio.CompletePart
	buf  []byte
	err  error
}

// book takes size bytes of class c of the budget for a buffer and
// returns it.
func (w *writer) book(size int, c membudget.Class) ([]byte, error) {
	if err := w.s.budget.Grow(w.ctx, int64(size), c); err != nil {
		return nil, err
	}
	return w.s.budget.Buffer(size)[:0], nil
}

// recycle gives a large buffer and its booking back.
func (w *writer) recycle(b []byte) {
	if cap(b) > 0 {
		w.s.budget.Recycle(b, membudget.Large)
	}
}

func (w *writer) Write(p []byte) (int, error) {
	if w.state != writing {
		return 0, fmt.Errorf("s3blob: write %s: blob already committed or aborted", w.id)
	}
	n := 0
	for n < len(p) {
		if len(w.buf) == cap(w.buf) {
			if err := w.room(len(p) - n); err != nil {
				err = w.failure(err) // before Abort ends the context
				w.Abort()
				return n, fmt.Errorf("s3blob: write %s: %w", w.id, err)
			}
		}
		m := min(len(p)-n, cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[n:n+m]...)
		if w.s.checksum {
			w.crc = crc32.Update(w.crc, castagnoli, p[n:n+m])
		}
		n += m
	}
	return n, nil
}

// room makes space in w.buf for more bytes (want is how many are coming):
// a bigger small-blob buffer, the first part buffer, or — once a part is
// full — sending it and taking the next buffer.
func (w *writer) room(want int) error {
	if w.buf == nil {
		nb, err := w.book(smallBlob, membudget.Small)
		if err != nil {
			return err
		}
		w.buf, w.class = nb, membudget.Small
		return nil
	}
	if w.uploadID == "" {
		if err := w.begin(); err != nil {
			return err
		}
		// The small-blob buffer becomes the start of the first part.
		nb, err := w.book(w.partSize(w.next), membudget.Large)
		if err != nil {
			return err
		}
		nb = append(nb, w.buf...)
		w.s.budget.Recycle(w.buf, membudget.Small)
		w.buf, w.class = nb, membudget.Large
		return nil
	}
	return w.send(false)
}

// partSize is the size of part n: PartSize, doubling every partsPerStep
// parts.
func (w *writer) partSize(n int) int {
	return w.s.partSize << min((n-1)/partsPerStep, 6)
}

// OnStage sets what to call before the writer first leaves something in
// the store before Commit: the start of a multipart upload. A blob that
// fits smallBlob leaves nothing until its one PUT at Commit.
func (w *writer) OnStage(stage func() error) { w.stage = stage }

// begin waits for an upload slot and starts the multipart upload.
func (w *writer) begin() error {
	if w.stage != nil {
		if err := w.stage(); err != nil {
			return err
		}
		w.stage = nil
	}
	select {
	case w.s.uploads <- struct{}{}:
		w.slot = true
	case <-w.ctx.Done():
		return context.Cause(w.ctx)
	}
	opts := w.s.putOpts
	if w.s.checksum {
		opts.UserMetadata = map[string]string{"X-Amz-Checksum-Algorithm": "CRC32C"}
	}
	id, err := w.s.core.NewMultipartUpload(w.ctx, w.s.bucket, w.key, opts)
	if err != nil {
		return err
	}
	w.uploadID, w.next = id, 1
	w.flight = make(chan partResult, 1)
	return nil
}

// send hands the full buffer to a goroutine that sends it as the next
// part, and takes a buffer for the part after: the buffer of the part
// sent before (which it waits for), a new one when the budget has room
// at once, else — single-buffered — the one just handed over, once sent.
// A transfer keeps two buffers only while nobody waits for memory. With
// last set, send waits until everything is sent.
func (w *writer) send(last bool) error {
	var free []byte
	if w.flying {
		b, err := w.wait()
		if err != nil {
			return err
		}
		free = b
	}
	buf, n, crc := w.buf, w.next, w.crc
	w.buf, w.next, w.flying, w.crc = nil, n+1, true, 0
	go func() { w.flight <- w.putPart(n, buf, crc) }()
	if last {
		w.recycle(free)
		b, err := w.wait()
		w.recycle(b)
		return err
	}
	size := w.partSize(w.next)
	if free != nil && (cap(free) != size || w.s.budget.Contended()) {
		w.recycle(free)
		free = nil
	}
	if free == nil && w.s.budget.TryGrow(int64(size)) {
		free = w.s.budget.Buffer(size)
	}
	if free == nil {
		b, err := w.wait()
		if err != nil {
			return err
		}
		if cap(b) == size {
			free = b
		} else {
			w.recycle(b)
			if free, err = w.book(size, membudget.Large); err != nil {
				return err
			}
		}
	}
	w.buf = free[:0]
	return nil
}

// wait waits for the part in flight and returns its buffer.
func (w *writer) wait() ([]byte, error) {
	r := <-w.flight
	w.flying = false
	if r.err != nil {
		w.recycle(r.buf)
		return nil, r.err
	}
	w.parts = append(w.parts, r.part)
	return r.buf, nil
}

// putPart sends one part with its CRC32C, crc.
func (w *writer) putPart(n int, buf []byte, crc uint32) partResult {
	opts := minio.PutObjectPartOptions{DisableContentSha256: w.s.putOpts.DisableContentSha256}
	sum := ""
	if w.s.checksum {
		sum = crc32cBase64(crc)
		opts.CustomHeader = http.Header{"X-Amz-Checksum-Crc32c": {sum}}
	}
	part, err := w.s.core.PutObjectPart(w.ctx, w.s.bucket, w.key, w.uploadID, n, bytes.NewReader(buf), int64(len(buf)), opts)
	if err != nil {
		return partResult{buf: buf, err: err}
	}
	cp := minio.CompletePart{PartNumber: n, ETag: part.ETag, ChecksumCRC32C: part.ChecksumCRC32C}
	if w.s.checksum && cp.ChecksumCRC32C == "" {
		cp.ChecksumCRC32C = sum
	}
	return partResult{part: cp, buf: buf}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32cBase64(crc uint32) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// failure is the error to report for err: why the upload's context ended
// when it did (a stall, a cancellation), when it has.
func (w *writer) failure(err error) error {
	if w.ctx.Err() != nil {
		return failure(w.ctx, context.Cause(w.ctx))
	}
	return failure(w.ctx, err)
}

// Commit finishes the upload; the blob is visible once it returns nil.
func (w *writer) Commit() error {
	if w.state != writing {
		if w.state == committed {
			return nil
		}
		return fmt.Errorf("s3blob: commit %s: blob was aborted or failed", w.id)
	}
	if w.ctx.Err() != nil {
		err := w.failure(nil)
		w.Abort()
		return fmt.Errorf("s3blob: commit %s: %w", w.id, err)
	}
	var err error
	if w.uploadID == "" {
		err = w.putSmall()
	} else if err = w.send(true); err == nil {
		slices.SortFunc(w.parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
		_, err = w.s.core.CompleteMultipartUpload(w.ctx, w.s.bucket, w.key, w.uploadID, w.parts, w.s.putOpts)
	}
	if err != nil {
		err = w.failure(err)
		w.Abort()
		return fmt.Errorf("s3blob: commit %s: %w", w.id, err)
	}
	w.state = committed
	w.release()
	w.end()
	return nil
}

// putSmall stores a blob that fitted in the small-blob buffer with one PUT.
func (w *writer) putSmall() error {
	opts := w.s.putOpts
	if w.s.checksum {
		opts.UserMetadata = map[string]string{"X-Amz-Checksum-Crc32c": crc32cBase64(w.crc)}
	}
	_, err := w.s.core.PutObject(w.ctx, w.s.bucket, w.key, bytes.NewReader(w.buf), int64(len(w.buf)), "", "", opts)
	return err
}

// release gives back the buffer and the upload slot.
func (w *writer) release() {
	if cap(w.buf) > 0 {
		w.s.budget.Recycle(w.buf, w.class)
	}
	w.buf = nil
	if w.slot {
		<-w.s.uploads
		w.slot = false
	}
}

// Abort discards the blob: it waits for the part in flight and aborts the
// multipart upload, so nothing of it remains when Abort returns — unless
// the service stalled, when what it left behind is removed by GC later.
// Abort after Commit or after Abort does nothing.
func (w *writer) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = failed
	if w.flying {
		b, _ := w.wait()
		w.recycle(b)
	}
	if w.uploadID != "" && !stalledOp(w.ctx) {
		// The upload's own context may be canceled (a client that hung
		// up): abort in a context of its own, bounded like any operation.
		ctx, end := operation(context.WithoutCancel(w.ctx))
		ctx, cancel := context.WithTimeout(ctx, w.s.timeout)
		err := w.s.core.AbortMultipartUpload(ctx, w.s.bucket, w.key, w.uploadID)
		cancel()
		end()
		if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
			w.release()
			w.end()
			return fmt.Errorf("s3blob: abort %s: %w", w.id, err)
		}
	}
	w.release()
	w.end()
	return nil
}
