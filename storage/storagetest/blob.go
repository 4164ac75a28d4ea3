// Package storagetest is the conformance suite every blob store and every
// catalog must pass. Backends call TestBlobStore and TestFS from their own
// tests; the suite drives them only through the storage interfaces.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"pier/storage"
)

// randBytes returns n random bytes.
func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func putBlob(t testing.TB, ctx context.Context, bs storage.BlobStore, id string, data []byte) {
	t.Helper()
	w, err := bs.Create(ctx, id)
	if err != nil {
		t.Fatalf("Create(%s): %v", id, err)
	}
	// Write in uneven pieces, as protocol front ends do.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+len(rest)%70001)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit(%s): %v", id, err)
	}
}

func readAll(t testing.TB, ctx context.Context, bs storage.BlobStore, id string, size int64) []byte {
	t.Helper()
	r, err := bs.Open(ctx, id, size)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("ReadAll(%s): %v", id, err)
	}
	return b
}

func walkIDs(t testing.TB, ctx context.Context, bs storage.BlobStore) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	if err := bs.Walk(ctx, func(bi storage.BlobInfo) error {
		ids[bi.ID] = bi.Size
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return ids
}

// TestBlobStore runs the blob conformance suite against a fresh, empty
// store returned by newStore.
func TestBlobStore(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		bs := newStore(t)
		for _, n := range []int{0, 1, 4096, 1<<20 + 17, 9 << 20} {
			id := storage.NewBlobID()
			data := randBytes(t, n)
			putBlob(t, ctx, bs, id, data)
			if got := readAll(t, ctx, bs, id, int64(n)); !bytes.Equal(got, data) {
				t.Fatalf("size %d: read back %d bytes, content differs", n, len(got))
			}
		}
	})

	t.Run("ReadAtAndSeek", func(t *testing.T) {
		bs := newStore(t)
		id := storage.NewBlobID()
		data := randBytes(t, 3<<20+5)
		putBlob(t, ctx, bs, id, data)
		r, err := bs.Open(ctx, id, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// Sequential ReadAt, a jump back, a jump forward, the tail.
		offs := []int64{0, 32768, 65536, 10, 2 << 20, int64(len(data)) - 100, 1 << 20}
		for _, off := range offs {
			buf := make([]byte, 32768)
			n, err := r.ReadAt(buf, off)
			want := data[off:min(int(off)+len(buf), len(data))]
			if n != len(want) || !bytes.Equal(buf[:n], want) {
				t.Fatalf("ReadAt(%d): n=%d err=%v, want %d bytes", off, n, err, len(want))
			}
			if n < len(buf) && !errors.Is(err, io.EOF) {
				t.Fatalf("short ReadAt(%d) without EOF: %v", off, err)
			}
		}
		if _, err := r.Seek(12345, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 1000)
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, data[12345:13345]) {
			t.Fatalf("Read after Seek: %v", err)
		}
		if pos, err := r.Seek(-10, io.SeekEnd); err != nil || pos != int64(len(data))-10 {
			t.Fatalf("Seek end: %d %v", pos, err)
		}
		rest, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(rest, data[len(data)-10:]) {
			t.Fatalf("tail read: %v", err)
		}
		if n, err := r.ReadAt(make([]byte, 10), int64(len(data))); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt at end: n=%d err=%v, want 0, EOF", n, err)
		}
	})

	t.Run("AbortLeavesNothing", func(t *testing.T) {
		bs := newStore(t)
		id := storage.NewBlobID()
		w, err := bs.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(randBytes(t, 1<<20)); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if _, ok := walkIDs(t, ctx, bs)[id]; ok {
			t.Fatal("aborted blob is listed by Walk")
		}
		if r, err := bs.Open(ctx, id, 1<<20); err == nil {
			_, err = io.ReadAll(r)
			r.Close()
			if err == nil {
				t.Fatal("aborted blob can be read")
			}
		}
	})

	t.Run("CanceledContextAborts", func(t *testing.T) {
		bs := newStore(t)
		id := storage.NewBlobID()
		cctx, cancel := context.WithCancel(ctx)
		w, err := bs.Create(cctx, id)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(randBytes(t, 4096))
		cancel()
		if err := w.Commit(); err == nil {
			t.Fatal("Commit after cancel succeeded")
		}
		w.Abort()
		if _, ok := walkIDs(t, ctx, bs)[id]; ok {
			t.Fatal("canceled blob is listed by Walk")
		}
	})

	t.Run("DeleteAndWalk", func(t *testing.T) {
		bs := newStore(t)
		ids := []string{storage.NewBlobID(), storage.NewBlobID(), storage.NewBlobID()}
		for i, id := range ids {
			putBlob(t, ctx, bs, id, randBytes(t, 100*i))
		}
		got := walkIDs(t, ctx, bs)
		for i, id := range ids {
			if size, ok := got[id]; !ok || size != int64(100*i) {
				t.Fatalf("Walk: %s present=%v size=%d", id, ok, size)
			}
		}
		if err := bs.Delete(ctx, ids[1]); err != nil {
			t.Fatal(err)
		}
		if err := bs.Delete(ctx, ids[1]); err != nil {
			t.Fatalf("second Delete: %v", err)
		}
		if err := bs.Delete(ctx, storage.NewBlobID()); err != nil {
			t.Fatalf("Delete of unknown blob: %v", err)
		}
		if _, ok := walkIDs(t, ctx, bs)[ids[1]]; ok {
			t.Fatal("deleted blob still listed")
		}
	})

	t.Run("ReadWhileDeleted", func(t *testing.T) {
		// Readers that opened a blob before it was deleted may fail, but
		// must never return wrong bytes.
		bs := newStore(t)
		id := storage.NewBlobID()
		data := randBytes(t, 2<<20)
		putBlob(t, ctx, bs, id, data)
		r, err := bs.Open(ctx, id, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		head := make([]byte, 1000)
		if _, err := io.ReadFull(r, head); err != nil {
			t.Fatal(err)
		}
		bs.Delete(ctx, id)
		rest, _ := io.ReadAll(r)
		if !bytes.Equal(rest, data[1000:1000+len(rest)]) {
			t.Fatal("reader returned wrong bytes after delete")
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		bs := newStore(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				id := storage.NewBlobID()
				data := bytes.Repeat([]byte{byte(i)}, 300_000+i)
				w, err := bs.Create(ctx, id)
				if err == nil {
					_, err = w.Write(data)
				}
				if err == nil {
					err = w.Commit()
				}
				if err == nil {
					r, err2 := bs.Open(ctx, id, int64(len(data)))
					if err = err2; err == nil {
						got, _ := io.ReadAll(r)
						r.Close()
						if !bytes.Equal(got, data) {
							err = fmt.Errorf("writer %d: content differs", i)
						}
					}
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("WalkReportsModTime", func(t *testing.T) {
		bs := newStore(t)
		id := storage.NewBlobID()
		putBlob(t, ctx, bs, id, []byte("x"))
		seen := false
		err := bs.Walk(ctx, func(bi storage.BlobInfo) error {
			if bi.ID == id {
				seen = true
				if d := time.Since(bi.ModTime); d > time.Hour || d < -time.Hour {
					t.Errorf("mod time %v is not recent", bi.ModTime)
				}
			}
			return nil
		})
		if err != nil || !seen {
			t.Fatalf("Walk: err %v, blob seen %v", err, seen)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		bs := newStore(t)
		if err := bs.Ping(ctx); err != nil {
			t.Fatalf("Ping of a fresh store: %v", err)
		}
		putBlob(t, ctx, bs, storage.NewBlobID(), []byte("x"))
		for range 3 { // probes repeat every few seconds
			if err := bs.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}
		if n := len(walkIDs(t, ctx, bs)); n != 1 {
			t.Fatalf("after Pings Walk lists %d blobs, want 1: a probe must leave nothing", n)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := bs.Ping(cctx); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Ping with a canceled context: %v, want an error wrapping ErrUnavailable", err)
		}
	})

	t.Run("InvalidIDsRefused", func(t *testing.T) {
		bs := newStore(t)
		for _, id := range []string{"", "../../etc/passwd", "ABCDEF0123456789ABCDEF0123456789", "0123", storage.NewBlobID() + "/x"} {
			if w, err := bs.Create(ctx, id); err == nil {
				w.Abort()
				t.Errorf("Create(%q) accepted an invalid id", id)
			}
			if r, err := bs.Open(ctx, id, 0); err == nil {
				r.Close()
				t.Errorf("Open(%q) accepted an invalid id", id)
			}
			if err := bs.Delete(ctx, id); err == nil {
				t.Errorf("Delete(%q) accepted an invalid id", id)
			}
		}
	})

	t.Run("WriterLifecycle", func(t *testing.T) {
		bs := newStore(t)
		id := storage.NewBlobID()
		w, err := bs.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("data"))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort after Commit: %v", err)
		}
		if got := readAll(t, ctx, bs, id, 4); string(got) != "data" {
			t.Fatalf("Abort after Commit destroyed the blob: %q", got)
		}
		id2 := storage.NewBlobID()
		w, _ = bs.Create(ctx, id2)
		w.Write([]byte("data"))
		w.Abort()
		if err := w.Abort(); err != nil {
			t.Fatalf("second Abort: %v", err)
		}
		if err := w.Commit(); err == nil {
			t.Fatal("Commit after Abort succeeded")
		}
		if _, ok := walkIDs(t, ctx, bs)[id2]; ok {
			t.Fatal("Commit after Abort published the blob")
		}
	})
}
