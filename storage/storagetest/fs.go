package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pier/storage"
	"pier/vpath"
)

// Backend is one catalog over one blob store, fresh and empty.
type Backend struct {
	Catalog storage.Catalog
	Blobs   storage.BlobStore
}

// HostileNames are names that real partners send and that break naive
// servers. Each must round-trip exactly (NFD input is stored as NFC).
var HostileNames = []string{
	"fi le$%<>111.txt",
	"100% done & more;|`!#.edi",
	"ORDERS_*?[x].xml",
	" leading and trailing ",
	"-dash",
	"日本語のファイル.pdf",
	"Ελληνικά.txt",
	"emoji 📦.bin",
	"crlf-free'quote\"s.txt",
	strings.Repeat("a", 251) + ".edi", // 255 bytes
	"%2e%2e",
	"..%2f",
	"...",
	"a..b",
}

func mustPath(t testing.TB, s string) vpath.Path {
	t.Helper()
	p, err := vpath.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return p
}

func upload(t testing.TB, ctx context.Context, fsys *storage.FS, p vpath.Path, data []byte) storage.Entry {
	t.Helper()
	return uploadWith(t, ctx, fsys, p, data, storage.CreateOptions{By: "test"})
}

func uploadWith(t testing.TB, ctx context.Context, fsys *storage.FS, p vpath.Path, data []byte, opts storage.CreateOptions) storage.Entry {
	t.Helper()
	u, err := fsys.Create(ctx, p, opts)
	if err != nil {
		t.Fatalf("Create(%s): %v", p, err)
	}
	if _, err := u.Write(data); err != nil {
		t.Fatalf("Write(%s): %v", p, err)
	}
	e, err := u.Close()
	if err != nil {
		t.Fatalf("Close(%s): %v", p, err)
	}
	return e
}

func content(t testing.TB, ctx context.Context, fsys *storage.FS, p vpath.Path) []byte {
	t.Helper()
	f, err := fsys.Open(ctx, p)
	if err != nil {
		t.Fatalf("Open(%s): %v", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return b
}

func names(t testing.TB, ctx context.Context, fsys *storage.FS, dir vpath.Path) []string {
	t.Helper()
	var out []string
	for e, err := range fsys.ReadDir(ctx, dir) {
		if err != nil {
			t.Fatalf("ReadDir(%s): %v", dir, err)
		}
		out = append(out, e.Name())
	}
	return out
}

func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func blobIDs(t testing.TB, ctx context.Context, bs storage.BlobStore) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for id := range walkIDs(t, ctx, bs) {
		ids[id] = true
	}
	return ids
}

// TestFS runs the file-store conformance suite. newBackend must return an
// empty catalog and blob store each time.
func TestFS(t *testing.T, newBackend func(t *testing.T) Backend) {
	ctx := context.Background()
	open := func(t *testing.T) (*storage.FS, Backend) {
		b := newBackend(t)
		return storage.New(b.Catalog, b.Blobs), b
	}
	t.Run("Basics", func(t *testing.T) { testBasics(t, ctx, open) })
	t.Run("HostileNames", func(t *testing.T) { testHostileNames(t, ctx, open) })
	t.Run("DeepPaths", func(t *testing.T) { testDeepPaths(t, ctx, open) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, ctx, open) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrentWriters(t, ctx, open) })
	t.Run("Rename", func(t *testing.T) { testRename(t, ctx, open) })
	t.Run("RenameWhileReading", func(t *testing.T) { testRenameWhileReading(t, ctx, open) })
	t.Run("ListingOrderAndPaging", func(t *testing.T) { testListing(t, ctx, open) })
	t.Run("Remove", func(t *testing.T) { testRemove(t, ctx, open) })
	t.Run("UnpublishedIsInvisible", func(t *testing.T) { testUnpublished(t, ctx, open) })
	t.Run("MaxSize", func(t *testing.T) { testMaxSize(t, ctx, open) })
	t.Run("ModTime", func(t *testing.T) { testModTime(t, ctx, open) })
	t.Run("DeadProps", func(t *testing.T) { testDeadProps(t, ctx, open) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, ctx, open) })
	t.Run("Copy", func(t *testing.T) { testCopy(t, ctx, open) })
	t.Run("TreeShapes", func(t *testing.T) { testTreeShapes(t, ctx, open) })
	t.Run("Guards", func(t *testing.T) { testGuards(t, ctx, open) })
	t.Run("Sums", func(t *testing.T) { testSums(t, ctx, open) })
}

type opener func(t *testing.T) (*storage.FS, Backend)

func testBasics(t *testing.T, ctx context.Context, open opener) {
	fsys, b := open(t)
	defer testStatIn(t, ctx, b.Catalog)
	root := vpath.Root()
	if e, err := fsys.Stat(ctx, root); err != nil || !e.IsDir() {
		t.Fatalf("Stat(/) = %+v, %v", e, err)
	}
	if got := names(t, ctx, fsys, root); len(got) != 0 {
		t.Fatalf("new store lists %v", got)
	}
	acme := mustPath(t, "/acme")
	if err := fsys.Mkdir(ctx, acme, storage.MkdirOptions{By: "test"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Mkdir twice", fsys.Mkdir(ctx, acme, storage.MkdirOptions{By: "test"}), storage.ErrExist)
	wantErr(t, "Mkdir without parent", fsys.Mkdir(ctx, mustPath(t, "/nope/x"), storage.MkdirOptions{By: "test"}), storage.ErrNotExist)
	_, err := fsys.Create(ctx, mustPath(t, "/nope/x.edi"), storage.CreateOptions{})
	wantErr(t, "Create without parent", err, storage.ErrNotExist)

	data := randBytes(t, 100_000)
	p := mustPath(t, "/acme/order.edi")
	e := upload(t, ctx, fsys, p, data)
	if e.Size != int64(len(data)) || e.SHA256 != sum(data) || e.IsDir() || e.Path != p || e.CreatedBy != "test" {
		t.Fatalf("published entry %+v", e)
	}
	if got := content(t, ctx, fsys, p); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	st, err := fsys.Stat(ctx, p)
	if err != nil || st != e {
		t.Fatalf("Stat = %+v, %v; want %+v", st, err, e)
	}
	wantErr(t, "Mkdir under a file", fsys.Mkdir(ctx, mustPath(t, "/acme/order.edi/x"), storage.MkdirOptions{By: "t"}), storage.ErrNotDir)
	_, err = fsys.Create(ctx, mustPath(t, "/acme/order.edi/x"), storage.CreateOptions{})
	wantErr(t, "Create under a file", err, storage.ErrNotDir)
	_, err = fsys.Create(ctx, acme, storage.CreateOptions{})
	wantErr(t, "Create over a folder", err, storage.ErrIsDir)
	_, err = fsys.Open(ctx, acme)
	wantErr(t, "Open a folder", err, storage.ErrIsDir)
	_, err = fsys.Open(ctx, mustPath(t, "/acme/missing"))
	wantErr(t, "Open a missing file", err, storage.ErrNotExist)
	_, err = fsys.List(ctx, p, "", 10)
	wantErr(t, "List a file", err, storage.ErrNotDir)
	_, err = fsys.List(ctx, mustPath(t, "/missing"), "", 10)
	wantErr(t, "List a missing folder", err, storage.ErrNotExist)
	_, err = fsys.Create(ctx, p, storage.CreateOptions{Exclusive: true})
	wantErr(t, "exclusive Create of an existing file", err, storage.ErrExist)
	empty := upload(t, ctx, fsys, mustPath(t, "/acme/empty"), nil)
	if empty.Size != 0 || len(content(t, ctx, fsys, empty.Path)) != 0 {
		t.Fatal("empty file is not empty")
	}
	if err := fsys.MkdirAll(ctx, mustPath(t, "/acme/a/b/c"), "t"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll(ctx, mustPath(t, "/acme/a/b/c"), "t"); err != nil {
		t.Fatalf("MkdirAll of existing folders: %v", err)
	}
}

func testHostileNames(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	dir := mustPath(t, "/in box")
	if err := fsys.Mkdir(ctx, dir, storage.MkdirOptions{By: "t"}); err != nil {
		t.Fatal(err)
	}
	for i, name := range HostileNames {
		p, err := dir.Child(name)
		if err != nil {
			t.Fatalf("Child(%q): %v", name, err)
		}
		upload(t, ctx, fsys, p, []byte(name))
		if got := content(t, ctx, fsys, p); string(got) != name {
			t.Fatalf("name %d: content %q", i, got)
		}
		sub, _ := dir.Child("d " + name[:min(len(name), 200)])
		if err := fsys.Mkdir(ctx, sub, storage.MkdirOptions{By: "t"}); err != nil {
			t.Fatalf("Mkdir %q: %v", sub, err)
		}
	}
	got := names(t, ctx, fsys, dir)
	if len(got) != 2*len(HostileNames) {
		t.Fatalf("listed %d names, want %d", len(got), 2*len(HostileNames))
	}
	for _, name := range HostileNames {
		if !slices.Contains(got, name) {
			t.Fatalf("listing lacks %q", name)
		}
	}
	// NFD input finds the NFC entry.
	nfc, nfd := "/in box/Müller.txt", "/in box/Mu\u0308ller.txt"
	upload(t, ctx, fsys, mustPath(t, nfd), []byte("nfd"))
	if got := content(t, ctx, fsys, mustPath(t, nfc)); string(got) != "nfd" {
		t.Fatalf("NFC lookup of NFD upload: %q", got)
	}
	// Names that only differ in case are distinct entries.
	upload(t, ctx, fsys, mustPath(t, "/in box/CASE.txt"), []byte("upper"))
	upload(t, ctx, fsys, mustPath(t, "/in box/case.txt"), []byte("lower"))
	if string(content(t, ctx, fsys, mustPath(t, "/in box/CASE.txt"))) != "upper" {
		t.Fatal("case-differing names collide")
	}
	// Prefix tricks: "/in box" must not contain "/in box2" or "/in box/" siblings.
	upload(t, ctx, fsys, mustPath(t, "/in box2"), []byte("x"))
	if err := fsys.Rename(ctx, dir, mustPath(t, "/moved"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(ctx, mustPath(t, "/in box2")); err != nil {
		t.Fatalf("sibling with a common prefix moved too: %v", err)
	}
	if got := names(t, ctx, fsys, mustPath(t, "/moved")); len(got) != 2*len(HostileNames)+3 {
		t.Fatalf("after rename %d names", len(got))
	}
}

func testDeepPaths(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	p := vpath.Root()
	for i := range vpath.MaxPathDeep - 1 {
		var err error
		if p, err = p.Child(fmt.Sprintf("level %02d", i)); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Mkdir(ctx, p, storage.MkdirOptions{By: "t"}); err != nil {
			t.Fatalf("Mkdir depth %d: %v", i, err)
		}
	}
	f, _ := p.Child("deep.edi")
	upload(t, ctx, fsys, f, []byte("deep"))
	if err := fsys.Rename(ctx, mustPath(t, "/level 00"), mustPath(t, "/top"), false); err != nil {
		t.Fatal(err)
	}
	moved := f.Rebase(mustPath(t, "/level 00"), mustPath(t, "/top"))
	if string(content(t, ctx, fsys, moved)) != "deep" {
		t.Fatal("deep file lost in rename")
	}
	if _, err := moved.Child("x"); err == nil {
		t.Fatal("path deeper than the limit was accepted")
	}
}

func testOverwrite(t *testing.T, ctx context.Context, open opener) {
	fsys, b := open(t)
	p := mustPath(t, "/price list.pdf")
	v1 := upload(t, ctx, fsys, p, []byte("version one"))
	r, err := fsys.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v2 := upload(t, ctx, fsys, p, []byte("version two, longer"))
	if v2.Version <= v1.Version || v2.ID != v1.ID || v2.BlobID == v1.BlobID {
		t.Fatalf("overwrite: v1 %+v v2 %+v", v1, v2)
	}
	if got, _ := io.ReadAll(r); string(got) != "version one" {
		t.Fatalf("reader of the old version read %q", got)
	}
	if string(content(t, ctx, fsys, p)) != "version two, longer" {
		t.Fatal("new version not visible")
	}
	// Within the grace period the old blob survives GC; after it, it goes.
	if _, err := fsys.GC(ctx, storage.DefaultGCOptions); err != nil {
		t.Fatal(err)
	}
	if !blobIDs(t, ctx, b.Blobs)[v1.BlobID] {
		t.Fatal("GC removed a released blob inside the grace period")
	}
	st, err := fsys.GC(ctx, storage.GCOptions{UploadAge: time.Hour, SweepAge: time.Hour})
	if err != nil || st.Released != 1 {
		t.Fatalf("GC = %+v, %v; want 1 released", st, err)
	}
	if blobIDs(t, ctx, b.Blobs)[v1.BlobID] {
		t.Fatal("old blob survived GC")
	}
	if !blobIDs(t, ctx, b.Blobs)[v2.BlobID] {
		t.Fatal("GC removed the live blob")
	}
}

func testConcurrentWriters(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	p := mustPath(t, "/contended.edi")
	const writers = 8
	bodies := make([][]byte, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := make(chan struct{})
	for i := range writers {
		bodies[i] = bytes.Repeat([]byte{'a' + byte(i)}, 50_000+i)
		wg.Go(func() {
			u, err := fsys.Create(ctx, p, storage.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			<-start
			for chunk := range slices.Chunk(bodies[i], 4096) {
				if _, err := u.Write(chunk); err != nil {
					errs <- err
					return
				}
			}
			_, err = u.Close()
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent writer: %v", err)
		}
	}
	got := content(t, ctx, fsys, p)
	e, _ := fsys.Stat(ctx, p)
	if !slices.ContainsFunc(bodies, func(b []byte) bool { return bytes.Equal(b, got) }) {
		t.Fatalf("torn file: %d bytes", len(got))
	}
	if e.Size != int64(len(got)) || e.SHA256 != sum(got) || e.Version != writers {
		t.Fatalf("entry %+v does not match content (%d bytes) or missed versions", e, len(got))
	}
}

// testStatIn: StatIn reads a path's folder and entry together, with the
// errors of each case; it runs at the end of testBasics, over its files.
func testStatIn(t *testing.T, ctx context.Context, cat storage.Catalog) {
	if t.Failed() {
		return
	}
	cases := []struct {
		path, dir, entry string
		err              error
	}{
		{"/acme", "/", "/acme", nil},
		{"/acme/order.edi", "/acme", "/acme/order.edi", nil},
		{"/acme/a/b", "/acme/a", "/acme/a/b", nil},
		{"/acme/missing", "/acme", "", storage.ErrNotExist},
		{"/missing", "/", "", storage.ErrNotExist},
		{"/nope/x.edi", "", "", storage.ErrNoParent},
		{"/acme/order.edi/x", "/acme/order.edi", "", storage.ErrNotDir},
	}
	for _, c := range cases {
		dir, e, err := cat.StatIn(ctx, mustPath(t, c.path))
		switch {
		case c.err == nil && err != nil, c.err != nil && !errors.Is(err, c.err):
			t.Errorf("StatIn(%s): %v; want %v", c.path, err, c.err)
		case c.dir != "" && dir.Path.String() != c.dir:
			t.Errorf("StatIn(%s): folder %q; want %q", c.path, dir.Path, c.dir)
		case c.entry != "" && e.Path.String() != c.entry:
			t.Errorf("StatIn(%s): entry %q; want %q", c.path, e.Path, c.entry)
		}
		if c.err == storage.ErrNoParent && errors.Is(err, storage.ErrNotDir) || c.err == storage.ErrNotExist && errors.Is(err, storage.ErrNoParent) {
			t.Errorf("StatIn(%s): %v; want only %v", c.path, err, c.err)
		}
	}
}
