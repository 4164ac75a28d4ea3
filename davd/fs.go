package davd

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"iter"
	"mime"
	"os"
	"path"
	"strconv"
	"time"

	"golang.org/x/net/webdav"

	"pier/authfs"
	"pier/storage"
	"pier/vpath"
)

// reqInfo travels in the request's context from the HTTP layer to the
// file system that x/net/webdav calls.
type reqInfo struct {
	sess    *authfs.Session
	size    int64     // Content-Length of a PUT, 0 if unknown
	modTime time.Time // X-OC-Mtime of a PUT
	err     error     // the last error the file system returned
}

type ctxKey struct{}

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

func (davFS) Mkdir(ctx context.Context, name string, _ os.FileMode) error {
	p, err := parse(name)
	if err == nil {
		err = info(ctx).sess.Mkdir(ctx, p)
	}
	return fail(ctx, "mkdir", name, err)
}

func (davFS) RemoveAll(ctx context.Context, name string) error {
	p, err := parse(name)
	if err == nil {
		err = info(ctx).sess.Remove(ctx, p, true)
	}
	return fail(ctx, "remove", name, err)
}

func (davFS) Rename(ctx context.Context, oldName, newName string) error {
	from, err := parse(oldName)
	if err != nil {
		return fail(ctx, "rename", oldName, err)
	}
	to, err := parse(newName)
	if err == nil {
		err = info(ctx).sess.Rename(ctx, from, to, false)
	}
	return fail(ctx, "rename", oldName, err)
}

func (davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	p, err := parse(name)
	if err != nil {
		return nil, fail(ctx, "stat", name, err)
	}
	e, err := info(ctx).sess.Stat(ctx, p)
	if err != nil {
		return nil, fail(ctx, "stat", name, err)
	}
	return fileInfo{e}, nil
}

func (davFS) OpenFile(ctx context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	p, err := parse(name)
	if err != nil {
		return nil, fail(ctx, "open", name, err)
	}
	ri := info(ctx)
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		up, err := ri.sess.Create(ctx, p, authfs.CreateOptions{Size: ri.size, ModTime: ri.modTime})
		if err != nil {
			return nil, fail(ctx, "create", name, err)
		}
		return &putFile{ctx: ctx, name: name, p: p, up: up, start: time.Now()}, nil
	}
	e, err := ri.sess.Stat(ctx, p)
	if err != nil {
		return nil, fail(ctx, "open", name, err)
	}
	if e.IsDir() {
		return &dirFile{ctx: ctx, e: e, sess: ri.sess}, nil
	}
	f, err := ri.sess.Open(ctx, p)
	if err != nil {
		return nil, fail(ctx, "open", name, err)
	}
	return &readFile{File: f}, nil
}

var errNotSupported = errors.New("not supported on this kind of file")

// readFile is a file opened for reading: GET (with ranges) and COPY.
type readFile struct{ *storage.File }

func (f *readFile) Readdir(int) ([]fs.FileInfo, error) { return nil, errNotSupported }
func (f *readFile) Stat() (fs.FileInfo, error)         { return fileInfo{f.Entry}, nil }
func (f *readFile) Write([]byte) (int, error)          { return 0, errNotSupported }

// dirFile lists a folder, page by page from the catalog.
type dirFile struct {
	ctx  context.Context
	e    storage.Entry
	sess *authfs.Session
	next func() (storage.Entry, error, bool)
	stop func()
}

func (d *dirFile) Readdir(count int) ([]fs.FileInfo, error) {
	if d.next == nil {
		d.next, d.stop = iter.Pull2(d.sess.ReadDir(d.ctx, d.e.Path))
	}
	var out []fs.FileInfo
	for count <= 0 || len(out) < count {
		e, err, ok := d.next()
		if !ok {
			break
		}
		if err != nil {
			return out, fail(d.ctx, "readdir", d.e.Path.String(), err)
		}
		out = append(out, fileInfo{e})
	}
	if count > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

func (d *dirFile) Stat() (fs.FileInfo, error)     { return fileInfo{d.e}, nil }
func (d *dirFile) Read([]byte) (int, error)       { return 0, errNotSupported }
func (d *dirFile) Write([]byte) (int, error)      { return 0, errNotSupported }
func (d *dirFile) Seek(int64, int) (int64, error) { return 0, nil }
func (d *dirFile) Close() error {
	if d.stop != nil {
		d.stop()
	}
	return nil
}

// putFile is an upload: PUT, or the target of a COPY.
type putFile struct {
	ctx   context.Context
	name  string
	p     vpath.Path
	up    *authfs.Upload
	start time.Time
}

func (f *putFile) Write(b []byte) (int, error) {
	n, err := f.up.Write(b)
	return n, fail(f.ctx, "write", f.name, err)
}

// Stat describes the upload before it is published (webdav's PUT asks).
func (f *putFile) Stat() (fs.FileInfo, error) {
	return fileInfo{storage.Entry{Path: f.p, Kind: storage.KindFile, Size: f.up.Size(), ModTime: f.start}}, nil
}

func (f *putFile) Close() error {
	_, err := f.up.Close()
	return fail(f.ctx, "close", f.name, err)
}

func (f *putFile) Read([]byte) (int, error)           { return 0, errNotSupported }
func (f *putFile) Seek(int64, int) (int64, error)     { return 0, errNotSupported }
func (f *putFile) Readdir(int) ([]fs.FileInfo, error) { return nil, errNotSupported }

// fileInfo presents a catalog entry; it answers content type and ETag
// itself so that listings never open a file.
type fileInfo struct{ e storage.Entry }

var (
	_ webdav.ContentTyper = fileInfo{}
	_ webdav.ETager       = fileInfo{}
)

func (fi fileInfo) Name() string {
	if fi.e.Path.IsRoot() {
		return "/"
	}
	return fi.e.Name()
}
func (fi fileInfo) Size() int64 { return fi.e.Size }
func (fi fileInfo) Mode() fs.FileMode {
	if fi.e.IsDir() {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (fi fileInfo) ModTime() time.Time { return fi.e.ModTime }
func (fi fileInfo) IsDir() bool        { return fi.e.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

func (fi fileInfo) ContentType(context.Context) (string, error) {
	if fi.e.IsDir() {
		return "", webdav.ErrNotImplemented
	}
	if t := mime.TypeByExtension(path.Ext(fi.e.Name())); t != "" {
		return t, nil
	}
	return "application/octet-stream", nil
}

// ETag is the content's hash and the entry's version: it changes with
// every overwrite and is stable across renames.
func (fi fileInfo) ETag(context.Context) (string, error) {
	if fi.e.IsDir() || fi.e.SHA256 == "" {
		return "", webdav.ErrNotImplemented
	}
	return `"` + fi.e.SHA256[:16] + "-" + strconv.FormatInt(fi.e.Version, 10) + `"`, nil
}
