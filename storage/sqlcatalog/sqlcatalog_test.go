package sqlcatalog_test

import (
	"context"
	"path/filepath"
	"testing"

	"pier/db"
	"pier/internal/testenv"
	"pier/storage/diskblob"
	"pier/storage/sqlcatalog"
	"pier/storage/storagetest"
)

// TestSQLiteDisk is the embedded default: SQLite catalog, disk blobs.
func TestSQLiteDisk(t *testing.T) {
	storagetest.TestFS(t, func(t *testing.T) storagetest.Backend {
		dir := t.TempDir()
		d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(dir, "pier.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		blobs, err := diskblob.Open(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return storagetest.Backend{Catalog: sqlcatalog.New(d), Blobs: blobs}
	})
}

// TestPostgresDisk runs the catalog half on PostgreSQL; the S3 half runs
// with PostgreSQL in package s3blob's tests.
func TestPostgresDisk(t *testing.T) {
	storagetest.TestFS(t, func(t *testing.T) storagetest.Backend {
		d := testenv.Postgres(t)
		blobs, err := diskblob.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return storagetest.Backend{Catalog: sqlcatalog.New(d), Blobs: blobs}
	})
}
