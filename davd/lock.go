package davd

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"pier/authfs"
	"pier/locks"
)

// lockInfo is the body of a LOCK request that creates a lock.
type lockInfo struct {
	XMLName   xml.Name  `xml:"DAV: lockinfo"`
	Exclusive *struct{} `xml:"DAV: lockscope>exclusive"`
	Shared    *struct{} `xml:"DAV: lockscope>shared"`
	Write     *struct{} `xml:"DAV: locktype>write"`
	Owner     struct {
		InnerXML string `xml:",innerxml"`
	} `xml:"DAV: owner"`
}

// lock takes or refreshes a lock (RFC 4918 9.10). Every lock a client
// asks for is stored, through the authorising file system: taking or
// refreshing one needs the right to change the resource. The Timeout
// answered is the one granted.
func (s *Server) lock(w http.ResponseWriter, r *http.Request, ri *reqInfo) {
	if !s.limitBody(w, r) {
		return
	}
	p, err := s.path(r)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	d, err := parseTimeout(r.Header.Get("Timeout"))
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(bytes.TrimSpace(body)) == 0 {
		s.refresh(w, r, ri, d)
		return
	}
	var li lockInfo
	if err := xml.Unmarshal(body, &li); err != nil || li.Write == nil || (li.Shared == nil) == (li.Exclusive == nil) {
		http.Error(w, "LOCK needs a lockinfo with a write lock type and one lock scope", http.StatusBadRequest)
		return
	}
	zero, err := parseDepth(r.Header.Get("Depth"))
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	l, created, err := ri.sess.Lock(r.Context(), p, authfs.LockRequest{ZeroDepth: zero, Shared: li.Shared != nil,
		OwnerXML: li.Owner.InnerXML, Duration: d})
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	w.Header().Set("Lock-Token", "<"+l.Token+">")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	if created {
		w.WriteHeader(http.StatusCreated)
	}
	s.writeLock(w, r, l)
}

// refresh extends a lock named by the single token of the If header.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, ri *reqInfo, d time.Duration) {
	p, _ := s.path(r)
	_, lists, err := s.ifLists(r)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	token := ""
	for _, l := range lists {
		for _, c := range l.Conditions {
			if c.Token != "" && !c.Not && token == "" {
				token = c.Token
			}
		}
	}
	if token == "" {
		http.Error(w, "a lock refresh needs the lock's token in an If header", http.StatusBadRequest)
		return
	}
	l, err := ri.sess.RefreshLock(r.Context(), p, token, d)
	if err != nil {
		if statusFor("LOCK", err) == http.StatusConflict {
			http.Error(w, "no such lock", http.StatusPreconditionFailed)
			return
		}
		s.fail(w, r, ri, err)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	s.writeLock(w, r, l)
}

// writeLock answers with the lock's lockdiscovery.
func (s *Server) writeLock(w io.Writer, r *http.Request, l locks.Lock) {
	scope, depth := "exclusive", "infinity"
	if l.Shared {
		scope = "shared"
	}
	if l.ZeroDepth {
		depth = "0"
	}
	root := strings.TrimSuffix(s.cfg.Prefix, "/") + l.Root.String()
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>
<D:prop xmlns:D="DAV:"><D:lockdiscovery><D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope><D:depth>%s</D:depth><D:owner>%s</D:owner><D:timeout>Second-%d</D:timeout><D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot></D:activelock></D:lockdiscovery></D:prop>`,
		scope, depth, l.OwnerXML, int64(l.Timeout(time.Now())/time.Second), html.EscapeString(l.Token), html.EscapeString((&url.URL{Path: root}).EscapedPath()))
}

// unlock releases a lock (RFC 4918 9.11). The Lock-Token header is taken
// with or without its angle brackets: the npm webdav client sends none.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request, ri *reqInfo) {
	p, err := s.path(r)
	if err != nil {
		s.fail(w, r, ri, err)
		return
	}
	token, ok := locks.ParseToken(r.Header.Get("Lock-Token"))
	if !ok {
		http.Error(w, "UNLOCK needs a Lock-Token header", http.StatusBadRequest)
		return
	}
	if err := ri.sess.Unlock(r.Context(), p, token); err != nil {
		s.fail(w, r, ri, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkedLocks is the lock system x/net/webdav sees. The methods it still
// serves that change something (PROPPATCH) have had their If header and
// locks confirmed by pier before it runs, so it confirms everything;
// taking and releasing locks never reaches it (pier serves LOCK and
// UNLOCK).
type checkedLocks struct{}

var _ webdav.LockSystem = checkedLocks{}

func (checkedLocks) Confirm(time.Time, string, string, ...webdav.Condition) (func(), error) {
	return func() {}, nil
}

func (checkedLocks) Create(time.Time, webdav.LockDetails) (string, error) {
	return "pier-checked", nil
}

func (checkedLocks) Refresh(time.Time, string, time.Duration) (webdav.LockDetails, error) {
	return webdav.LockDetails{}, webdav.ErrNoSuchLock
}

func (checkedLocks) Unlock(time.Time, string) error { return nil }
