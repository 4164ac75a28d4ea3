package s3blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"pier/storage"
	"pier/storage/storagetest"
)

// testConfig is the MinIO of scripts/testenv, under a fresh prefix so
// tests sharing the bucket never see each other's blobs.
func testConfig(t testing.TB) Config {
	t.Helper()
	raw := os.Getenv("PIER_TEST_S3_URL")
	if raw == "" {
		const msg = "PIER_TEST_S3_URL not set: run the tests through scripts/test"
		if os.Getenv("PIER_TEST_REQUIRE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := ParseURL(raw, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prefix += "test-" + storage.NewBlobID()[:12] + "/"
	return cfg
}

// openStore opens cfg and removes every blob under its prefix afterwards.
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background() // the test's context is gone by now
		var ids []string
		s.Walk(ctx, func(bi storage.BlobInfo) error { ids = append(ids, bi.ID); return nil })
		for _, id := range ids {
			s.Delete(ctx, id)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	base := testConfig(t)
	storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
		cfg := base
		cfg.Prefix += storage.NewBlobID()[:12] + "/"
		return openStore(t, cfg)
	})
}

// countingTransport counts the requests that reach the service, except
// minio-go's one-time bucket location lookup.
type countingTransport struct {
	next      http.RoundTripper
	gets, all atomic.Int64
	lastPut   atomic.Pointer[http.Header] // the headers of the last PUT
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !req.URL.Query().Has("location") {
		c.all.Add(1)
		if req.Method == http.MethodPut {
			h := req.Header.Clone()
			c.lastPut.Store(&h)
		}
		if req.Method == http.MethodGet {
			c.gets.Add(1)
		}
	}
	return c.next.RoundTrip(req)
}

func countingStore(t *testing.T) (*Store, *countingTransport) {
	cfg := testConfig(t)
	ct := &countingTransport{next: mustTransport(t, cfg)}
	cfg.Transport = ct
	return openStore(t, cfg), ct
}

func putRandom(t testing.TB, s *Store, n int) (string, []byte) {
	t.Helper()
	id, data := storage.NewBlobID(), make([]byte, n)
	rand.Read(data)
	w, err := s.Create(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return id, data
}

// SFTP reads a file as 32 KiB ReadAt calls with growing offsets, a few of
// them swapped by pkg/sftp's 8 workers: all must share one GET.
func TestSequentialReadAtOneGET(t *testing.T) {
	s, ct := countingStore(t)
	const pkt = 32 << 10
	id, data := putRandom(t, s, 8<<20+123)
	r, err := s.Open(context.Background(), id, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	before := ct.gets.Load()
	var got bytes.Buffer
	for off := int64(0); off < int64(len(data)); off += 2 * pkt {
		// Read each pair of packets in reverse order, as workers may.
		second := readPacket(t, r, off+pkt, pkt)
		got.Write(readPacket(t, r, off, pkt))
		got.Write(second)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("ReadAt returned wrong bytes")
	}
	if n := ct.gets.Load() - before; n != 1 {
		t.Fatalf("%d GETs for one sequential read, want 1", n)
	}
	// A jump far back must start a new GET, and still read right.
	if b := readPacket(t, r, 100, pkt); !bytes.Equal(b, data[100:100+pkt]) {
		t.Fatal("ReadAt after a jump back returned wrong bytes")
	}
	if n := ct.gets.Load() - before; n != 2 {
		t.Fatalf("%d GETs after one jump back, want 2", n)
	}
}

// A small blob costs one PUT, not a multipart upload's three requests.
func TestSmallBlobOneRequest(t *testing.T) {
	s, ct := countingStore(t)
	before := ct.all.Load()
	putRandom(t, s, 10<<10)
	if n := ct.all.Load() - before; n != 1 {
		t.Fatalf("%d requests for a 10 KiB blob, want 1", n)
	}
}

// checksum=crc32c (the default) sends each PUT's CRC32C in a header;
// checksum=off sends no checksum at all, in a header or a trailer, for
// services that refuse them.
func TestChecksumSetting(t *testing.T) {
	for _, mode := range []string{"", "off"} {
		cfg := testConfig(t)
		cfg.Checksum = mode
		ct := &countingTransport{next: mustTransport(t, cfg)}
		cfg.Transport = ct
		s := openStore(t, cfg)
		putRandom(t, s, 10<<10)
		h := *ct.lastPut.Load()
		crc, trailer := h.Get("X-Amz-Checksum-Crc32c"), h.Get("X-Amz-Trailer")+h.Get("Content-Encoding")
		switch {
		case mode == "" && (crc == "" || trailer != ""):
			t.Errorf("checksum on: CRC32C header %q, trailer %q", crc, trailer)
		case mode == "off" && (crc != "" || trailer != ""):
			t.Errorf("checksum off: CRC32C header %q, trailer %q", crc, trailer)
		}
	}
}

// A streaming upload must hold about two parts, never minio-go's default
// ~528 MiB buffer for uploads of unknown size.
func TestUploadMemoryBounded(t *testing.T) {
	cfg := testConfig(t)
	cfg.PartSize = 5 << 20
	cfg.ContentSHA256 = "off" // its signing garbage (10 MiB per 64 MiB) is not held memory
	s := openStore(t, cfg)
	w, err := s.Create(context.Background(), storage.NewBlobID())
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 64 << 20 / len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("uploading 64 MiB allocated %.1f MiB", float64(alloc)/(1<<20))
	// Two parts, the 1 MiB small-blob buffer and HTTP overhead; minio-go's
	// default would be 2 × 528 MiB.
	if limit := uint64(2*cfg.PartSize + 8<<20); alloc > limit {
		t.Fatalf("uploading 64 MiB allocated %d bytes, want at most %d", alloc, limit)
	}
}

// Streaming uploads beyond MaxConcurrentUploads wait for a slot, and a
// canceled context ends the wait.
func TestUploadSlots(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConcurrentUploads = 1
	s := openStore(t, cfg)
	big := make([]byte, smallBlob+1) // starts streaming at once
	first, _ := s.Create(context.Background(), storage.NewBlobID())
	if _, err := first.Write(big); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	id := storage.NewBlobID()
	waiting, _ := s.Create(ctx, id)
	if _, err := waiting.Write(big); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write without a free slot: %v, want deadline exceeded", err)
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	putRandom(t, s, len(big)) // the slot is free again
	assertNothingUnder(t, s, s.key(id))
}

func mustTransport(t testing.TB, cfg Config) http.RoundTripper {
	tr, err := NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func readPacket(t *testing.T, r io.ReaderAt, off, n int64) []byte {
	t.Helper()
	buf := make([]byte, n)
	m, err := r.ReadAt(buf, off)
	if m < len(buf) && !errors.Is(err, io.EOF) || m == len(buf) && err != nil {
		t.Fatalf("ReadAt(%d): n=%d err=%v", off, m, err)
	}
	return buf[:m]
}

// Abort and cancellation must leave neither an object nor an incomplete
// multipart upload (invisible, but billed storage on S3).
func TestAbortLeavesNoUpload(t *testing.T) {
	cfg := testConfig(t)
	cfg.PartSize = 5 << 20 // so that the write below sends a whole part
	s := openStore(t, cfg)
	for _, cancelIt := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		id := storage.NewBlobID()
		w, err := s.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(make([]byte, 12<<20)); err != nil {
			t.Fatal(err)
		}
		if cancelIt {
			cancel()
			if err := w.Commit(); err == nil {
				t.Fatal("Commit after cancel succeeded")
			}
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("second Abort: %v", err)
		}
		cancel()
		assertNothingUnder(t, s, s.key(id))
	}
}

func assertNothingUnder(t *testing.T, s *Store, key string) {
	t.Helper()
	ctx := context.Background()
	for up := range s.client.ListIncompleteUploads(ctx, s.bucket, key, true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		t.Errorf("incomplete upload %s left under %s", up.UploadID, key)
	}
	_, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		t.Errorf("object %s: stat says %v, want NoSuchKey", key, err)
	}
}

// Abort after Commit must not delete or damage the committed blob.
func TestAbortAfterCommit(t *testing.T) {
	s := openStore(t, testConfig(t))
	for _, n := range []int{10, 3 << 20} { // a single PUT and a multipart upload
		id, data := storage.NewBlobID(), bytes.Repeat([]byte("x"), n)
		w, _ := s.Create(context.Background(), id)
		w.Write(data)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort after Commit: %v", err)
		}
		r, _ := s.Open(context.Background(), id, int64(n))
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("blob after Abort-after-Commit: %d bytes, %v", len(got), err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()

	bad := cfg
	bad.SecretKey = "wrong-secret-d41d8cd98f00"
	_, err := Open(ctx, bad)
	if err == nil {
		t.Fatal("Open with a wrong secret key succeeded")
	}
	t.Logf("wrong secret: %v", err)
	if msg := err.Error(); strings.Contains(msg, bad.SecretKey) || !strings.Contains(msg, cfg.Endpoint) ||
		!strings.Contains(msg, cfg.Bucket) {
		t.Errorf("wrong-credentials error should name endpoint and bucket, not the secret: %v", err)
	}

	missing := cfg
	missing.Bucket, missing.CreateBucket = "pier-missing-"+storage.NewBlobID()[:8], false
	_, err = Open(ctx, missing)
	t.Logf("missing bucket: %v", err)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Open of a missing bucket: %v", err)
	}

	down := cfg
	down.Endpoint = "127.0.0.1:1" // nothing listens on port 1
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = Open(ctx, down)
	t.Logf("unreachable: %v", err)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Open of an unreachable endpoint: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open of an unreachable endpoint took %v", d)
	}
}

func TestInvalidIDs(t *testing.T) {
	s := &Store{} // refused before any request
	ctx := context.Background()
	for _, id := range []string{"", "../../etc/passwd", strings.Repeat("A", 32), strings.Repeat("a", 31)} {
		if _, err := s.Create(ctx, id); err == nil {
			t.Errorf("Create(%q) accepted", id)
		}
		if _, err := s.Open(ctx, id, 1); err == nil {
			t.Errorf("Open(%q) accepted", id)
		}
		if err := s.Delete(ctx, id); err == nil {
			t.Errorf("Delete(%q) accepted", id)
		}
	}
}

// TestStragglerKeepsTheStream: a read that arrives far behind the window
// (a late pipelined SFTP read) is served by one ranged GET on the side,
// and the streaming GET goes on for the reads ahead.
func TestStragglerKeepsTheStream(t *testing.T) {
	s, ct := countingStore(t)
	const pkt = 32 << 10
	id, data := putRandom(t, s, 12<<20)
	r, err := s.Open(context.Background(), id, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := ct.gets.Load()
	for off := int64(0); off < 8<<20; off += pkt {
		readPacket(t, r, off, pkt)
	}
	if b := readPacket(t, r, 100, pkt); !bytes.Equal(b, data[100:100+pkt]) {
		t.Fatal("straggler read returned wrong bytes")
	}
	for off := int64(8 << 20); off < int64(len(data)); off += pkt {
		if b := readPacket(t, r, off, pkt); !bytes.Equal(b, data[off:off+pkt]) {
			t.Fatalf("read at %d after the straggler returned wrong bytes", off)
		}
	}
	if n := ct.gets.Load() - before; n != 2 {
		t.Fatalf("%d GETs, want 2: the stream and one for the straggler", n)
	}
}

// TestStageBeforeMultipart: a writer stages (the catalog records the
// upload) only when it begins a multipart upload, before anything of it is
// in the store; a small blob never stages. A failed stage fails the write
// and leaves nothing.
func TestStageBeforeMultipart(t *testing.T) {
	s := openStore(t, testConfig(t))
	ctx := context.Background()
	create := func(stage func() error) (storage.StagingWriter, string) {
		id := storage.NewBlobID()
		w, err := s.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sw, ok := w.(storage.StagingWriter)
		if !ok {
			t.Fatal("the S3 writer is no StagingWriter")
		}
		sw.OnStage(stage)
		return sw, id
	}

	staged := 0
	small, _ := create(func() error { staged++; return nil })
	small.Write(make([]byte, smallBlob))
	if err := small.Commit(); err != nil || staged != 0 {
		t.Fatalf("small blob: commit %v, staged %d times; want 0", err, staged)
	}

	var stagedWith []string
	var key string
	large, id := create(func() error {
		var n []string
		for up := range s.client.ListIncompleteUploads(ctx, s.bucket, key, true) {
			n = append(n, up.UploadID)
		}
		stagedWith = append(stagedWith, fmt.Sprint(len(n)))
		return nil
	})
	key = s.key(id)
	large.Write(make([]byte, smallBlob))
	if len(stagedWith) != 0 {
		t.Fatalf("staged before the small-blob buffer was full")
	}
	large.Write(make([]byte, 3<<20))
	if err := large.Commit(); err != nil || fmt.Sprint(stagedWith) != "[0]" {
		t.Fatalf("large blob: commit %v, staged %v; want once, with no upload begun yet", err, stagedWith)
	}

	refused := errors.New("catalog down")
	failing, id2 := create(func() error { return refused })
	if _, err := failing.Write(make([]byte, 2*smallBlob)); !errors.Is(err, refused) {
		t.Fatalf("write after a failed stage: %v; want %v", err, refused)
	}
	if err := failing.Commit(); err == nil {
		t.Fatal("commit after a failed stage succeeded")
	}
	assertNothingUnder(t, s, s.key(id2))
}
