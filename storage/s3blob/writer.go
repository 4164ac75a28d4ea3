package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// smallBlob is the most a writer buffers before it starts a multipart
// upload. Smaller blobs cost one PUT instead of three requests (initiate,
// part, complete), which is most of the cost of small files.
const smallBlob = 1 << 20

// writer states.
const (
	writing = iota
	committed
	failed // Commit failed, or Abort ran
)

// writer is a storage.BlobWriter. It is not safe for concurrent use, but
// canceling its context interrupts a Write blocked on the upload. It must
// end with Commit or Abort (or its context canceled): until then a
// streaming upload keeps its goroutine, its memory and its upload slot.
// Its context is the operation of the whole upload: a stalled request
// ends it, and with it a Write blocked on the pipe.
type writer struct {
	s   *Store
	ctx context.Context
	end func() // releases ctx
	id  string
	key string

	state int
	small []byte // bytes written before streaming started

	// Set once streaming starts.
	pw       *io.PipeWriter
	done     chan struct{} // closed when the upload goroutine has ended
	upErr    error         // the upload's result, valid after done
	stopWait func() bool   // stops the context watcher
}

func (w *writer) Write(p []byte) (int, error) {
	if w.state != writing {
		return 0, fmt.Errorf("s3blob: write %s: blob already committed or aborted", w.id)
	}
	if w.pw == nil {
		if need := len(w.small) + len(p); need <= smallBlob {
			if need > cap(w.small) {
				// Double, unlike append's 1.25× for big slices, which
				// would allocate 5 MiB on the way to 1 MiB.
				w.small = append(make([]byte, 0, min(smallBlob, max(need, 2*cap(w.small)))), w.small...)
			}
			w.small = append(w.small, p...)
			return len(p), nil
		}
		if err := w.startStream(); err != nil {
			w.Abort()
			return 0, fmt.Errorf("s3blob: write %s: %w", w.id, err)
		}
	}
	n, err := w.pw.Write(p)
	if err != nil {
		return n, fmt.Errorf("s3blob: write %s: %w", w.id, w.failure(err))
	}
	return n, nil
}

// failure is the error to report for err: why the upload's context ended
// when it did (a stall, a cancellation), since the pipe itself then says
// only that it is closed.
func (w *writer) failure(err error) error {
	if w.ctx.Err() != nil {
		return failure(w.ctx, context.Cause(w.ctx))
	}
	return failure(w.ctx, err)
}

// startStream starts one PutObject of unknown size that reads the buffered
// bytes, then everything later written to the pipe. It waits for an upload
// slot, because each streaming upload holds two parts of memory.
func (w *writer) startStream() error {
	select {
	case w.s.uploads <- struct{}{}:
	case <-w.ctx.Done():
		return context.Cause(w.ctx)
	}
	pr, pw := io.Pipe()
	src := io.MultiReader(bytes.NewReader(w.small), pr)
	w.small = nil
	w.pw, w.done = pw, make(chan struct{})
	go func() {
		_, err := w.s.client.PutObject(w.ctx, w.s.bucket, w.key, src, -1, w.s.putOpts)
		if err != nil {
			err = w.failure(err)
		}
		w.upErr = err
		if err == nil {
			err = errUploadEnded
		}
		pr.CloseWithError(err) // a failed upload must not leave Write blocked
		<-w.s.uploads
		close(w.done)
	}()
	// minio-go notices cancellation only at its next request; closing the
	// pipe makes it abort the multipart upload at once.
	w.stopWait = context.AfterFunc(w.ctx, func() { pw.CloseWithError(context.Cause(w.ctx)) })
	return nil
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
	if w.pw == nil {
		_, err = w.s.client.PutObject(w.ctx, w.s.bucket, w.key,
			bytes.NewReader(w.small), int64(len(w.small)), w.s.putOpts)
		if err != nil {
			err = w.failure(err)
		}
		w.small = nil
	} else {
		w.stopWait()
		w.pw.Close()
		if w.wait() {
			err = w.upErr
		} else {
			err = w.failure(nil)
		}
	}
	w.end()
	if err != nil {
		w.state = failed
		return fmt.Errorf("s3blob: commit %s: %w", w.id, err)
	}
	w.state = committed
	return nil
}

// Abort discards the blob. It waits until minio-go has aborted the
// multipart upload, so nothing of it remains when Abort returns. Abort
// after Commit or after Abort does nothing.
func (w *writer) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = failed
	w.small = nil
	if w.pw != nil {
		w.stopWait()
		w.pw.CloseWithError(errAborted)
		w.wait()
	}
	w.end()
	return nil
}

// wait waits for the upload goroutine to end and reports whether it did.
// It does not wait when the service stalled: minio-go then still tries to
// abort the multipart upload, retrying for seconds, and holds the upload
// slot until it gives up; what it leaves behind GC removes later.
func (w *writer) wait() bool {
	select {
	case <-w.done:
		return true
	case <-w.ctx.Done():
		if stalledOp(w.ctx) {
			return false
		}
		<-w.done
		return true
	}
}

var (
	// errAborted is what the upload reads from the pipe after Abort;
	// minio-go then aborts the multipart upload.
	errAborted = errors.New("upload aborted")
	// errUploadEnded is what a Write sees after the upload has ended.
	errUploadEnded = errors.New("upload already ended")
)
