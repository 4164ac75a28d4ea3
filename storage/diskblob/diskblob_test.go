package diskblob_test

import (
	"testing"

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
