// Package s3blob keeps pier's blobs in an S3 bucket (MinIO, AWS S3 or any
// other S3 service) through minio-go.
//
// A blob is the object Prefix + "blobs/" + id[:2] + "/" + id. Uploads
// stream with bounded memory: blobs up to 1 MiB are buffered and sent in
// one PUT; larger ones go through one multipart upload, sent part by part
// from the buffer they were written into (one or two part buffers per
// upload, from the memory budget all transfers share), and become visible
// only when Commit completes it. Payloads are not signed (a SHA-256 of
// every byte cost as much CPU as everything else of an upload); each PUT
// carries the CRC32C of its bytes, which the service checks. Reads stream
// one ranged GET per sequential run, so SFTP's 32 KiB ReadAt packets do
// not each cost an HTTP request.
//
// Incomplete multipart uploads are aborted on Abort, failure and context
// cancellation; one left behind by a crashed process is invisible and can
// be removed by a bucket lifecycle rule (AbortIncompleteMultipartUpload).
//
// Every wait on the service is bounded by Config.Timeout (transport.go):
// a service that stops answering fails reads, writes, deletes and walks
// with an error wrapping storage.ErrUnavailable instead of hanging them.
package s3blob

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"pier/membudget"
	"pier/storage"
)

// openTimeout bounds the bucket check in Open: an unreachable endpoint
// should fail startup quickly instead of retrying for minutes.
const openTimeout = 15 * time.Second

// Store is a storage.BlobStore in one bucket under one prefix. It is safe
// for concurrent use.
type Store struct {
	client   *minio.Client
	core     minio.Core
	bucket   string
	prefix   string // "" or ending in "/"
	putOpts  minio.PutObjectOptions
	partSize int
	checksum bool // send a CRC32C with every PUT
	timeout  time.Duration
	budget   *membudget.Budget
	uploads  chan struct{} // one token per running multipart upload
}

var _ storage.BlobStore = (*Store)(nil)

// Open connects to the bucket of cfg and checks that it exists, creating
// it when cfg.CreateBucket is set. ctx bounds only this check.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("s3blob: %w", err)
	}
	cfg = withDefaults(cfg)
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	next := cfg.Transport
	if next == nil {
		tr, err := NewTransport(cfg)
		if err != nil {
			return nil, err
		}
		next = tr
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.TLS,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    guard{next: next, where: cfg.Endpoint, timeout: cfg.Timeout, observe: cfg.Observe},
		// Lets PUTs carry x-amz-checksum-* headers. With checksum=off it
		// stays off: minio-go would add a CRC32C trailer of its own.
		TrailingHeaders: cfg.Checksum != "off",
	})
	if err != nil {
		return nil, fmt.Errorf("s3blob: endpoint %s: %w", cfg.Endpoint, err)
	}
	budget := cfg.Budget
	if budget == nil {
		// A store of its own: as much as its upload slots can use.
		budget = membudget.New(membudget.Config{Limit: 2 * cfg.PartSize * int64(cfg.MaxConcurrentUploads)})
	}
	s := &Store{
		client:   client,
		core:     minio.Core{Client: client},
		bucket:   cfg.Bucket,
		prefix:   cfg.Prefix,
		putOpts:  putOptions(cfg),
		partSize: int(cfg.PartSize),
		checksum: cfg.Checksum != "off",
		timeout:  cfg.Timeout,
		budget:   budget,
		uploads:  make(chan struct{}, cfg.MaxConcurrentUploads),
	}
	if err := s.checkBucket(ctx, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.MaxConcurrentUploads == 0 {
		cfg.MaxConcurrentUploads = DefaultMaxConcurrentUploads
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return cfg
}

func putOptions(cfg Config) minio.PutObjectOptions {
	return minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		DisableContentSha256: !signPayload(cfg),
	}
}

// signPayload reports whether uploads sign a SHA-256 of their bytes
// (over plain HTTP; TLS protects them otherwise). Only "on" does: it
// doubles the hashing an upload costs, on both ends, while the CRC32C
// sent with every PUT already protects the bytes from corruption.
func signPayload(cfg Config) bool {
	return cfg.ContentSHA256 == "on"
}

func (s *Store) checkBucket(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	ctx, end := operation(ctx)
	defer end()
	where := fmt.Sprintf("bucket %q at %s", cfg.Bucket, cfg.Endpoint)
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3blob: cannot check %s (endpoint down or credentials wrong?): %w", where, failure(ctx, err))
	}
	if ok {
		return nil
	}
	if !cfg.CreateBucket {
		return fmt.Errorf("s3blob: %s does not exist (create it, or set create-bucket=true)", where)
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: cfg.Region})
	if err != nil && minio.ToErrorResponse(err).Code != minio.BucketAlreadyOwnedByYou {
		return fmt.Errorf("s3blob: cannot create %s: %w", where, failure(ctx, err))
	}
	return nil
}

// Ping asks whether the bucket exists (HEAD on the bucket). One request
// without a body proves what every operation needs: the service answers,
// accepts the credentials and still has the bucket. A HEAD of an object
// would prove no more and needs an object to exist; HEAD on the bucket
// needs the ListBucket right, which Walk needs anyway.
func (s *Store) Ping(ctx context.Context) error {
	ctx, end := operation(ctx)
	defer end()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err == nil && !ok {
		err = fmt.Errorf("bucket %q does not exist", s.bucket)
	}
	if err = failure(ctx, err); err != nil && !errors.Is(err, storage.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	if err != nil {
		return fmt.Errorf("s3blob: ping: %w", err)
	}
	return nil
}

// key is the object name of blob id. The two-character fan-out keeps
// listings of one "directory" short on services that shard by prefix.
func (s *Store) key(id string) string {
	return s.prefix + "blobs/" + id[:2] + "/" + id
}

func checkID(op, id string) error {
	if !storage.ValidBlobID(id) {
		return fmt.Errorf("s3blob: %s: invalid blob id %q", op, id)
	}
	return nil
}

// Create starts streaming a new blob. Its ctx governs the whole upload:
// canceling it aborts the upload.
func (s *Store) Create(ctx context.Context, id string) (storage.BlobWriter, error) {
	if err := checkID("create", id); err != nil {
		return nil, err
	}
	ctx, end := operation(ctx)
	return &writer{s: s, ctx: ctx, end: end, id: id, key: s.key(id)}, nil
}

// Open returns a reader of blob id, which must have the given size. It
// makes no request; the first read does. ctx governs all reads.
func (s *Store) Open(ctx context.Context, id string, size int64) (storage.BlobReader, error) {
	if err := checkID("open", id); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("s3blob: open %s: negative size %d", id, size)
	}
	return &reader{core: s.core, bucket: s.bucket, ctx: ctx,
		id: id, key: s.key(id), size: size, budget: s.budget}, nil
}

// Delete removes blob id; a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := checkID("delete", id); err != nil {
		return err
	}
	ctx, end := operation(ctx)
	defer end()
	err := s.client.RemoveObject(ctx, s.bucket, s.key(id), minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return fmt.Errorf("s3blob: delete %s: %w", id, failure(ctx, err))
	}
	// A process that died mid-upload leaves parts of a multipart upload
	// behind; GC deletes the blob of such an upload by id, so drop the
	// parts too rather than wait for a bucket lifecycle rule.
	if err := s.client.RemoveIncompleteUpload(ctx, s.bucket, s.key(id)); err != nil &&
		minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
		return fmt.Errorf("s3blob: delete parts of %s: %w", id, failure(ctx, err))
	}
	return nil
}

// PendingUploads counts the incomplete multipart uploads below the
// store's prefix: parts stored but never completed or aborted.
func (s *Store) PendingUploads(ctx context.Context) (int, error) {
	ctx, end := operation(ctx)
	defer end()
	n := 0
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, s.prefix, true) {
		if u.Err != nil {
			return n, fmt.Errorf("s3blob: list incomplete uploads: %w", failure(ctx, u.Err))
		}
		n++
	}
	if err := ctx.Err(); err != nil {
		return n, fmt.Errorf("s3blob: list incomplete uploads: %w", failure(ctx, err))
	}
	return n, nil
}

// Walk calls fn for every blob under the prefix, skipping keys that are
// not blobs of this layout. An error from fn stops the walk and is
// returned as is.
func (s *Store) Walk(ctx context.Context, fn func(storage.BlobInfo) error) error {
	ctx, end := operation(ctx) // ending it also stops minio-go's lister on early return
	defer end()
	opts := minio.ListObjectsOptions{Prefix: s.prefix + "blobs/", Recursive: true}
	for obj := range s.client.ListObjects(ctx, s.bucket, opts) {
		if obj.Err != nil {
			return fmt.Errorf("s3blob: walk: %w", failure(ctx, obj.Err))
		}
		id := path.Base(obj.Key)
		if !storage.ValidBlobID(id) || obj.Key != s.key(id) {
			continue
		}
		if err := fn(storage.BlobInfo{ID: id, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil { // a canceled listing ends the channel without an error
		return fmt.Errorf("s3blob: walk: %w", failure(ctx, err))
	}
	return nil
}
