package sqlcatalog_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"pier/db"
	"pier/internal/testenv"
	"pier/storage/diskblob"
	"pier/storage/s3blob"
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

// TestPostgresS3 is the production pairing: PostgreSQL catalog, blobs in
// S3 (MinIO in tests).
func TestPostgresS3(t *testing.T) {
	storagetest.TestFS(t, func(t *testing.T) storagetest.Backend {
		d := testenv.Postgres(t)
		cfg, err := s3blob.ParseURL(testenv.S3URL(t), os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := s3blob.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return storagetest.Backend{Catalog: sqlcatalog.New(d), Blobs: blobs}
	})
}

// TestPostgresDisk pairs PostgreSQL with local blobs.
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
