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
// ErrUnavailable a blob store that does not answer, and ErrFull one that
// has no room left. Front ends
// translate them to protocol codes; nothing here knows protocols.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pier/vpath"
)

// Errors returned by catalogs and the FS, always wrapped with the path.
var (
	ErrNotExist = fs.ErrNotExist
	ErrExist    = fs.ErrExist
	// ErrNoParent: the folder to put an entry in does not exist. It is
	// an ErrNotExist too.
	ErrNoParent = fmt.Errorf("parent folder: %w", fs.ErrNotExist)
	ErrNotDir   = errors.New("not a directory")
	ErrIsDir    = errors.New("is a directory")
	ErrNotEmpty = errors.New("directory not empty")
	ErrTooLarge = errors.New("file too large")
	// ErrChecksum refuses an upload whose content does not match the hash
	// the client sent with it (CreateOptions.Expect).
	ErrChecksum = errors.New("content does not match the checksum sent with it")
	// ErrInvalidMove refuses moving a folder into itself or the root.
	ErrInvalidMove = errors.New("cannot move a folder into itself or move the root")
	// ErrUnavailable means the blob storage did not answer in time or
	// could not be reached: a fault of the service, not of the request,
	// which front ends report as such (and may ask the client to retry).
	ErrUnavailable = errors.New("storage unavailable")
	// ErrFull means the blob storage has no room for the bytes: a full
	// disk or quota (ENOSPC, EDQUOT), an S3 service past its free-space
	// threshold or a bucket quota. Front ends say "storage full" (SFTP)
	// and 507 (WebDAV) rather than "internal error".
	ErrFull = errors.New("storage full")
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
	Path    vpath.Path
	Kind    Kind
	Size    int64
	ModTime time.Time
	SHA256  string // hex; empty for folders
	// SHA1 and MD5 are hex, for sync tools that compare no other hash
	// (see FS.Sums); empty for folders and while not yet computed.
	SHA1, MD5 string
	BlobID    string    // empty for folders
	ID        int64     // stable across renames and overwrites
	Version   int64     // grows with every overwrite
	CreatedBy string    // who published this version (or made the folder)
	Created   time.Time // when the path was first created; overwrites keep it
	Published time.Time // when this version was published; zero for folders
	// Shadows is the name a conflict copy was uploaded as: an uploader
	// who may not see the file that held the name (a drop box) had their
	// upload kept beside it under another name. Empty for other entries.
	Shadows string
}

// IsDir reports whether e is a folder.
func (e Entry) IsDir() bool { return e.Kind == KindDir }

// ETag is the entity tag of a file's content, quoted, as HTTP sends it:
// the content's hash and the entry's version, so it changes with every
// overwrite and stays across renames. Folders have none ("").
func (e Entry) ETag() string {
	if e.IsDir() || len(e.SHA256) < 16 {
		return ""
	}
	return `"` + e.SHA256[:16] + "-" + strconv.FormatInt(e.Version, 10) + `"`
}

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

// A StagingWriter is a BlobWriter that may leave nothing in the store
// before Commit (a small blob sent in one request). It calls the function
// given to OnStage before it first leaves something there that a crash
// would strand (a multipart upload begun), and fails with its error: the
// catalog records an unfinished upload only then (Catalog.BeginUpload),
// which saves two catalog round trips per small file. A blob a crash
// strands after its Commit, before it is published, goes with GC's sweep.
// Writers that are not StagingWriters are recorded before they are made.
type StagingWriter interface {
	BlobWriter
	OnStage(stage func() error)
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

// Sums are hex digests of a file's content; an empty one is not known.
type Sums struct{ SHA1, MD5 string }

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
	SHA1      string
	MD5       string // "" when not computed while uploading
	ModTime   time.Time
	CreatedBy string
	// Staged says the upload was recorded (BeginUpload): publishing
	// removes that record in its transaction.
	Staged bool
}

// Catalog is the SQL side of the store. Implementations must pass
// storagetest.TestCatalog through TestFS.
type Catalog interface {
	Stat(ctx context.Context, p vpath.Path) (Entry, error)
	// StatIn returns the folder p goes in and the entry at p, read in one
	// query. The error wraps ErrNoParent or ErrNotDir when that folder is
	// missing or not a folder, else ErrNotExist when only p is missing.
	StatIn(ctx context.Context, p vpath.Path) (dir, e Entry, err error)
	// List returns up to limit children of dir with names greater than
	// after, in byte order of their names.
	List(ctx context.Context, dir vpath.Path, after string, limit int) ([]Entry, error)
	Mkdir(ctx context.Context, p vpath.Path, opts MkdirOptions) error
	// BeginUpload records a blob being written so GC can find it if the
	// upload is never published.
	BeginUpload(ctx context.Context, blobID string, p vpath.Path) error
	// Publish makes an uploaded blob the content of p in one transaction.
	Publish(ctx context.Context, p vpath.Path, f NewFile, opts PublishOptions) (Entry, error)
	// AbandonUpload forgets an upload that will not be published.
	AbandonUpload(ctx context.Context, blobID string) error
	// Move renames a file, or a folder with everything below it, in one
	// transaction; what it replaces at to goes in the same transaction.
	Move(ctx context.Context, from, to vpath.Path, opts MoveOptions) error
	// Copy copies a file, or a folder with everything below it, in one
	// transaction that touches only catalog rows: blobs are immutable, so
	// the copies share them.
	Copy(ctx context.Context, from, to vpath.Path, opts MoveOptions) error
	// Remove deletes a file or a folder; a non-empty folder only with
	// opts.Recursive.
	Remove(ctx context.Context, p vpath.Path, opts RemoveOptions) error
	// Walk yields every entry strictly below dir, as View.Walk does, but
	// outside any transaction.
	Walk(ctx context.Context, dir vpath.Path) iter.Seq2[Entry, error]
	// Shadow returns the newest conflict copy that by uploaded as p
	// (Entry.Shadows), or an error wrapping ErrNotExist.
	Shadow(ctx context.Context, p vpath.Path, by string) (Entry, error)
	SetModTime(ctx context.Context, p vpath.Path, t time.Time) error
	// SetSums records hashes of a blob's content on every entry that
	// holds it, where they are not recorded yet (blobs never change, so
	// a hash computed once holds for every copy).
	SetSums(ctx context.Context, blobID string, s Sums) error

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

// View is the catalog as one write transaction sees it. A Guard reads it
// to decide on exactly the state the change will act on: nothing can
// change between the decision and the change.
type View interface {
	// Stat returns the entry at p, or an error wrapping ErrNotExist.
	Stat(ctx context.Context, p vpath.Path) (Entry, error)
	// Walk yields every entry strictly below dir, folders and files, in
	// no particular order. Only Path and Kind are filled in. Stopping the
	// iteration early is cheap.
	Walk(ctx context.Context, dir vpath.Path) iter.Seq2[Entry, error]
}

// Guard decides whether a change may go ahead. It runs inside the change's
// transaction, possibly more than once (a transaction that conflicts is
// retried), so it must not have side effects. Its error aborts the change
// and is returned as it is.
type Guard func(ctx context.Context, v View) error

// Note is the audit record of a change, written in the change's own
// transaction so that the change and its record commit together or not at
// all: given the entry the change produced (published, made, moved or
// copied; for a removal, the removed one), it returns the record's bytes,
// or nil for none. It may run more than once (a retried transaction).
type Note func(result Entry) []byte

// MkdirOptions shape the making of a folder.
type MkdirOptions struct {
	By      string    // who makes it
	ModTime time.Time // zero: now
	Note    Note
}

// Replace says what a move or copy may replace at its target.
type Replace uint8

const (
	// NoReplace refuses an existing target (ErrExist).
	NoReplace Replace = iota
	// ReplaceFile replaces an existing file with a file, as POSIX rename
	// does; any other existing target is refused (ErrExist).
	ReplaceFile
	// ReplaceAny deletes whatever is at the target, a folder with all it
	// holds, and puts the source there, as WebDAV's "Overwrite: T" does.
	ReplaceAny
)

// MoveOptions shape a move or a copy.
type MoveOptions struct {
	Replace Replace
	// Shallow copies a folder without its content (WebDAV "Depth: 0").
	// Moves ignore it.
	Shallow bool
	// By names the user, for the copies' catalog rows.
	By string
	// Conflict, if set, is asked about a file at the target of a file's
	// move: true keeps the moved file beside it as a conflict copy,
	// whatever Replace says.
	Conflict Conflict
	// Guard, if set, decides inside the transaction.
	Guard Guard
	// Note, if set, records the move or copy (its result: the entry at
	// its new place) in its transaction.
	Note Note
}

// RemoveOptions shape a removal.
type RemoveOptions struct {
	// Recursive removes a folder with everything in it.
	Recursive bool
	// Guard, if set, decides inside the transaction.
	Guard Guard
	// Note, if set, records the removal in its transaction.
	Note Note
}

// PublishOptions shape the publication of an upload.
type PublishOptions struct {
	// Exclusive refuses to replace an existing file (ErrExist).
	Exclusive bool
	// Conflict, if set, is asked about the entry an upload finds at its
	// name: true publishes the upload beside it as a conflict copy,
	// whatever Exclusive says.
	Conflict Conflict
	// Guard, if set, decides inside the transaction, on the entry the
	// upload would replace (a conditional PUT's If-Match, say).
	Guard Guard
	// Note, if set, records the publication in its transaction.
	Note Note
}

// Conflict decides, inside a change's transaction, whether a file that
// holds the name a new file is to get makes the new one a conflict copy
// (named by ConflictName, its Entry.Shadows the name it wanted): the
// authorising layer answers true when the user cannot see that file, so
// that a drop box never learns whether a name is taken.
type Conflict func(existing Entry) bool

// ConflictName is the name of a conflict copy of name uploaded by by at
// t: "order~acme-edi~20261201T100000Z.edi", the extension kept so that
// whatever processes *.edi files still sees it; n > 1 tells apart copies
// made in the same second. The result is at most 255 bytes.
func ConflictName(name, by string, t time.Time, n int) string {
	ext := path.Ext(name)
	if len(ext) > 32 || ext == name {
		ext = ""
	}
	base := strings.TrimSuffix(name, ext)
	tag := "~" + by + "~" + t.UTC().Format("20060102T150405Z")
	if n > 1 {
		tag += "~" + strconv.Itoa(n)
	}
	if over := len(base) + len(tag) + len(ext) - 255; over > 0 {
		cut := len(base) - over
		for cut > 0 && !utf8.RuneStart(base[cut]) {
			cut--
		}
		base = base[:max(cut, 0)]
	}
	return base + tag + ext
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
