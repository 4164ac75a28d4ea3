// Package storage is pier's file store: a catalog of entries kept in SQL
// over immutable blobs kept in S3 or on local disk.
//
// A file's bytes live in a blob named by a random id, never by the user's
// path. The catalog maps paths to entries (kind, size, mtime, SHA-256, blob
// id, version). An upload streams into a new blob and becomes visible only
// when its catalog row is published in one transaction, so readers never see
// a partial file; renames of files and whole folders touch only the catalog.
// Blobs that lose their last reference are collected later by GC, after a
// grace period that lets readers of an old version finish.
//
// Errors: a missing path wraps fs.ErrNotExist, an existing one fs.ErrExist;
// ErrNotDir, ErrIsDir, ErrNotEmpty and ErrTooLarge name the other refusals,
// and ErrUnavailable a blob store that does not answer. Front ends
// translate them to protocol codes; nothing here knows protocols.
package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"pier/vpath"
)

// Errors returned by catalogs and the FS, always wrapped with the path.
var (
	ErrNotExist = fs.ErrNotExist
	ErrExist    = fs.ErrExist
	ErrNotDir   = errors.New("not a directory")
	ErrIsDir    = errors.New("is a directory")
	ErrNotEmpty = errors.New("directory not empty")
	ErrTooLarge = errors.New("file too large")
	// ErrInvalidMove refuses moving a folder into itself or the root.
	ErrInvalidMove = errors.New("cannot move a folder into itself or move the root")
	// ErrUnavailable means the blob storage did not answer in time or
	// could not be reached: a fault of the service, not of the request,
	// which front ends report as such (and may ask the client to retry).
	ErrUnavailable = errors.New("storage unavailable")
)

// PathError carries the operation and path of a failure; Err is one of the
// errors above or a technical failure.
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *PathError) Unwrap() error { return e.Err }

func pathErr(op string, p vpath.Path, err error) error {
	if err == nil {
		return nil
	}
	var pe *PathError
	if errors.As(err, &pe) {
		return err
	}
	return &PathError{Op: op, Path: p.String(), Err: err}
}

// Kind is the type of a catalog entry.
type Kind byte

const (
	KindFile Kind = 'f'
	KindDir  Kind = 'd'
)

// Entry is one row of the catalog.
type Entry struct {
	Path      vpath.Path
	Kind      Kind
	Size      int64
	ModTime   time.Time
	SHA256    string // hex; empty for folders
	BlobID    string // empty for folders
	ID        int64  // stable across renames and overwrites
	Version   int64  // grows with every overwrite
	CreatedBy string
	Created   time.Time // when the path was first created; overwrites keep it
}

// IsDir reports whether e is a folder.
func (e Entry) IsDir() bool { return e.Kind == KindDir }

// Name is the last element of the entry's path.
func (e Entry) Name() string { return e.Path.Name() }

// BlobStore keeps immutable blobs named by id. Implementations must pass
// storagetest.TestBlobStore.
type BlobStore interface {
	// Create starts a new blob. Nothing is visible under id until Commit
	// returns nil; Abort discards what was written.
	Create(ctx context.Context, id string) (BlobWriter, error)
	// Open reads a committed blob of the given size.
	Open(ctx context.Context, id string, size int64) (BlobReader, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, id string) error
	// Walk calls fn for every committed blob, in no particular order.
	Walk(ctx context.Context, fn func(BlobInfo) error) error
	// Ping checks that the store can serve requests now, for readiness
	// probes: nil, or an error wrapping ErrUnavailable that says why.
	// It must be cheap enough to run every few seconds.
	Ping(ctx context.Context) error
}

// BlobWriter receives a blob's bytes. A store that stops answering must
// make Write and Commit fail with ErrUnavailable in bounded time, never
// block them indefinitely; the same holds for BlobReader and Delete.
type BlobWriter interface {
	io.Writer
	Commit() error
	Abort() error
}

// BlobReader reads a blob sequentially or at offsets.
type BlobReader interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// BlobInfo describes a stored blob for garbage collection.
type BlobInfo struct {
	ID      string
	Size    int64
	ModTime time.Time
}

// Prop is a dead property: a name and the XML a client stored under it.
// Properties follow their entry through renames and overwrites.
type Prop struct {
	Space, Local string // XML namespace and local name
	Lang         string
	XML          []byte // inner XML
}

// Limits on dead properties.
const (
	MaxPropsPerEntry = 100
	MaxPropSize      = 64 << 10
)

// ErrTooManyProps refuses properties beyond the limits.
var ErrTooManyProps = errors.New("too many or too large properties")

// NewFile is what an upload publishes.
type NewFile struct {
	BlobID    string
	Size      int64
	SHA256    string
	ModTime   time.Time
	CreatedBy string
}

// Catalog is the SQL side of the store. Implementations must pass
// storagetest.TestCatalog through TestFS.
type Catalog interface {
	Stat(ctx context.Context, p vpath.Path) (Entry, error)
	// List returns up to limit children of dir with names greater than
	// after, in byte order of their names.
	List(ctx context.Context, dir vpath.Path, after string, limit int) ([]Entry, error)
	Mkdir(ctx context.Context, p vpath.Path, by string, mtime time.Time) error
	// BeginUpload records a blob being written so GC can find it if the
	// upload is never published.
	BeginUpload(ctx context.Context, blobID string, p vpath.Path) error
	// Publish makes an uploaded blob the content of p in one transaction.
	// With exclusive set an existing file is not replaced (ErrExist).
	Publish(ctx context.Context, p vpath.Path, f NewFile, exclusive bool) (Entry, error)
	// AbandonUpload forgets an upload that will not be published.
	AbandonUpload(ctx context.Context, blobID string) error
	// Rename moves a file or a folder with everything below it. With
	// replace set, an existing file at to is replaced; an existing folder
	// is never replaced.
	Rename(ctx context.Context, from, to vpath.Path, replace bool) error
	// Remove deletes a file or a folder; a non-empty folder only with
	// recursive set.
	Remove(ctx context.Context, p vpath.Path, recursive bool) error
	SetModTime(ctx context.Context, p vpath.Path, t time.Time) error

	// DeadProps returns the dead (client-set) properties of entries.
	DeadProps(ctx context.Context, ids []int64) (map[int64][]Prop, error)
	// PatchProps sets and removes dead properties of p in one transaction.
	PatchProps(ctx context.Context, p vpath.Path, set, remove []Prop) error

	// StaleUploads lists blobs of uploads begun before t and never ended.
	StaleUploads(ctx context.Context, before time.Time) ([]string, error)
	// Garbage lists blobs released before t that no entry references.
	Garbage(ctx context.Context, before time.Time) ([]string, error)
	// ForgetBlobs drops the bookkeeping rows of collected blobs.
	ForgetBlobs(ctx context.Context, ids []string) error
	// KnownBlobs reports which of ids the catalog knows (referenced,
	// being uploaded or awaiting collection).
	KnownBlobs(ctx context.Context, ids []string) (map[string]bool, error)
}

// FileInfo presents an entry as an fs.FileInfo, for protocol libraries.
// Folders have mode 0755, files 0644: rights come from grants, not modes.
type FileInfo struct{ Entry }

var _ fs.FileInfo = FileInfo{}

// Name is the entry's name, "/" for the root.
func (fi FileInfo) Name() string {
	if fi.Path.IsRoot() {
		return "/"
	}
	return fi.Entry.Name()
}
func (fi FileInfo) Size() int64        { return fi.Entry.Size }
func (fi FileInfo) ModTime() time.Time { return fi.Entry.ModTime }
func (fi FileInfo) IsDir() bool        { return fi.Entry.IsDir() }
func (fi FileInfo) Sys() any           { return nil }
func (fi FileInfo) Mode() fs.FileMode {
	if fi.Entry.IsDir() {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
