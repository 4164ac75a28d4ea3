package davd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"pier/authfs"
	"pier/storage"
)

// lockInfo is the body of a LOCK request that creates a lock.
type lockInfo struct {
	XMLName xml.Name  `xml:"DAV: lockinfo"`
	Shared  *struct{} `xml:"DAV: lockscope>shared"`
	Owner   struct {
		InnerXML string `xml:",innerxml"`
	} `xml:"DAV: owner"`
}

// lock answers the LOCK requests x/net/webdav cannot (shared locks) and
// checks what it does not: a lock blocks everyone else's changes, so
// taking one needs the right to change the resource. It returns true
// when it has answered.
func (s *Server) lock(w http.ResponseWriter, r *http.Request, ri *reqInfo) bool {
	p, err := s.path(r)
	if err != nil {
		http.Error(w, "invalid path", http.StatusBadRequest)
		return true
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(bytes.TrimSpace(body)) == 0 {
		return false // a refresh: the lock's owner only, checked by the lock system
	}
	if err := ri.sess.CheckLock(r.Context(), p); err != nil {
		code := statusFor("LOCK", err)
		if code == 0 {
			code = http.StatusInternalServerError
			s.log.Error("lock", "err", err)
		}
		http.Error(w, http.StatusText(code), code)
		return true
	}
	var li lockInfo
	if xml.Unmarshal(body, &li) != nil || li.Shared == nil {
		return false // exclusive (or malformed): x/net/webdav answers
	}
	depth := r.Header.Get("Depth")
	if depth != "" && depth != "0" && !strings.EqualFold(depth, "infinity") {
		http.Error(w, "Depth must be 0 or infinity", http.StatusBadRequest)
		return true
	}
	d := webdav.LockDetails{Root: p.String(), Duration: timeout(r.Header.Get("Timeout")), OwnerXML: li.Owner.InnerXML, ZeroDepth: depth == "0"}
	token, err := s.locks.CreateShared(r.Context(), ri.sess.Login(), d, time.Now())
	if errors.Is(err, webdav.ErrLocked) {
		http.Error(w, "Locked", http.StatusLocked)
		return true
	} else if err != nil {
		s.log.Error("shared lock", "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return true
	}
	created := false
	if _, err := ri.sess.Stat(r.Context(), p); errors.Is(err, storage.ErrNotExist) {
		// Locking an unmapped URL creates an empty resource (RFC 4918 9.10.4).
		up, err := ri.sess.Create(r.Context(), p, authfs.CreateOptions{})
		if err == nil {
			_, err = up.Close()
		}
		if err != nil {
			s.locks.ForRequest(r.Context(), ri.sess.Login(), nil).Unlock(time.Now(), token)
			code := statusFor("PUT", err)
			if code == 0 {
				code = http.StatusConflict
			}
			http.Error(w, http.StatusText(code), code)
			return true
		}
		created = true
	}
	w.Header().Set("Lock-Token", "<"+token+">")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	if created {
		w.WriteHeader(http.StatusCreated)
	}
	depthText := "infinity"
	if d.ZeroDepth {
		depthText = "0"
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>
<D:prop xmlns:D="DAV:"><D:lockdiscovery><D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:shared/></D:lockscope><D:depth>%s</D:depth><D:owner>%s</D:owner><D:timeout>Second-%d</D:timeout><D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot></D:activelock></D:lockdiscovery></D:prop>`,
		depthText, li.Owner.InnerXML, int64(d.Duration/time.Second), html.EscapeString(token), html.EscapeString(r.URL.EscapedPath()))
	return true
}

// timeout reads "Second-N" or "Infinite" (RFC 4918 10.7); pier caps it.
func timeout(h string) time.Duration {
	for part := range strings.SplitSeq(h, ",") {
		part = strings.TrimSpace(part)
		if n, ok := strings.CutPrefix(part, "Second-"); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil && v > 0 {
				return min(time.Duration(v)*time.Second, 24*time.Hour)
			}
		}
	}
	return 24 * time.Hour
}
