package davd

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/webdav"

	"pier/authfs"
	"pier/storage"
	"pier/vpath"
)

// reqInfo travels in the request's context from the HTTP layer to the
// file system that x/net/webdav calls.
type reqInfo struct {
	sess       *authfs.Session
	list       *listing      // the folder a PROPFIND lists (listing.go)
	err        error         // the last error the file system returned
	tokens     bool          // the request came with an If header that held
	revalidate time.Duration // how often a download checks the session
	// ended holds why an administrator ended the transfer (nil: not).
	ended atomic.Pointer[string]
}

// endedBy returns why an administrator ended the request's transfer, ""
// if nobody did.
func (ri *reqInfo) endedBy() string {
	if why := ri.ended.Load(); why != nil {
		return *why
	}
	return ""
}

type ctxKey struct{}

// done releases what the request holds.
func (ri *reqInfo) done() {
	if ri.list != nil {
		ri.list.close()
	}
}

func info(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(ctxKey{}).(*reqInfo)
	return ri
}

// davFS adapts the authorising file system to webdav.FileSystem. It holds
// no permission logic: every call goes to the user's authfs session.
type davFS struct{}

var _ webdav.FileSystem = davFS{}

// fail records err for the status mapping and returns it in the form
// x/net/webdav understands (it tests errors with os.IsNotExist and the like,
// which do not see through %w wrapping).
func fail(ctx context.Context, op, name string, err error) error {
	if err == nil {
		return nil
	}
	if ri := info(ctx); ri != nil {
		ri.err = err
	}
	var target error = err
	switch {
	case errors.Is(err, fs.ErrNotExist):
		target = fs.ErrNotExist
	case errors.Is(err, fs.ErrPermission):
		target = fs.ErrPermission
	case errors.Is(err, fs.ErrExist):
		target = fs.ErrExist
	}
	return &fs.PathError{Op: op, Path: name, Err: target}
}

func parse(name string) (vpath.Path, error) { return vpath.Parse(name) }

// errOwnMethod refuses what x/net/webdav must never do here: pier serves
// the methods that create, delete, copy and move (PUT, MKCOL, DELETE,
// COPY, MOVE, LOCK) itself.
var errOwnMethod = errors.New("served by pier, not by x/net/webdav")

func (davFS) Mkdir(ctx context.Context, name string, _ os.FileMode) error {
	return fail(ctx, "mkdir", name, fs.ErrPermission)
}

func (davFS) RemoveAll(ctx context.Context, name string) error {
	return fail(ctx, "remove", name, fs.ErrPermission)
}

func (davFS) Rename(ctx context.Context, oldName, _ string) error {
	return fail(ctx, "rename", oldName, fs.ErrPermission)
}

func (davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	p, err := parse(name)
	if err != nil {
		return nil, fail(ctx, "stat", name, err)
	}
	// PROPFIND stats every child it just listed: the listing has decided.
	if e, ok := info(ctx).listed(p); ok {
		return fileInfo{storage.FileInfo{Entry: e}}, nil
	}
	e, err := info(ctx).sess.Stat(ctx, p)
	if err != nil {
		return nil, fail(ctx, "stat", name, err)
	}
	return fileInfo{storage.FileInfo{Entry: e}}, nil
}

func (davFS) OpenFile(ctx context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	p, err := parse(name)
	if err != nil {
		return nil, fail(ctx, "open", name, err)
	}
	ri := info(ctx)
	// Only reads and PROPPATCH (O_RDWR, to patch properties) come here;
	// creating or truncating would bypass pier's own PUT.
	if flag&(os.O_CREATE|os.O_TRUNC|os.O_APPEND|os.O_WRONLY) != 0 {
		return nil, fail(ctx, "open", name, fmt.Errorf("%w: %w", fs.ErrPermission, errOwnMethod))
	}
	e, ok := ri.listed(p)
	if !ok {
		if e, err = ri.sess.Stat(ctx, p); err != nil {
			return nil, fail(ctx, "open", name, err)
		}
	}
	return &davFile{ctx: ctx, ri: ri, e: e}, nil
}

var errNotSupported = errors.New("not supported on this kind of file")

// davFile is an existing file or folder. Its content is opened on the
// first read, so that PROPFIND, which opens every entry it reports, reads
// only the catalog; the read itself is authorised then.
type davFile struct {
	ctx     context.Context
	ri      *reqInfo
	e       storage.Entry
	blob    *storage.File
	next    func() (storage.Entry, error, bool)
	stop    func()
	checked time.Time // when a download last checked its session
}

func (f *davFile) open() error {
	if f.blob != nil {
		return nil
	}
	if f.e.IsDir() {
		return errNotSupported
	}
	b, err := f.ri.sess.Open(f.ctx, f.e.Path)
	if err != nil {
		return fail(f.ctx, "open", f.e.Path.String(), err)
	}
	f.blob = b
	return nil
}

// Read streams the content; a long download checks every Revalidate that
// its account may still work, and stops when it may not.
func (f *davFile) Read(p []byte) (int, error) {
	if err := f.open(); err != nil {
		return 0, err
	}
	if why := f.ri.endedBy(); why != "" {
		return 0, fmt.Errorf("%s: %w", why, errEnded)
	}
	if now := time.Now(); f.checked.IsZero() {
		f.checked = now
	} else if f.ri.revalidate > 0 && now.Sub(f.checked) >= f.ri.revalidate {
		f.checked = now
		if err := f.ri.sess.Alive(f.ctx); err != nil {
			return 0, fail(f.ctx, "read", f.e.Path.String(), err)
		}
	}
	return f.blob.Read(p)
}

func (f *davFile) Seek(off int64, whence int) (int64, error) {
	if f.e.IsDir() {
		return 0, nil
	}
	if err := f.open(); err != nil {
		return 0, err
	}
	return f.blob.Seek(off, whence)
}

func (f *davFile) Write([]byte) (int, error)  { return 0, errNotSupported }
func (f *davFile) Stat() (fs.FileInfo, error) { return fileInfo{storage.FileInfo{Entry: f.e}}, nil }

func (f *davFile) Close() error {
	if f.stop != nil {
		f.stop()
	}
	if f.blob != nil {
		return f.blob.Close()
	}
	return nil
}

// Readdir lists a folder. All of it (count <= 0, as PROPFIND asks) comes
// as names, the entries following as the walk stats them (listing.go);
// count > 0 reads pages of entries.
func (f *davFile) Readdir(count int) ([]fs.FileInfo, error) {
	if !f.e.IsDir() {
		return nil, errNotSupported
	}
	if count <= 0 {
		out, err := f.ri.names(f.ctx, f.e.Path)
		if err != nil {
			return out, fail(f.ctx, "readdir", f.e.Path.String(), err)
		}
		return out, nil
	}
	if f.next == nil {
		f.next, f.stop = iter.Pull2(f.ri.sess.ReadDir(f.ctx, f.e.Path))
	}
	var out []fs.FileInfo
	for len(out) < count {
		e, err, ok := f.next()
		if !ok {
			break
		}
		if err != nil {
			return out, fail(f.ctx, "readdir", f.e.Path.String(), err)
		}
		out = append(out, fileInfo{storage.FileInfo{Entry: e}})
	}
	if len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

var _ webdav.DeadPropsHolder = (*davFile)(nil)

// DeadProps returns the client-set properties of the entry.
func (f *davFile) DeadProps() (map[xml.Name]webdav.Property, error) {
	if f.e.Path.IsRoot() {
		return nil, nil
	}
	var props []storage.Prop
	ok := false
	if f.ri.list != nil {
		props, ok = f.ri.list.deadProps(f.e)
	}
	if !ok {
		m, err := f.ri.sess.DeadProps(f.ctx, []int64{f.e.ID})
		if err != nil {
			return nil, err
		}
		props = m[f.e.ID]
	}
	out := make(map[xml.Name]webdav.Property, len(props)+1)
	// x/net/webdav has no creationdate; it reads dead properties first.
	cd := xml.Name{Space: "DAV:", Local: "creationdate"}
	out[cd] = webdav.Property{XMLName: cd, InnerXML: []byte(f.e.Created.UTC().Format(time.RFC3339))}
	for _, p := range props {
		n := xml.Name{Space: p.Space, Local: p.Local}
		out[n] = webdav.Property{XMLName: n, Lang: p.Lang, InnerXML: p.XML}
	}
	if v := ocChecksums(f.e); v != "" {
		out[ocChecksumsName] = webdav.Property{XMLName: ocChecksumsName,
			InnerXML: []byte(`<checksum xmlns="` + ocNamespace + `">` + v + `</checksum>`)}
	}
	return out, nil
}

// ownCloud's checksums property, which sync clients read from listings
// (rclone's webdav remote with vendor owncloud or nextcloud):
// <oc:checksums><oc:checksum>SHA1:… MD5:…</oc:checksum></oc:checksums>.
// It holds the hashes the catalog has; MD5 only once computed (an SSH
// md5sum), as listings never read content.
const ocNamespace = "http://owncloud.org/ns"

var ocChecksumsName = xml.Name{Space: ocNamespace, Local: "checksums"}

func ocChecksums(e storage.Entry) string {
	if e.IsDir() {
		return ""
	}
	var sums []string
	if e.SHA1 != "" {
		sums = append(sums, "SHA1:"+e.SHA1)
	}
	if e.MD5 != "" {
		sums = append(sums, "MD5:"+e.MD5)
	}
	return strings.Join(sums, " ")
}

// Patch applies a PROPPATCH atomically: all or nothing.
func (f *davFile) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	return patch(f.ctx, f.ri.sess, f.e.Path, patches)
}

func patch(ctx context.Context, sess *authfs.Session, p vpath.Path, patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	// RFC 4918 9.2: instructions apply in document order, so the last one
	// for a name wins ("set X, then remove X" removes X).
	type op struct {
		remove bool
		prop   storage.Prop
	}
	last := map[xml.Name]op{}
	var order []xml.Name
	var names []webdav.Property
	for _, pp := range patches {
		for _, prop := range pp.Props {
			if _, seen := last[prop.XMLName]; !seen {
				order = append(order, prop.XMLName)
			}
			last[prop.XMLName] = op{pp.Remove, storage.Prop{Space: prop.XMLName.Space, Local: prop.XMLName.Local, Lang: prop.Lang, XML: prop.InnerXML}}
			names = append(names, webdav.Property{XMLName: prop.XMLName})
		}
	}
	var set, remove []storage.Prop
	for _, n := range order {
		if o := last[n]; o.remove {
			remove = append(remove, o.prop)
		} else {
			set = append(set, o.prop)
		}
	}
	status := http.StatusOK
	if err := sess.PatchProps(ctx, p, set, remove); err != nil {
		status = statusFor("PROPPATCH", err)
		if status == 0 {
			if !errors.Is(err, storage.ErrTooManyProps) {
				return nil, err
			}
			status = http.StatusInsufficientStorage
		}
	}
	return []webdav.Propstat{{Props: names, Status: status}}, nil
}

// fileInfo presents a catalog entry; it answers content type and ETag
// itself so that listings never open a file.
type fileInfo struct{ storage.FileInfo }

var (
	_ webdav.ContentTyper = fileInfo{}
	_ webdav.ETager       = fileInfo{}
)

func (fi fileInfo) ContentType(context.Context) (string, error) {
	if fi.Entry.IsDir() {
		return "", webdav.ErrNotImplemented
	}
	if t := mime.TypeByExtension(path.Ext(fi.Entry.Name())); t != "" {
		return t, nil
	}
	return "application/octet-stream", nil
}

// ETag is the content's hash and the entry's version: it changes with
// every overwrite and is stable across renames.
func (fi fileInfo) ETag(context.Context) (string, error) {
	if tag := fi.Entry.ETag(); tag != "" {
		return tag, nil
	}
	return "", webdav.ErrNotImplemented
}
