package davd

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"pier/authfs"
	"pier/internal/untrusted"
	"pier/storage"
	"pier/vpath"
)

// fail answers a request that failed with err: the status the error
// calls for, a short text that names nothing internal, and a log line for
// what is not the client's doing.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, ri *reqInfo, err error) {
	code := statusFor(r.Method, err)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	if code >= 500 {
		s.log.Error("webdav request failed", "method", r.Method, "path", untrusted.Text(r.URL.Path), "user", ri.sess.Login(), "err", err)
	}
	text := http.StatusText(code)
	var he *headerError
	if errors.As(err, &he) {
		text = he.msg
	}
	if code == http.StatusLocked || code == http.StatusInsufficientStorage {
		text = statusText(code)
	}
	http.Error(w, text, code)
}

func statusText(code int) string {
	switch code {
	case http.StatusLocked:
		return "Locked"
	case http.StatusInsufficientStorage:
		return "Insufficient Storage"
	}
	return http.StatusText(code)
}

// ifLists parses the request's If header and resolves its resource tags
// to paths. Lists tagged with a resource on another server can never
// hold, and are left out (RFC 4918 10.4.3).
func (s *Server) ifLists(r *http.Request) (bool, []authfs.IfList, error) {
	h := r.Header.Get("If")
	if h == "" {
		return false, nil, nil
	}
	lists, err := parseIf(h)
	if err != nil {
		return true, nil, err
	}
	var out []authfs.IfList
	for _, l := range lists {
		al := authfs.IfList{}
		if l.tag != "" {
			p, err := parseDestination(l.tag, r.Host, s.cfg.Prefix)
			if err != nil {
				continue
			}
			al.Tagged, al.Resource = true, p
		}
		for _, c := range l.conditions {
			al.Conditions = append(al.Conditions, authfs.IfCondition{Not: c.not, Token: c.token, ETag: c.etag})
		}
		out = append(out, al)
	}
	return true, out, nil
}

// confirm checks the request's If header and the locks on what it
// changes; it answers and returns false when the request may not go on.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request, ri *reqInfo, self vpath.Path, changes ...authfs.Change) bool {
	header, lists, err := s.ifLists(r)
	if err == nil {
		err = ri.sess.ConfirmLocks(r.Context(), self, header, lists, changes)
	}
	if err != nil {
		s.fail(w, r, ri, err)
		return false
	}
	ri.tokens = header
	return true
}

// put stores a request body as a file. The upload becomes visible only if
// the whole body arrived — as many bytes as Content-Length announced, or
// a chunked body ended properly — within the body's time limits; else
// nothing is published and the old version stays. HTTP preconditions are
// checked before the body is read and again in the transaction that
// publishes it.
func (s *Server) put(w http.ResponseWriter, r *http.Request, ri *reqInfo) {
	p, err := s.path(r)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	if p.IsRoot() {
		http.Error(w, "cannot PUT to a collection", http.StatusMethodNotAllowed)
		return
	}
	pre, err := conditional(r.Header)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	if !s.confirm(w, r, ri, p, authfs.Change{Path: p}) {
		return
	}
	// A sync client's checksum is checked before publishing and kept for
	// its listings (oc:checksums), which cannot compute it.
	expect, err := parseChecksum(r.Header.Get("OC-Checksum"))
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	opts := authfs.CreateOptions{Size: max(r.ContentLength, 0), Settle: ri.tokens, Expect: expect}
	if v, err := strconv.ParseInt(r.Header.Get("X-OC-Mtime"), 10, 64); err == nil && v > 0 {
		opts.ModTime = time.Unix(v, 0)
		w.Header().Set("X-OC-Mtime", "accepted")
	}
	existed := false
	opts.Precondition = func(old storage.Entry, exists bool) error {
		if old.IsDir() {
			return &storage.PathError{Op: "put", Path: p.String(), Err: storage.ErrIsDir}
		}
		existed = exists
		if pre != nil && !pre(old.ETag(), old.ModTime, exists) {
			return &storage.PathError{Op: "put", Path: p.String(), Err: authfs.ErrPrecondition}
		}
		return nil
	}
	up, err := ri.sess.Create(r.Context(), p, opts)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	start := time.Now()
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(up, s.body(w, r, ri), *buf)
	copyBuffers.Put(buf)
	defer func() { s.cfg.Observer.Transfer("webdav", "up", n, time.Since(start), err == nil) }()
	if err == nil && r.ContentLength >= 0 && n != r.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		up.Abort()
		s.bodyFailed(w, r, ri, n, err)
		return
	}
	var e storage.Entry
	if e, err = up.Close(); err != nil {
		s.fail(w, r, ri, err)
		return
	}
	w.Header().Set("ETag", e.ETag())
	w.Header().Set("Last-Modified", e.ModTime.UTC().Format(http.TimeFormat))
	if existed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// copyBuffers carry PUT bodies to storage: reads of 256 KiB from the
// connection, and no 32 KiB buffer of garbage per request.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// bodyFailed answers an upload whose body did not arrive whole, or that
// storage refused while it streamed.
func (s *Server) bodyFailed(w http.ResponseWriter, r *http.Request, ri *reqInfo, n int64, err error) {
	var be *bodyError
	switch {
	case errors.As(err, &be):
		s.log.Info("upload cut: nothing published", "path", untrusted.Text(r.URL.Path), "user", ri.sess.Login(), "bytes", n, "reason", be.Error())
		code := http.StatusBadRequest
		if be.timeout {
			code = http.StatusRequestTimeout
		}
		if be.revoked {
			code = http.StatusForbidden
		}
		w.Header().Set("Connection", "close")
		http.Error(w, be.Error(), code)
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.log.Info("upload cut: nothing published", "path", untrusted.Text(r.URL.Path), "user", ri.sess.Login(), "bytes", n, "announced", r.ContentLength)
		w.Header().Set("Connection", "close")
		http.Error(w, "request body shorter than Content-Length: nothing stored", http.StatusBadRequest)
	default:
		// Storage refused while the body streamed (full, unavailable).
		// The client is still sending: read what is left of a modest body,
		// so that it reads the answer rather than a reset connection.
		if r.ContentLength < 0 || r.ContentLength-n <= drainLimit {
			if m, _ := io.CopyN(io.Discard, r.Body, drainLimit+1); m > drainLimit {
				w.Header().Set("Connection", "close")
			}
		}
		s.fail(w, r, ri, err)
	}
}

// drainLimit is the most of a refused upload's body read to let its
// client see the answer; beyond it the connection is closed instead.
const drainLimit = 16 << 20

// delete removes a file, or a folder with everything in it if the user may
// delete all of it (decided in the transaction that deletes).
func (s *Server) delete(w http.ResponseWriter, r *http.Request, ri *reqInfo) {
	p, err := s.path(r)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	if p.IsRoot() {
		http.Error(w, "the root cannot be deleted", http.StatusForbidden)
		return
	}
	if !s.confirm(w, r, ri, p, authfs.Change{Path: p, Below: true}) {
		return
	}
	if err := ri.sess.Remove(r.Context(), p, true); err != nil {
		s.fail(w, r, ri, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// mkcol makes a folder (RFC 4918 9.3).
func (s *Server) mkcol(w http.ResponseWriter, r *http.Request, ri *reqInfo) {
	p, err := s.path(r)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	if r.ContentLength > 0 || r.ContentLength < 0 && r.Header.Get("Transfer-Encoding") != "" {
		http.Error(w, "MKCOL takes no body", http.StatusUnsupportedMediaType)
		return
	}
	if !s.confirm(w, r, ri, p, authfs.Change{Path: p}) {
		return
	}
	if err := ri.sess.Mkdir(r.Context(), p); err != nil {
		if errors.Is(err, storage.ErrExist) {
			http.Error(w, "already exists", http.StatusMethodNotAllowed)
			return
		}
		s.fail(w, r, ri, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// copyMove copies or moves a resource (RFC 4918 9.8, 9.9). Replacing the
// destination ("Overwrite: T") happens in the same transaction as the
// move or copy, so a refused or failed request leaves it as it was; a
// folder is copied or moved only if the user may do so with everything
// in it.
func (s *Server) copyMove(w http.ResponseWriter, r *http.Request, ri *reqInfo) {
	src, err := s.path(r)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	dst, err := parseDestination(r.Header.Get("Destination"), r.Host, s.cfg.Prefix)
	if errors.Is(err, errOtherServer) {
		http.Error(w, "Destination is not on this server", http.StatusBadGateway)
		return
	} else if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	overwrite, err := parseOverwrite(r.Header.Get("Overwrite"))
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	shallow, err := parseDepth(r.Header.Get("Depth"))
	if err != nil || shallow && r.Method == "MOVE" {
		s.fail(w, r, ri, badHeader("Depth must be infinity for MOVE, 0 or infinity for COPY"))
		return
	}
	if src == dst || src.IsRoot() || dst.IsRoot() {
		http.Error(w, "source and destination must differ and not be the root", http.StatusForbidden)
		return
	}
	changes := []authfs.Change{{Path: dst, Below: true}}
	if r.Method == "MOVE" {
		changes = append(changes, authfs.Change{Path: src, Below: true})
	}
	if !s.confirm(w, r, ri, src, changes...) {
		return
	}
	replace := storage.NoReplace
	if overwrite {
		replace = storage.ReplaceAny
	}
	_, existed := ri.sess.Stat(r.Context(), dst)
	if r.Method == "MOVE" {
		err = ri.sess.Move(r.Context(), src, dst, replace)
	} else {
		err = ri.sess.Copy(r.Context(), src, dst, replace, shallow)
	}
	switch {
	case errors.Is(err, storage.ErrExist):
		http.Error(w, "the destination exists and Overwrite is F", http.StatusPreconditionFailed)
	case err != nil:
		s.fail(w, r, ri, err)
	case existed == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusCreated)
	}
}
