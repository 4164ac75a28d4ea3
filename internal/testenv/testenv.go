// Package testenv gives tests the real services that scripts/testenv
// starts: a throwaway PostgreSQL cluster and a MinIO server. Without them a
// test skips when run by hand, and fails when PIER_TEST_REQUIRE=1 (as
// scripts/test and CI set it), so CI never passes by skipping. It also
// checks that tests leave no goroutine behind (NoLeaks, Running).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pier/db"
	"pier/storage"
	"pier/storage/diskblob"
	"pier/storage/s3blob"
)

// Need returns the value of the environment variable name, or ends the test.
func Need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	msg := name + " is not set: run the tests through scripts/test, which starts PostgreSQL and MinIO"
	if os.Getenv("PIER_TEST_REQUIRE") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Unique returns a short random name for databases, buckets and prefixes.
func Unique(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// PostgresURL creates a fresh database on the test cluster, dropped when
// the test ends, and returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := Need(t, "PIER_TEST_PG_URL")
	ctx := context.Background()
	admin, err := db.Open(ctx, base)
	if err != nil {
		t.Fatalf("test PostgreSQL: %v", err)
	}
	name := Unique("pier_test_")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Postgres opens a fresh, migrated database on the test cluster.
func Postgres(t testing.TB) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), PostgresURL(t))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// SQLite opens a fresh, migrated SQLite database in t's temporary folder.
func SQLite(t testing.TB) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "pier.db"))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Databases runs fn once per SQL database pier supports, each a subtest
// with a fresh database: "sqlite", then "postgres".
func Databases(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// S3URL returns the test MinIO's storage URL with a fresh key prefix, so
// each test sees an empty store. Credentials stay in the environment.
func S3URL(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(Need(t, "PIER_TEST_S3_URL"))
	if err != nil {
		t.Fatalf("PIER_TEST_S3_URL: %v", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + Unique("t")
	return u.String()
}

// Backend opens a fresh catalog database and blob store: the embedded
// default (SQLite and a disk directory) or, with prod set, PostgreSQL
// and MinIO. dir holds the embedded files.
func Backend(t testing.TB, prod bool, dir string) (*db.DB, storage.BlobStore) {
	t.Helper()
	ctx := context.Background()
	if prod {
		cfg, err := s3blob.ParseURL(S3URL(t), os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := s3blob.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return Postgres(t), blobs
	}
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(dir, "pier.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	blobs, err := diskblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return d, blobs
}
