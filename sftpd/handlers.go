package sftpd

import (
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"

	"pier/authfs"
	"pier/authz"
	"pier/membudget"
	"pier/storage"
	"pier/vpath"
)

// handlers serve one SFTP session through the authorising file system.
// Every path pkg/sftp hands over is parsed by vpath before anything else.
type handlers struct {
	s      *authfs.Session
	log    *slog.Logger
	window int  // reorder window of uploads, bytes
	strict bool // refuse setstat of permissions and owners
	// maxOpen bounds the files and folders open at once: each holds a blob
	// reader or writer, a catalog cursor or reorder buffers.
	maxOpen int
	handles *atomic.Int64 // open handles of the whole server
	memory  *membudget.Budget
	obs     Observer

	mu      sync.Mutex
	open    int                        // handles open now
	uploads map[vpath.Path]*fileWriter // open uploads, for fsetstat before close
}

// errTooManyHandles refuses an open beyond Config.MaxHandles.
var errTooManyHandles = errors.New("too many open files on this session: close some first")

// reserve counts a handle about to open, or refuses it; a transfer (a
// file, not a folder) is admitted by the memory budget too, which may
// wait briefly and then refuse it as "server busy". The caller calls
// release once, when the open fails or the handle is closed; pkg/sftp
// closes every handle still open when the session ends.
func (h *handlers) reserve(ctx context.Context, transfer bool) (release func(), err error) {
	h.mu.Lock()
	if h.open >= h.maxOpen {
		h.mu.Unlock()
		return nil, errTooManyHandles
	}
	h.open++
	h.mu.Unlock()
	h.handles.Add(1)
	unhandle := func() {
		h.mu.Lock()
		h.open--
		h.mu.Unlock()
		h.handles.Add(-1)
	}
	if transfer {
		if err := h.memory.Admit(ctx, membudget.TransferShare); err != nil {
			unhandle()
			return nil, err
		}
	}
	return sync.OnceFunc(func() {
		if transfer {
			h.memory.Release(membudget.TransferShare, membudget.Admission)
		}
		unhandle()
	}), nil
}

var (
	_ sftp.FileReader           = (*handlers)(nil)
	_ sftp.FileWriter           = (*handlers)(nil)
	_ sftp.PosixRenameFileCmder = (*handlers)(nil)
	_ sftp.LstatFileLister      = (*handlers)(nil)
	_ sftp.RealPathFileLister   = (*handlers)(nil)
)

func parse(p string) (vpath.Path, error) { return vpath.Resolve(vpath.Root(), p) }

// Fileread opens a file for download.
func (h *handlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	p, err := parse(r.Filepath)
	if err != nil {
		return nil, toStatus(h.log, "open", err)
	}
	release, err := h.reserve(r.Context(), true)
	if err != nil {
		return nil, toStatus(h.log, "open", err)
	}
	f, err := h.s.Open(r.Context(), p)
	if err != nil {
		release()
		return nil, toStatus(h.log, "open", err)
	}
	return &fileReader{f: f, log: h.log, obs: h.obs, start: time.Now(), release: release}, nil
}

type fileReader struct {
	f       *storage.File
	log     *slog.Logger
	obs     Observer
	start   time.Time
	read    atomic.Int64
	failed  atomic.Bool
	release func()
}

func (r *fileReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.f.ReadAt(p, off)
	r.read.Add(int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		r.failed.Store(true)
	}
	return n, toStatus(r.log, "read", err)
}

func (r *fileReader) Close() error {
	defer r.release()
	r.obs.Transfer("sftp", "down", r.read.Load(), time.Since(r.start), !r.failed.Load())
	return r.f.Close()
}

// Filewrite starts an upload. Appending and resuming are refused: a file
// is written from the start, and published when it is closed.
func (h *handlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	p, err := parse(r.Filepath)
	if err != nil {
		return nil, toStatus(h.log, "create", err)
	}
	flags := r.Pflags()
	if flags.Append {
		return nil, toStatus(h.log, "create", errUnsupported)
	}
	release, err := h.reserve(r.Context(), true)
	if err != nil {
		return nil, toStatus(h.log, "create", err)
	}
	up, err := h.s.Create(r.Context(), p, authfs.CreateOptions{Exclusive: flags.Excl})
	if err != nil {
		release()
		return nil, toStatus(h.log, "create", err)
	}
	w := &fileWriter{h: h, p: p, up: up, rw: newReorderWriter(up, h.window), release: release, start: time.Now()}
	h.mu.Lock()
	h.uploads[p] = w
	h.mu.Unlock()
	return w, nil
}

// fileWriter is an open upload.
type fileWriter struct {
	h  *handlers
	p  vpath.Path
	up *authfs.Upload
	rw *reorderWriter

	release func() // the handle's place under maxOpen
	start   time.Time

	once    sync.Once
	aborted bool
}

func (w *fileWriter) WriteAt(b []byte, off int64) (int, error) {
	n, err := w.rw.WriteAt(b, off)
	return n, toStatus(w.h.log, "write", err)
}

// TransferError is called when the session ends with the file open: the
// upload is abandoned, and the Close that follows must not publish it.
func (w *fileWriter) TransferError(err error) {
	w.once.Do(func() {
		w.aborted = true
		w.rw.abandon()
		w.up.Abort()
		w.h.obs.Transfer("sftp", "up", w.up.Size(), time.Since(w.start), false)
	})
}

// Close publishes the upload if every byte arrived in order.
func (w *fileWriter) Close() error {
	defer w.release()
	w.h.mu.Lock()
	if w.h.uploads[w.p] == w {
		delete(w.h.uploads, w.p)
	}
	w.h.mu.Unlock()
	var err error
	w.once.Do(func() {
		if err = w.rw.finish(); err != nil {
			w.up.Abort()
		} else {
			_, err = w.up.Close()
		}
		w.h.obs.Transfer("sftp", "up", w.up.Size(), time.Since(w.start), err == nil)
	})
	if w.aborted {
		return errors.New("upload aborted")
	}
	return toStatus(w.h.log, "close", err)
}

// Filecmd runs the commands that change the namespace.
func (h *handlers) Filecmd(r *sftp.Request) error {
	return toStatus(h.log, r.Method, h.filecmd(r, false))
}

// PosixRename replaces an existing target atomically.
func (h *handlers) PosixRename(r *sftp.Request) error {
	return toStatus(h.log, r.Method, h.filecmd(r, true))
}

func (h *handlers) filecmd(r *sftp.Request, posix bool) error {
	ctx := r.Context()
	p, err := parse(r.Filepath)
	if err != nil {
		return err
	}
	switch r.Method {
	case "Setstat":
		return h.setstat(ctx, p, r)
	case "Rename", "PosixRename":
		to, err := parse(r.Target)
		if err != nil {
			return err
		}
		// POSIX rename replaces a file atomically; the SFTP v3 rename
		// refuses an existing target.
		replace := storage.NoReplace
		if posix || r.Method == "PosixRename" {
			replace = storage.ReplaceFile
		}
		return h.s.Move(ctx, p, to, replace)
	case "Mkdir":
		return h.s.Mkdir(ctx, p)
	case "Rmdir", "Remove":
		e, err := h.s.Stat(ctx, p)
		if err != nil {
			return err
		}
		if r.Method == "Rmdir" && !e.IsDir() || r.Method == "Remove" && e.IsDir() {
			// A refusal first: pkg/sftp's client (so rclone) falls back
			// from remove to rmdir on "permission denied", and must not
			// end with "not a directory".
			if err := h.s.Check(ctx, authz.ActDelete, p); err != nil {
				return err
			}
			if e.IsDir() {
				return storage.ErrIsDir
			}
			return storage.ErrNotDir
		}
		return h.s.Remove(ctx, p, false)
	}
	return errUnsupported // Symlink, Link and anything new
}

// setstat stores modification times; permissions and owners are not
// stored (a success, so that `put -p` and sync tools go on); changing the
// size is refused unless it is the size the file has.
func (h *handlers) setstat(ctx context.Context, p vpath.Path, r *sftp.Request) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	if h.strict && (flags.Permissions || flags.UidGid) {
		return errUnsupported
	}
	h.mu.Lock()
	open := h.uploads[p]
	h.mu.Unlock()
	if flags.Size {
		if attrs.Size > math.MaxInt64 {
			return errUnsupported // no file is that large
		}
		if open != nil {
			if n, settled := open.rw.written(); !settled || int64(attrs.Size) != n { // #nosec G115 -- checked ≤ MaxInt64 above
				return errUnsupported
			}
		} else if e, err := h.s.Stat(ctx, p); err != nil {
			return err
		} else if e.Size != int64(attrs.Size) { // #nosec G115 -- checked ≤ MaxInt64 above
			return errUnsupported
		}
	}
	if !flags.Acmodtime {
		return nil
	}
	t := time.Unix(int64(attrs.Mtime), 0)
	if open != nil {
		open.up.SetModTime(t)
		return nil
	}
	return h.s.SetModTime(ctx, p, t)
}

// Filelist answers List and Stat.
func (h *handlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	p, err := parse(r.Filepath)
	if err != nil {
		return nil, toStatus(h.log, r.Method, err)
	}
	switch r.Method {
	case "List":
		// Refuse a missing or hidden folder at opendir, as servers do.
		if e, err := h.s.Stat(r.Context(), p); err != nil {
			return nil, toStatus(h.log, "opendir", err)
		} else if !e.IsDir() {
			return nil, toStatus(h.log, "opendir", storage.ErrNotDir)
		}
		release, err := h.reserve(r.Context(), false)
		if err != nil {
			return nil, toStatus(h.log, "opendir", err)
		}
		next, stop := iter.Pull2(h.s.ReadDir(r.Context(), p))
		return &lister{next: next, stop: stop, log: h.log, release: release}, nil
	case "Stat":
		e, err := h.s.Stat(r.Context(), p)
		if err != nil {
			return nil, toStatus(h.log, "stat", err)
		}
		return listerAt{storage.FileInfo{Entry: e}}, nil
	}
	return nil, toStatus(h.log, r.Method, errUnsupported) // Readlink
}

// Lstat is Stat: pier has no symbolic links.
func (h *handlers) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	r.Method = "Stat"
	return h.Filelist(r)
}

// RealPath resolves a client path against the root, lexically.
func (h *handlers) RealPath(p string) (string, error) {
	v, err := parse(p)
	if err != nil {
		return "", toStatus(h.log, "realpath", err)
	}
	return v.String(), nil
}

// lister streams a folder's entries from the catalog as the client reads.
type lister struct {
	next    func() (storage.Entry, error, bool)
	stop    func()
	release func()
	log     *slog.Logger
	done    bool
}

func (l *lister) ListAt(buf []os.FileInfo, _ int64) (int, error) {
	n := 0
	for n < len(buf) && !l.done {
		e, err, ok := l.next()
		if !ok {
			l.done = true
			break
		}
		if err != nil {
			l.done = true
			return n, toStatus(l.log, "list", err)
		}
		buf[n] = storage.FileInfo{Entry: e}
		n++
	}
	if l.done {
		return n, io.EOF
	}
	return n, nil
}

func (l *lister) Close() error {
	l.stop()
	l.release()
	return nil
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(buf []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(buf, l[off:])
	if n+int(off) >= len(l) {
		return n, io.EOF
	}
	return n, nil
}
