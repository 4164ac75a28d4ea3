package storage

import (
	"context"
	"crypto/md5"  // #nosec G501 -- MD5 of files for the clients that ask (md5sum, oc:checksums), not security
	"crypto/sha1" // #nosec G505 -- SHA-1 of files for the clients that ask (sha1sum, oc:checksums), not security
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"pier/vpath"
)

// FS joins a catalog and a blob store into pier's file store. It knows
// nothing about users or rights: the authorising layer above it decides.
type FS struct {
	cat   Catalog
	blobs BlobStore
}

// New returns an FS over cat and blobs.
func New(cat Catalog, blobs BlobStore) *FS { return &FS{cat: cat, blobs: blobs} }

// Stat returns the entry at p.
func (f *FS) Stat(ctx context.Context, p vpath.Path) (Entry, error) { return f.cat.Stat(ctx, p) }

// StatIn returns the folder p goes in and the entry at p, read together
// (Catalog.StatIn).
func (f *FS) StatIn(ctx context.Context, p vpath.Path) (dir, e Entry, err error) {
	return f.cat.StatIn(ctx, p)
}

// List returns one page of dir's children, names after `after`, in byte order.
func (f *FS) List(ctx context.Context, dir vpath.Path, after string, limit int) ([]Entry, error) {
	return f.cat.List(ctx, dir, after, limit)
}

// ListPageSize is the page size ReadDir fetches from the catalog.
const ListPageSize = 1000

// ReadDir yields all children of dir, fetching them page by page so that
// a folder of any size streams in bounded memory.
func (f *FS) ReadDir(ctx context.Context, dir vpath.Path) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		after := ""
		for {
			page, err := f.cat.List(ctx, dir, after, ListPageSize)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < ListPageSize {
				return
			}
			after = page[len(page)-1].Name()
		}
	}
}

// Shadow returns by's newest conflict copy uploaded as p.
func (f *FS) Shadow(ctx context.Context, p vpath.Path, by string) (Entry, error) {
	return f.cat.Shadow(ctx, p, by)
}

// Walk yields every entry strictly below dir (Path and Kind only).
func (f *FS) Walk(ctx context.Context, dir vpath.Path) iter.Seq2[Entry, error] {
	return f.cat.Walk(ctx, dir)
}

// Mkdir creates a folder inside an existing folder.
func (f *FS) Mkdir(ctx context.Context, p vpath.Path, opts MkdirOptions) error {
	if opts.ModTime.IsZero() {
		opts.ModTime = time.Now()
	}
	return f.cat.Mkdir(ctx, p, opts)
}

// MkdirAll creates p and any missing parents; existing folders are fine.
func (f *FS) MkdirAll(ctx context.Context, p vpath.Path, by string) error {
	e, err := f.cat.Stat(ctx, p)
	if err == nil {
		if !e.IsDir() {
			return pathErr("mkdir", p, ErrNotDir)
		}
		return nil
	}
	if !errors.Is(err, ErrNotExist) {
		return err
	}
	if err := f.MkdirAll(ctx, p.Parent(), by); err != nil {
		return err
	}
	if err := f.cat.Mkdir(ctx, p, MkdirOptions{By: by, ModTime: time.Now()}); err != nil && !errors.Is(err, ErrExist) {
		return err
	}
	return nil
}

// Move renames a file or a whole folder; see Catalog.Move.
func (f *FS) Move(ctx context.Context, from, to vpath.Path, opts MoveOptions) error {
	return f.cat.Move(ctx, from, to, opts)
}

// Rename moves a file or a whole folder, replacing an existing file at to
// only when replace is set.
func (f *FS) Rename(ctx context.Context, from, to vpath.Path, replace bool) error {
	opts := MoveOptions{}
	if replace {
		opts.Replace = ReplaceFile
	}
	return f.cat.Move(ctx, from, to, opts)
}

// Copy copies a file or a whole folder without copying any bytes; see
// Catalog.Copy.
func (f *FS) Copy(ctx context.Context, from, to vpath.Path, opts MoveOptions) error {
	return f.cat.Copy(ctx, from, to, opts)
}

// Remove deletes a file or folder; blobs are collected later by GC.
func (f *FS) Remove(ctx context.Context, p vpath.Path, opts RemoveOptions) error {
	return f.cat.Remove(ctx, p, opts)
}

// SetModTime records a modification time sent by a client.
func (f *FS) SetModTime(ctx context.Context, p vpath.Path, t time.Time) error {
	return f.cat.SetModTime(ctx, p, t)
}

// DeadProps returns the dead properties of entries, by entry ID.
func (f *FS) DeadProps(ctx context.Context, ids []int64) (map[int64][]Prop, error) {
	return f.cat.DeadProps(ctx, ids)
}

// PatchProps sets and removes dead properties of p atomically.
func (f *FS) PatchProps(ctx context.Context, p vpath.Path, set, remove []Prop) error {
	return f.cat.PatchProps(ctx, p, set, remove)
}

// CreateOptions shape an upload.
type CreateOptions struct {
	// Exclusive refuses to replace an existing file (ErrExist).
	Exclusive bool
	// MaxSize, if positive, fails the upload once it grows beyond it.
	MaxSize int64
	// ModTime is recorded as the file's time; zero means the publish time.
	ModTime time.Time
	// By names the user who uploads, for the catalog.
	By string
	// Conflict makes an exclusive upload whose name is taken a conflict
	// copy (PublishOptions.Conflict).
	Conflict Conflict
	// Guard, if set, decides inside the publishing transaction.
	Guard Guard
	// Note, if set, records the publication in its transaction.
	Note Note
	// Known, if set, is what the caller just read of the path and its
	// folder (StatIn), so that Create need not read them again.
	Known *Known
	// Expect holds hashes the client sent with the content (WebDAV's
	// OC-Checksum, as rclone's webdav remote sends it): each one set is
	// computed while the bytes stream, checked before anything is
	// published (a mismatch fails Close with ErrChecksum) and recorded, so
	// that listings (oc:checksums, which never read content) offer it.
	// Hashes not sent are computed on first request (Sums): SHA-1 costs as
	// much CPU as the SHA-256, MD5 twice as much.
	Expect Sums
}

// Known is StatIn's answer for a path: the entry, and the error that
// says whether it, or its folder, is missing.
type Known struct {
	Entry Entry
	Err   error
}

// Create starts an upload to p. Nothing is visible at p until Close
// succeeds; Abort, a failed Close or a crash leave p as it was.
func (f *FS) Create(ctx context.Context, p vpath.Path, opts CreateOptions) (*Upload, error) {
	if p.IsRoot() {
		return nil, pathErr("create", p, ErrIsDir)
	}
	// Refuse early what publishing would refuse, before bytes flow.
	var e Entry
	var err error
	if k := opts.Known; k != nil {
		e, err = k.Entry, k.Err
	} else {
		_, e, err = f.cat.StatIn(ctx, p)
	}
	switch {
	case errors.Is(err, ErrNoParent):
		return nil, &PathError{Op: "create", Path: p.String(), Err: ErrNoParent}
	case errors.Is(err, ErrNotDir):
		return nil, &PathError{Op: "create", Path: p.String(), Err: ErrNotDir}
	case err == nil:
		conflict := opts.Conflict != nil && opts.Conflict(e)
		if e.IsDir() && !conflict {
			return nil, pathErr("create", p, ErrIsDir)
		}
		if opts.Exclusive && !conflict {
			return nil, pathErr("create", p, ErrExist)
		}
	case !errors.Is(err, ErrNotExist):
		return nil, err
	}
	id := NewBlobID()
	u := &Upload{fs: f, ctx: ctx, path: p, id: id, hash: sha256.New(), opts: opts}
	stage := func() error {
		if err := f.cat.BeginUpload(ctx, id, p); err != nil {
			return err
		}
		u.staged.Store(true)
		return nil
	}
	w, err := f.blobs.Create(ctx, id)
	if sw, ok := w.(StagingWriter); ok && err == nil {
		sw.OnStage(stage)
	} else if err == nil {
		if err = stage(); err != nil {
			w.Abort()
			return nil, err
		}
	}
	if err != nil {
		return nil, pathErr("create", p, err)
	}
	u.w = w
	if opts.Expect.SHA1 != "" {
		u.sha1 = sha1.New() // #nosec G401 -- SHA-1 of files for sync tools, not security
	}
	if opts.Expect.MD5 != "" {
		u.md5 = md5.New() // #nosec G401 -- MD5 of files for sync tools, not security
	}
	return u, nil
}

// Upload streams a new file's bytes into a blob, hashing them on the way.
// Write and Close must not be called concurrently.
type Upload struct {
	fs     *FS
	ctx    context.Context
	path   vpath.Path
	id     string
	w      BlobWriter
	hash   hash.Hash   // SHA-256
	staged atomic.Bool // the catalog records the upload (StagingWriter)
	sha1   hash.Hash   // nil unless CreateOptions.Expect has a SHA-1
	md5    hash.Hash   // nil unless CreateOptions.Expect has an MD5
	size   int64
	opts   CreateOptions

	mu   sync.Mutex
	err  error // first failure; sticky
	done bool
}

// Write appends to the upload.
func (u *Upload) Write(b []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if u.opts.MaxSize > 0 && u.size+int64(len(b)) > u.opts.MaxSize {
		u.err = pathErr("write", u.path, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, u.opts.MaxSize))
		return 0, u.err
	}
	n, err := u.w.Write(b)
	u.hash.Write(b[:n])
	if u.sha1 != nil {
		u.sha1.Write(b[:n])
	}
	if u.md5 != nil {
		u.md5.Write(b[:n])
	}
	u.size += int64(n)
	if err != nil {
		u.err = pathErr("write", u.path, err)
	}
	return n, u.err
}

// SetModTime sets the time the file will be published with, for clients
// that date a file before closing it.
func (u *Upload) SetModTime(t time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.opts.ModTime = t
}

// Size is the number of bytes written so far.
func (u *Upload) Size() int64 { return u.size }

// Close commits the blob and publishes the file. On any failure nothing is
// published and the blob is discarded.
func (u *Upload) Close() (Entry, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return Entry{}, pathErr("close", u.path, errors.New("upload already closed"))
	}
	u.done = true
	if u.err != nil {
		u.discard(u.err)
		return Entry{}, u.err
	}
	nf := NewFile{BlobID: u.id, Size: u.size, SHA256: hex.EncodeToString(u.hash.Sum(nil)), CreatedBy: u.opts.By}
	if u.sha1 != nil {
		nf.SHA1 = hex.EncodeToString(u.sha1.Sum(nil))
	}
	if u.md5 != nil {
		nf.MD5 = hex.EncodeToString(u.md5.Sum(nil))
	}
	if nf.SHA1 != u.opts.Expect.SHA1 || nf.MD5 != u.opts.Expect.MD5 {
		u.err = pathErr("close", u.path, ErrChecksum)
		u.discard(u.err)
		return Entry{}, u.err
	}
	if err := u.w.Commit(); err != nil {
		u.discard(err)
		return Entry{}, pathErr("close", u.path, err)
	}
	mtime := u.opts.ModTime // under u.mu, shared with SetModTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	nf.ModTime, nf.Staged = mtime, u.staged.Load()
	e, err := u.fs.cat.Publish(u.ctx, u.path, nf, PublishOptions{Exclusive: u.opts.Exclusive, Conflict: u.opts.Conflict, Guard: u.opts.Guard, Note: u.opts.Note})
	if err != nil {
		u.discard(err)
		return Entry{}, err
	}
	return e, nil
}

// Abort discards the upload; it is harmless after Close.
func (u *Upload) Abort() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return
	}
	u.done = true
	u.discard(u.err)
}

// discard drops the blob and its bookkeeping, even when the upload's
// context is already canceled (a client that hung up). After cause, the
// failure that ends the upload, says the blob store is unavailable, it
// does not try to delete: that would only wait out the store's timeout
// once more before the client hears of the failure, and GC collects the
// upload later.
func (u *Upload) discard(cause error) {
	u.w.Abort()
	if errors.Is(cause, ErrUnavailable) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), 30*time.Second)
	defer cancel()
	if err := u.fs.blobs.Delete(ctx, u.id); err == nil && u.staged.Load() {
		u.fs.cat.AbandonUpload(ctx, u.id)
	}
	// If either failed, the upload row stays and GC finishes the job.
}

// File is an open file: the entry as it was when opened and a reader of
// that version's blob. Renames and overwrites do not disturb it.
type File struct {
	Entry
	BlobReader
}

// Open opens the file at p for reading.
func (f *FS) Open(ctx context.Context, p vpath.Path) (*File, error) {
	e, err := f.cat.Stat(ctx, p)
	if err != nil {
		return nil, err
	}
	if e.IsDir() {
		return nil, pathErr("open", p, ErrIsDir)
	}
	r, err := f.blobs.Open(ctx, e.BlobID, e.Size)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	return &File{Entry: e, BlobReader: r}, nil
}

// Sums returns the entry at p, a file, with its SHA-1 and MD5 filled in:
// hashes not recorded yet (MD5 of every file, SHA-1 of files not uploaded
// with CreateOptions.SHA1) are computed by reading the content once, and
// recorded for every entry holding the same blob.
func (f *FS) Sums(ctx context.Context, p vpath.Path) (Entry, error) {
	e, err := f.cat.Stat(ctx, p)
	if err != nil {
		return e, err
	}
	if e.IsDir() {
		return e, pathErr("hash", p, ErrIsDir)
	}
	if e.SHA1 != "" && e.MD5 != "" {
		return e, nil
	}
	r, err := f.blobs.Open(ctx, e.BlobID, e.Size)
	if err != nil {
		return e, pathErr("hash", p, err)
	}
	defer r.Close()
	h1, h5 := sha1.New(), md5.New() // #nosec G401 -- SHA-1 and MD5 of files for sync tools (oc:checksums, md5sum), not security; SHA-256 is the integrity hash
	if _, err := io.Copy(io.MultiWriter(h1, h5), r); err != nil {
		return e, pathErr("hash", p, err)
	}
	s := Sums{SHA1: hex.EncodeToString(h1.Sum(nil)), MD5: hex.EncodeToString(h5.Sum(nil))}
	if e.SHA1 != "" && e.SHA1 != s.SHA1 {
		return e, pathErr("hash", p, fmt.Errorf("blob %s: content does not match its recorded SHA-1", e.BlobID))
	}
	if err := f.cat.SetSums(ctx, e.BlobID, s); err != nil {
		return e, pathErr("hash", p, err)
	}
	e.SHA1, e.MD5 = s.SHA1, s.MD5
	return e, nil
}
