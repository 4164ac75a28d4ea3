package sqlcatalog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"pier/db"
	"pier/internal/testenv"
	"pier/storage"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

// seedFolder creates dir with n files (and a few subfolders) in one
// transaction; the blobs are not needed to measure the catalog.
func seedFolder(tb testing.TB, d *db.DB, dir string, n int) {
	tb.Helper()
	ctx := context.Background()
	if err := storage.New(sqlcatalog.New(d), nil).MkdirAll(ctx, vpath.MustParse(dir), "seed"); err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UnixNano()
	err := d.WriteTx(ctx, func(tx *db.Tx) error {
		for i := range n {
			parent := dir
			if i%100 == 0 {
				sub := fmt.Sprintf("%s/sub%03d", dir, i/100)
				if _, err := tx.Exec(ctx, `INSERT INTO entries (folder, name, kind, dir, mtime, created_at)
					VALUES ((SELECT id FROM entries WHERE dir = ?), ?, 'd', ?, ?, ?)`,
					dir, fmt.Sprintf("sub%03d", i/100), sub, now, now); err != nil {
					return err
				}
			}
			if i%2 == 1 {
				parent = fmt.Sprintf("%s/sub%03d", dir, i/100)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO entries (folder, name, kind, size, mtime, blob_id, created_at)
				VALUES ((SELECT id FROM entries WHERE dir = ?), ?, 'f', 1, ?, ?, ?)`, parent, fmt.Sprintf("file%05d.edi", i), now, storage.NewBlobID(), now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func countBelow(tb testing.TB, c *sqlcatalog.Catalog, dir string) int {
	fsys := storage.New(c, nil)
	n := 0
	var walk func(p vpath.Path)
	walk = func(p vpath.Path) {
		for e, err := range fsys.ReadDir(context.Background(), p) {
			if err != nil {
				tb.Fatal(err)
			}
			n++
			if e.IsDir() {
				walk(e.Path)
			}
		}
	}
	walk(vpath.MustParse(dir))
	return n
}

func sqliteDB(tb testing.TB) *db.DB {
	d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "pier.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// TestRenameLargeFolder renames a folder of 10,000 files and 100
// subfolders in one transaction and checks every entry moved.
func TestRenameLargeFolder(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *db.DB{"sqlite": sqliteDB, "postgres": testenv.Postgres} {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			c := sqlcatalog.New(d)
			seedFolder(t, d, "/acme", 10_000)
			ctx := context.Background()
			start := time.Now()
			if err := c.Move(ctx, vpath.MustParse("/acme"), vpath.MustParse("/acme-archive"), storage.MoveOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: renamed a folder of 10,100 entries in %v", name, time.Since(start))
			if got := countBelow(t, c, "/acme-archive"); got != 10_100 {
				t.Fatalf("%d entries below the new name, want 10100", got)
			}
			if _, err := c.Stat(ctx, vpath.MustParse("/acme")); err == nil {
				t.Fatal("old name still exists")
			}
		})
	}
}

// BenchmarkRenameFolder10k reports the time to rename a folder holding
// 10,000 files: run with -bench RenameFolder (PostgreSQL through scripts/testenv).
func BenchmarkRenameFolder10k(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			var d *db.DB
			if name == "sqlite" {
				d = sqliteDB(b)
			} else {
				d = testenv.Postgres(b)
			}
			c := sqlcatalog.New(d)
			seedFolder(b, d, "/a", 10_000)
			ctx := context.Background()
			from, to := vpath.MustParse("/a"), vpath.MustParse("/b")
			b.ResetTimer()
			for b.Loop() {
				if err := c.Move(ctx, from, to, storage.MoveOptions{}); err != nil {
					b.Fatal(err)
				}
				from, to = to, from
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/rename")
		})
	}
}
