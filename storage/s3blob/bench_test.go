package s3blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"pier/storage"
)

const (
	benchSize = 256 << 20
	benchPkt  = 32 << 10 // what SFTP clients send and request
)

// BenchmarkPutGet moves a 256 MiB blob through the store the way the SFTP
// front end does (32 KiB writes, 32 KiB sequential ReadAt) and through
// minio-go directly (known size, its default parallelism), and reports
// MB/s of each and the store's ratio to direct. Run with
// -bench PutGet -benchtime 3x; each iteration moves 1 GiB.
func BenchmarkPutGet(b *testing.B) {
	s := openStore(b, testConfig(b))
	ctx := context.Background()
	data := make([]byte, benchSize)
	rand.Read(data)
	var put, get, dput, dget time.Duration
	n := 0
	for b.Loop() {
		id := storage.NewBlobID()
		put += timed(func() { storePut(b, s, id, data) })
		get += timed(func() { storeGet(b, s, id) })
		s.Delete(ctx, id)
		key := s.prefix + "direct/" + id
		dput += timed(func() { directPut(b, s, key, data) })
		dget += timed(func() { directGet(b, s, key) })
		s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
		n++
	}
	mbps := func(d time.Duration) float64 { return float64(n) * benchSize / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(put), "put-MB/s")
	b.ReportMetric(mbps(get), "get-MB/s")
	b.ReportMetric(mbps(dput), "direct-put-MB/s")
	b.ReportMetric(mbps(dget), "direct-get-MB/s")
	b.ReportMetric(float64(dput)/float64(put), "put-ratio")
	b.ReportMetric(float64(dget)/float64(get), "get-ratio")
}

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func storePut(b *testing.B, s *Store, id string, data []byte) {
	w, err := s.Create(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	for off := 0; off < len(data); off += benchPkt {
		if _, err := w.Write(data[off:min(off+benchPkt, len(data))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		b.Fatal(err)
	}
}

func storeGet(b *testing.B, s *Store, id string) {
	r, err := s.Open(context.Background(), id, benchSize)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, benchPkt)
	for off := int64(0); off < benchSize; off += benchPkt {
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

func directPut(b *testing.B, s *Store, key string, data []byte) {
	opts := minio.PutObjectOptions{DisableContentSha256: s.putOpts.DisableContentSha256}
	_, err := s.client.PutObject(context.Background(), s.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		b.Fatal(err)
	}
}

func directGet(b *testing.B, s *Store, key string) {
	obj, err := s.client.GetObject(context.Background(), s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer obj.Close()
	// Large reads: the best case for minio-go, not what SFTP does.
	if n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, obj, make([]byte, 1<<20)); err != nil || n != benchSize {
		b.Fatalf("direct get: %d bytes, %v", n, err)
	}
}
