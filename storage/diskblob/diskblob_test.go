package diskblob_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pier/storage"
	"pier/storage/diskblob"
	"pier/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
		s, err := diskblob.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// A removed blob directory, or one replaced by a file, fails Ping: the
// readiness probe must notice before an upload does.
func TestPingNoticesMissingDirectory(t *testing.T) {
	ctx := context.Background()
	for _, breakIt := range []func(dir string) error{
		os.RemoveAll,
		func(dir string) error {
			if err := os.RemoveAll(filepath.Join(dir, "blobs")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "blobs"), nil, 0o600)
		},
	} {
		dir := t.TempDir()
		s, err := diskblob.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := breakIt(dir); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = s.Ping(ctx)
		t.Logf("Ping of a broken directory: %v after %v", err, time.Since(start))
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Ping of a broken directory: %v, want ErrUnavailable", err)
		}
	}
}
