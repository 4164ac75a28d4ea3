// Package sessions keeps the registry of this node's live sessions — SFTP
// connections and WebDAV transfers in flight — so that an administrator
// can see who is connected and end a session at once (the REST API's
// /sessions). Each front end adds a session when a login succeeds and
// removes it when the session ends; ending one calls the front end's own
// way to close it.
package sessions

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Session is one live session as listed.
type Session struct {
	ID       string    `json:"id"`
	Login    string    `json:"login"`
	Org      string    `json:"org,omitempty"`
	Protocol string    `json:"protocol"`
	From     string    `json:"from"`
	Started  time.Time `json:"started"`
	// Detail says what the session is doing, when the front end knows:
	// "PUT /acme/inbound/x.edi".
	Detail string `json:"detail,omitempty"`
}

// ErrNotFound: no live session has this ID.
var ErrNotFound = errors.New("no such session")

// Registry is a node's live sessions.
type Registry struct {
	node    string // prefix of IDs, unique per process start
	seq     atomic.Int64
	version atomic.Int64 // counts changes, for Shared
	mu      sync.Mutex
	live    map[string]*entry
}

type entry struct {
	s   Session
	end func(reason string)
}

// New returns an empty registry, with a node name of its own.
func New() *Registry {
	var b [6]byte
	rand.Read(b[:])
	return &Registry{node: hex.EncodeToString(b[:]), live: map[string]*entry{}}
}

// Node is the name of the registry's node: the prefix of its sessions' IDs.
func (r *Registry) Node() string {
	if r == nil {
		return ""
	}
	return r.node
}

// Add registers a live session; end closes it (called at most once, by
// End). The returned function removes it when the session is over.
func (r *Registry) Add(s Session, end func(reason string)) (id string, done func()) {
	if r == nil {
		return "", func() {}
	}
	id = r.node + "-" + strconv.FormatInt(r.seq.Add(1), 10)
	s.ID = id
	if s.Started.IsZero() {
		s.Started = time.Now()
	}
	var once sync.Once
	e := &entry{s: s, end: func(reason string) { once.Do(func() { end(reason) }) }}
	r.mu.Lock()
	r.live[id] = e
	r.mu.Unlock()
	r.version.Add(1)
	return id, func() {
		r.mu.Lock()
		delete(r.live, id)
		r.mu.Unlock()
		r.version.Add(1)
	}
}

// List returns the live sessions, oldest first, that keep says to keep
// (nil keeps all).
func (r *Registry) List(keep func(Session) bool) []Session {
	if r == nil {
		return []Session{}
	}
	r.mu.Lock()
	out := make([]Session, 0, len(r.live))
	for _, e := range r.live {
		if keep == nil || keep(e.s) {
			out = append(out, e.s)
		}
	}
	r.mu.Unlock()
	sortSessions(out)
	return out
}

// Sorted joins lists of sessions, oldest first.
func Sorted(lists ...[]Session) []Session {
	out := slices.Concat(lists...)
	if out == nil {
		out = []Session{}
	}
	sortSessions(out)
	return out
}

// sortSessions orders sessions oldest first.
func sortSessions(ss []Session) {
	slices.SortFunc(ss, func(a, b Session) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID))
	})
}

// Local says whether id names a session of this registry's node (live or
// not).
func (r *Registry) Local(id string) bool {
	return r != nil && strings.HasPrefix(id, r.node+"-")
}

// Get returns a live session.
func (r *Registry) Get(id string) (Session, error) {
	if r == nil {
		return Session{}, ErrNotFound
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.live[id]
	if !ok {
		return Session{}, ErrNotFound
	}
	return e.s, nil
}

// End closes a live session, saying why in its log and audit record.
func (r *Registry) End(id, reason string) error {
	if r == nil {
		return ErrNotFound
	}
	r.mu.Lock()
	e, ok := r.live[id]
	r.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	e.end(reason)
	return nil
}

// EndUser closes every live session of a login and returns how many.
func (r *Registry) EndUser(login, reason string) int {
	n := 0
	for _, s := range r.List(func(s Session) bool { return s.Login == login }) {
		if r.End(s.ID, reason) == nil {
			n++
		}
	}
	return n
}
