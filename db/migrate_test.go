package db_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"pier/db"
	"pier/internal/testenv"
	"pier/storage"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

// TestFoldersByIDMigration fills a catalog in the schema of version 13
// (entries keyed by their folder's path), migrates it, and checks that
// every entry, id and dead property is where it was, that new rows get new
// ids, and that the tree can be renamed and listed.
func TestFoldersByIDMigration(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "pier.db") },
		"postgres": func(t *testing.T) string { return testenv.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			d, err := db.OpenAt(ctx, dsn(t), 13)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			rows := []struct{ parent, name, kind, shadows string }{
				{"/", "acme", "d", ""},
				{"/", "readme.txt", "f", ""},
				{"/acme", "in", "d", ""},
				{"/acme/in", "2024", "d", ""},
				{"/acme/in", "a.edi", "f", ""},
				{"/acme/in", "a (conflict).edi", "f", "a.edi"},
				{"/acme/in/2024", "a.edi", "f", ""},
				{"/acme/in/2024", "empty", "d", ""},
				{"/acme-old", "orphan", "f", ""}, // a row whose folder is missing: kept out of sight
			}
			ids := map[string]int64{}
			for _, r := range rows {
				var id int64
				if err := d.QueryRow(ctx, `INSERT INTO entries (parent, name, kind, size, mtime, blob_id, created_by, created_at, shadows)
					VALUES (?, ?, ?, 1, 1, '', 'old', 1, ?) RETURNING id`, r.parent, r.name, r.kind, r.shadows).Scan(&id); err != nil {
					t.Fatal(err)
				}
				p := r.parent + "/" + r.name
				if r.parent == "/" {
					p = "/" + r.name
				}
				ids[p] = id
			}
			propOn := ids["/acme/in/2024/a.edi"]
			if _, err := d.Exec(ctx, "INSERT INTO props (entry_id, space, local, xml) VALUES (?, 'urn:x', 'tag', 'v')", propOn); err != nil {
				t.Fatal(err)
			}
			if err := d.Migrate(ctx); err != nil {
				t.Fatal(err)
			}

			fsys := storage.New(sqlcatalog.New(d), nil)
			for _, p := range []string{"/acme", "/readme.txt", "/acme/in", "/acme/in/2024", "/acme/in/a.edi", "/acme/in/2024/a.edi", "/acme/in/2024/empty"} {
				e, err := fsys.Stat(ctx, vpath.MustParse(p))
				if err != nil {
					t.Fatalf("after the migration: %v", err)
				}
				if e.ID != ids[p] {
					t.Fatalf("%s has id %d, want %d", p, e.ID, ids[p])
				}
			}
			if _, err := fsys.Stat(ctx, vpath.MustParse("/orphan")); err == nil {
				t.Fatal("a row without a folder appeared at the root")
			}
			var listed []string
			for e, err := range fsys.ReadDir(ctx, vpath.MustParse("/acme/in")) {
				if err != nil {
					t.Fatal(err)
				}
				listed = append(listed, e.Path.Name())
			}
			if want := []string{"2024", "a (conflict).edi", "a.edi"}; !slices.Equal(listed, want) {
				t.Fatalf("/acme/in lists %v, want %v", listed, want)
			}
			if s, err := fsys.Shadow(ctx, vpath.MustParse("/acme/in/a.edi"), "old"); err != nil || s.Path.Name() != "a (conflict).edi" {
				t.Fatalf("conflict copy after the migration: %v, %v", s.Path, err)
			}
			props, err := fsys.DeadProps(ctx, []int64{propOn})
			if err != nil || len(props[propOn]) != 1 {
				t.Fatalf("dead properties after the migration: %v, %v", props, err)
			}

			// New rows get new ids; the tree moves as one.
			if err := fsys.Mkdir(ctx, vpath.MustParse("/new"), storage.MkdirOptions{By: "t"}); err != nil {
				t.Fatalf("a folder after the migration: %v", err)
			}
			n, _ := fsys.Stat(ctx, vpath.MustParse("/new"))
			for p, id := range ids {
				if id >= n.ID {
					t.Fatalf("new folder got id %d, not above %s's %d", n.ID, p, id)
				}
			}
			if err := fsys.Rename(ctx, vpath.MustParse("/acme"), vpath.MustParse("/new/acme"), false); err != nil {
				t.Fatal(err)
			}
			e, err := fsys.Stat(ctx, vpath.MustParse("/new/acme/in/2024/a.edi"))
			if err != nil || e.ID != propOn {
				t.Fatalf("moved file: %+v, %v", e, err)
			}
		})
	}
}
