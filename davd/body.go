package davd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"pier/authfs"
	"pier/internal/untrusted"
)

// bodyError says why an upload's body did not arrive whole.
type bodyError struct {
	msg     string
	timeout bool // too slow
	revoked bool // the account lost its access while uploading
	err     error
}

func (e *bodyError) Error() string { return e.msg }
func (e *bodyError) Unwrap() error { return e.err }

// body returns the request body of an upload, read under two watches: it
// must bring BodyMinBytes every BodyWindow (else the read times out and
// the upload is cut, so a trickle cannot hold an upload slot), and every
// Revalidate the session is checked, so a revoked account's upload stops.
// Errors are *bodyError, except a body cut short, which is
// io.ErrUnexpectedEOF.
func (s *Server) body(w http.ResponseWriter, r *http.Request, ri *reqInfo) io.Reader {
	return &watchedBody{r: r.Body, rc: http.NewResponseController(w), ctx: r.Context(), sess: ri.sess, ri: ri,
		window: s.cfg.BodyWindow, min: s.cfg.BodyMinBytes, revalidate: s.cfg.Revalidate}
}

type watchedBody struct {
	r          io.Reader
	rc         *http.ResponseController
	ctx        context.Context
	sess       *authfs.Session
	ri         *reqInfo
	window     time.Duration
	min        int64
	revalidate time.Duration

	got     int64     // bytes since the deadline was last pushed back
	pushed  time.Time // when it was
	checked time.Time // when the session was last checked
}

func (b *watchedBody) Read(p []byte) (int, error) {
	now := time.Now()
	if b.pushed.IsZero() || b.got >= b.min {
		b.rc.SetReadDeadline(now.Add(b.window))
		b.got, b.pushed = 0, now
	}
	if b.checked.IsZero() {
		b.checked = now
	} else if b.revalidate > 0 && now.Sub(b.checked) >= b.revalidate {
		b.checked = now
		if err := b.sess.Alive(b.ctx); err != nil {
			return 0, &bodyError{msg: "access revoked during the upload: nothing stored", revoked: errors.Is(err, authfs.ErrRevoked), err: err}
		}
	}
	n, err := b.r.Read(p)
	b.got += int64(n)
	if why := b.ri.endedBy(); why != "" {
		return 0, &bodyError{msg: "upload " + why + ": nothing stored", revoked: true, err: errEnded}
	}
	var ne net.Error
	switch {
	case err == nil, err == io.EOF:
		return n, err
	case errors.As(err, &ne) && ne.Timeout():
		return n, &bodyError{msg: "request body too slow: nothing stored", timeout: true, err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, err
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return n, &bodyError{msg: "request body too large: nothing stored", err: err}
	}
	// A malformed chunked encoding, a connection reset: the body is broken.
	return n, &bodyError{msg: "request body broken (" + untrusted.Clip(err.Error(), 80) + "): nothing stored", err: err}
}
