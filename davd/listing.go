package davd

import (
	"context"
	"io/fs"
	"iter"
	"time"

	"pier/authfs"
	"pier/storage"
	"pier/vpath"
)

// x/net/webdav answers PROPFIND Depth 1 by reading the whole folder
// (Readdir(0)), then stating and opening every child by name, in that
// order. Holding every entry of a big folder for that took 100 MB for
// 100,000 files. So Readdir(0) returns names alone, and the entries come
// a second time, in windows of storage.ListPageSize read as the walk gets
// to them, each window's dead properties fetched in one query.

// nameInfo is a child as Readdir(0) returns it: x/net/webdav reads only
// its name before it stats the child.
type nameInfo struct {
	name string
	dir  bool
}

func (n nameInfo) Name() string { return n.name }
func (n nameInfo) Size() int64  { return 0 }
func (n nameInfo) Mode() fs.FileMode {
	if n.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (n nameInfo) ModTime() time.Time { return time.Time{} }
func (n nameInfo) IsDir() bool        { return n.dir }
func (n nameInfo) Sys() any           { return nil }

// listing serves the children of one folder to the stats and opens of a
// PROPFIND walk, one window of entries at a time.
type listing struct {
	ctx   context.Context
	sess  *authfs.Session
	dir   vpath.Path
	next  func() (storage.Entry, error, bool)
	stop  func()
	win   map[string]storage.Entry // the current window, by name
	last  string                   // the window's greatest name
	props map[int64][]storage.Prop // its entries' dead properties
	done  bool
}

func newListing(ctx context.Context, sess *authfs.Session, dir vpath.Path) *listing {
	l := &listing{ctx: ctx, sess: sess, dir: dir}
	l.next, l.stop = iter.Pull2(sess.ReadDir(ctx, dir))
	return l
}

// find returns the child called name: from the current window, else
// from a later one (the walk visits children in listing order, the byte
// order of names). A child not there (removed since the names were read)
// is not found, and the caller asks the catalog; the window stays, for
// the children that follow it.
func (l *listing) find(name string) (storage.Entry, bool) {
	if e, ok := l.win[name]; ok {
		return e, true
	}
	for !l.done && (len(l.win) == 0 || name > l.last) {
		l.fill()
	}
	e, ok := l.win[name]
	return e, ok
}

// fill replaces the window with the next entries of the listing.
func (l *listing) fill() {
	clear(l.win)
	if l.win == nil {
		l.win = make(map[string]storage.Entry, storage.ListPageSize)
	}
	ids := make([]int64, 0, storage.ListPageSize)
	for len(ids) < storage.ListPageSize {
		e, err, ok := l.next()
		if !ok || err != nil {
			l.done = true
			break
		}
		l.win[e.Name()] = e
		l.last = e.Name()
		ids = append(ids, e.ID)
	}
	l.props = nil
	if len(ids) > 0 {
		if props, err := l.sess.DeadProps(l.ctx, ids); err == nil {
			l.props = props
		}
	}
}

// deadProps returns the dead properties of an entry of the window.
func (l *listing) deadProps(e storage.Entry) ([]storage.Prop, bool) {
	if w, ok := l.win[e.Name()]; !ok || w.ID != e.ID || l.props == nil {
		return nil, false
	}
	return l.props[e.ID], true
}

func (l *listing) close() {
	if l.stop != nil {
		l.stop()
	}
}

// names reads the names of dir's children for Readdir(0), and makes the
// request's listing ready to serve their entries.
func (ri *reqInfo) names(ctx context.Context, dir vpath.Path) ([]fs.FileInfo, error) {
	var out []fs.FileInfo
	for e, err := range ri.sess.ReadDir(ctx, dir) {
		if err != nil {
			return out, err
		}
		out = append(out, nameInfo{name: e.Name(), dir: e.IsDir()})
	}
	if ri.list != nil {
		ri.list.close()
	}
	ri.list = newListing(ctx, ri.sess, dir)
	return out, nil
}

// listed returns the entry at p when the request's listing holds it.
func (ri *reqInfo) listed(p vpath.Path) (storage.Entry, bool) {
	if ri.list == nil || p.IsRoot() || p.Parent() != ri.list.dir {
		return storage.Entry{}, false
	}
	return ri.list.find(p.Name())
}
