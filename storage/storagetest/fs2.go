package storagetest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pier/storage"
	"pier/vpath"
)

func testRename(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	for _, d := range []string{"/a", "/a/sub", "/a/sub/deeper", "/b", "/ab"} {
		if err := fsys.Mkdir(ctx, mustPath(t, d), storage.MkdirOptions{By: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	upload(t, ctx, fsys, mustPath(t, "/a/f1"), []byte("1"))
	upload(t, ctx, fsys, mustPath(t, "/a/sub/f2"), []byte("2"))
	upload(t, ctx, fsys, mustPath(t, "/a/sub/deeper/f3"), []byte("3"))
	upload(t, ctx, fsys, mustPath(t, "/ab/keep"), []byte("k"))
	upload(t, ctx, fsys, mustPath(t, "/b/target"), []byte("old target"))

	// A file, then a folder with everything below it.
	if err := fsys.Rename(ctx, mustPath(t, "/a/f1"), mustPath(t, "/a/f1 renamed"), false); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename(ctx, mustPath(t, "/a"), mustPath(t, "/b/a2"), false); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"/b/a2/f1 renamed": "1", "/b/a2/sub/f2": "2", "/b/a2/sub/deeper/f3": "3", "/ab/keep": "k"} {
		if got := string(content(t, ctx, fsys, mustPath(t, p))); got != want {
			t.Fatalf("%s = %q, want %q", p, got, want)
		}
	}
	for _, gone := range []string{"/a", "/a/sub/f2", "/a/sub/deeper"} {
		_, err := fsys.Stat(ctx, mustPath(t, gone))
		wantErr(t, "Stat of moved "+gone, err, storage.ErrNotExist)
	}
	if got := names(t, ctx, fsys, mustPath(t, "/b/a2/sub")); !slices.Equal(got, []string{"deeper", "f2"}) {
		t.Fatalf("moved folder lists %v", got)
	}

	wantErr(t, "rename onto existing without replace",
		fsys.Rename(ctx, mustPath(t, "/b/a2/sub/f2"), mustPath(t, "/b/target"), false), storage.ErrExist)
	if err := fsys.Rename(ctx, mustPath(t, "/b/a2/sub/f2"), mustPath(t, "/b/target"), true); err != nil {
		t.Fatalf("rename with replace: %v", err)
	}
	if string(content(t, ctx, fsys, mustPath(t, "/b/target"))) != "2" {
		t.Fatal("replace did not replace")
	}
	wantErr(t, "folder into itself", fsys.Rename(ctx, mustPath(t, "/b"), mustPath(t, "/b/a2/x"), false), storage.ErrInvalidMove)
	wantErr(t, "root", fsys.Rename(ctx, vpath.Root(), mustPath(t, "/x"), false), storage.ErrInvalidMove)
	wantErr(t, "onto a folder", fsys.Rename(ctx, mustPath(t, "/b/target"), mustPath(t, "/ab"), true), storage.ErrExist)
	wantErr(t, "folder onto a file", fsys.Rename(ctx, mustPath(t, "/ab"), mustPath(t, "/b/target"), true), storage.ErrExist)
	wantErr(t, "missing source", fsys.Rename(ctx, mustPath(t, "/nope"), mustPath(t, "/x"), false), storage.ErrNotExist)
	wantErr(t, "missing target folder", fsys.Rename(ctx, mustPath(t, "/ab/keep"), mustPath(t, "/nope/keep"), false), storage.ErrNotExist)
	wantErr(t, "target under a file", fsys.Rename(ctx, mustPath(t, "/ab/keep"), mustPath(t, "/b/target/keep"), false), storage.ErrNotDir)
	if err := fsys.Rename(ctx, mustPath(t, "/ab/keep"), mustPath(t, "/ab/keep"), false); err != nil {
		t.Fatalf("rename onto itself: %v", err)
	}
}

func testRenameWhileReading(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	data := randBytes(t, 3<<20)
	upload(t, ctx, fsys, mustPath(t, "/big.bin"), data)
	f, err := fsys.Open(ctx, mustPath(t, "/big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Mkdir(ctx, mustPath(t, "/archive"), storage.MkdirOptions{By: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename(ctx, mustPath(t, "/big.bin"), mustPath(t, "/archive/big.bin"), false); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(f)
	if err != nil || len(rest) != len(data)-len(head) || sum(append(head, rest...)) != sum(data) {
		t.Fatalf("read across a rename: %v, %d bytes", err, len(rest))
	}
}

func testListing(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	dir := mustPath(t, "/many")
	if err := fsys.Mkdir(ctx, dir, storage.MkdirOptions{By: "t"}); err != nil {
		t.Fatal(err)
	}
	n := storage.ListPageSize + 234
	var want []string
	for i := range n {
		name := fmt.Sprintf("f%05d", i)
		switch i % 5 {
		case 1:
			name = strings.ToUpper(name) + " é"
		case 2:
			name = "~" + name
		case 3:
			name = "Z" + name + ".edi"
		}
		want = append(want, name)
		p, _ := dir.Child(name)
		if i%50 == 0 {
			if err := fsys.Mkdir(ctx, p, storage.MkdirOptions{By: "t"}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		upload(t, ctx, fsys, p, nil)
	}
	sort.Strings(want) // byte order
	if got := names(t, ctx, fsys, dir); !slices.Equal(got, want) {
		t.Fatalf("listing of %d entries is not in byte order or incomplete (got %d)", n, len(got))
	}
	// Manual paging with a small page size, resuming after the last name.
	var paged []string
	after := ""
	for {
		page, err := fsys.List(ctx, dir, after, 97)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			paged = append(paged, e.Name())
		}
		if len(page) < 97 {
			break
		}
		after = page[len(page)-1].Name()
	}
	if !slices.Equal(paged, want) {
		t.Fatal("paged listing differs")
	}
	// Only direct children are listed.
	sub, _ := dir.Child(want[0])
	if e, _ := fsys.Stat(ctx, sub); e.IsDir() {
		inner, _ := sub.Child("inner")
		upload(t, ctx, fsys, inner, nil)
		if got := names(t, ctx, fsys, dir); len(got) != n {
			t.Fatalf("listing includes grandchildren: %d", len(got))
		}
	}
	if page, err := fsys.List(ctx, dir, "~~~~", 10); err != nil || len(page) != 0 {
		t.Fatalf("List after the last name = %d, %v", len(page), err)
	}
}

func testRemove(t *testing.T, ctx context.Context, open opener) {
	fsys, b := open(t)
	for _, d := range []string{"/r", "/r/sub", "/r/sub/deeper", "/r2", "/r-sibling"} {
		if err := fsys.Mkdir(ctx, mustPath(t, d), storage.MkdirOptions{By: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	f1 := upload(t, ctx, fsys, mustPath(t, "/r/f1"), []byte("1"))
	f2 := upload(t, ctx, fsys, mustPath(t, "/r/sub/deeper/f2"), []byte("2"))
	keep := upload(t, ctx, fsys, mustPath(t, "/r-sibling/keep"), []byte("k"))
	wantErr(t, "remove non-empty", fsys.Remove(ctx, mustPath(t, "/r"), storage.RemoveOptions{}), storage.ErrNotEmpty)
	if err := fsys.Remove(ctx, mustPath(t, "/r2"), storage.RemoveOptions{}); err != nil {
		t.Fatalf("remove empty folder: %v", err)
	}
	if err := fsys.Remove(ctx, mustPath(t, "/r"), storage.RemoveOptions{Recursive: true}); err != nil {
		t.Fatalf("recursive remove: %v", err)
	}
	for _, p := range []string{"/r", "/r/f1", "/r/sub/deeper/f2"} {
		_, err := fsys.Stat(ctx, mustPath(t, p))
		wantErr(t, "Stat after remove "+p, err, storage.ErrNotExist)
	}
	if string(content(t, ctx, fsys, keep.Path)) != "k" {
		t.Fatal("sibling with a common prefix was removed")
	}
	wantErr(t, "remove missing", fsys.Remove(ctx, mustPath(t, "/r"), storage.RemoveOptions{Recursive: true}), storage.ErrNotExist)
	wantErr(t, "remove root", fsys.Remove(ctx, vpath.Root(), storage.RemoveOptions{Recursive: true}), storage.ErrInvalidMove)
	if _, err := fsys.GC(ctx, storage.GCOptions{UploadAge: time.Hour, SweepAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ids := blobIDs(t, ctx, b.Blobs)
	if ids[f1.BlobID] || ids[f2.BlobID] || !ids[keep.BlobID] {
		t.Fatalf("after GC: f1 %v f2 %v keep %v", ids[f1.BlobID], ids[f2.BlobID], ids[keep.BlobID])
	}
}

func testUnpublished(t *testing.T, ctx context.Context, open opener) {
	fsys, b := open(t)
	p := mustPath(t, "/partial.edi")
	before := blobIDs(t, ctx, b.Blobs)

	// Aborted: nothing visible, blob gone at once.
	u, err := fsys.Create(ctx, p, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Write(randBytes(t, 200_000))
	u.Abort()
	_, err = fsys.Stat(ctx, p)
	wantErr(t, "Stat after abort", err, storage.ErrNotExist)
	if len(blobIDs(t, ctx, b.Blobs)) != len(before) {
		t.Fatal("aborted upload left a blob")
	}

	// Canceled context (client hung up): Close fails, nothing visible.
	cctx, cancel := context.WithCancel(ctx)
	u, err = fsys.Create(cctx, p, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Write(randBytes(t, 10_000))
	cancel()
	if _, err := u.Close(); err == nil {
		t.Fatal("Close after cancel succeeded")
	}
	_, err = fsys.Stat(ctx, p)
	wantErr(t, "Stat after canceled upload", err, storage.ErrNotExist)

	// Uploads that ended, published or not, large (a multipart upload on
	// S3, recorded while it runs) or small (recorded or not, as the blob
	// store stages), leave no bookkeeping behind.
	upload(t, ctx, fsys, mustPath(t, "/large.edi"), randBytes(t, 3<<20))
	u, err = fsys.Create(ctx, mustPath(t, "/large-aborted.edi"), storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Write(randBytes(t, 3<<20))
	u.Abort()
	if left, err := b.Catalog.StaleUploads(ctx, time.Now().Add(time.Hour)); err != nil || len(left) != 0 {
		t.Fatalf("finished uploads left bookkeeping rows: %v %v", left, err)
	}
	if err := fsys.Remove(ctx, mustPath(t, "/large.edi"), storage.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.GC(ctx, storage.GCOptions{UploadAge: time.Hour, SweepAge: time.Hour, GarbageAge: -time.Minute}); err != nil {
		t.Fatal(err)
	}

	// Crash between blob commit and publish: what Create and Close do,
	// minus the publish, then the process is gone.
	id := storage.NewBlobID()
	if err := b.Catalog.BeginUpload(ctx, id, p); err != nil {
		t.Fatal(err)
	}
	putBlob(t, ctx, b.Blobs, id, randBytes(t, 300_000))
	_, err = fsys.Stat(ctx, p)
	wantErr(t, "Stat of unpublished upload", err, storage.ErrNotExist)
	if names := names(t, ctx, fsys, vpath.Root()); len(names) != 0 {
		t.Fatalf("unpublished upload is listed: %v", names)
	}
	// A young upload survives GC: it may still be running on another node.
	if st, err := fsys.GC(ctx, storage.DefaultGCOptions); err != nil || st.AbandonedUploads != 0 {
		t.Fatalf("GC of a young upload: %+v %v", st, err)
	}
	st, err := fsys.GC(ctx, storage.GCOptions{GarbageAge: time.Hour, SweepAge: time.Hour})
	if err != nil || st.AbandonedUploads != 1 {
		t.Fatalf("GC = %+v, %v; want 1 abandoned upload", st, err)
	}
	if got := blobIDs(t, ctx, b.Blobs); len(got) != len(before) {
		t.Fatalf("GC left %d blobs, want %d", len(got), len(before))
	}

	// A blob the catalog never knew (crash before bookkeeping, or a stray
	// object) goes only with the sweep, and only once old enough.
	stray := storage.NewBlobID()
	putBlob(t, ctx, b.Blobs, stray, []byte("stray"))
	live := upload(t, ctx, fsys, mustPath(t, "/live.edi"), []byte("live"))
	if st, _ := fsys.GC(ctx, storage.DefaultGCOptions); st.Unknown != 0 {
		t.Fatal("sweep removed a young blob")
	}
	st, err = fsys.GC(ctx, storage.GCOptions{UploadAge: time.Hour, GarbageAge: time.Hour, SweepAge: -time.Minute})
	if err != nil || st.Unknown != 1 {
		t.Fatalf("sweep = %+v, %v; want 1 unknown", st, err)
	}
	if got := blobIDs(t, ctx, b.Blobs); got[stray] || !got[live.BlobID] {
		t.Fatalf("after sweep: stray %v, live %v", got[stray], got[live.BlobID])
	}
}

func testMaxSize(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	p := mustPath(t, "/limited.edi")
	u, err := fsys.Create(ctx, p, storage.CreateOptions{MaxSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	_, err = u.Write(make([]byte, 600))
	wantErr(t, "write beyond MaxSize", err, storage.ErrTooLarge)
	_, err = u.Close()
	wantErr(t, "Close after too large", err, storage.ErrTooLarge)
	_, err = fsys.Stat(ctx, p)
	wantErr(t, "Stat of too-large upload", err, storage.ErrNotExist)
	u, _ = fsys.Create(ctx, p, storage.CreateOptions{MaxSize: 1000})
	u.Write(make([]byte, 1000))
	if _, err := u.Close(); err != nil {
		t.Fatalf("upload of exactly MaxSize: %v", err)
	}
}

func testModTime(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	p := mustPath(t, "/dated.edi")
	when := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	u, _ := fsys.Create(ctx, p, storage.CreateOptions{ModTime: when})
	u.Write([]byte("x"))
	if e, err := u.Close(); err != nil || !e.ModTime.Equal(when) {
		t.Fatalf("ModTime at create = %v, %v", e.ModTime, err)
	}
	later := when.Add(36 * time.Hour)
	if err := fsys.SetModTime(ctx, p, later); err != nil {
		t.Fatal(err)
	}
	if e, _ := fsys.Stat(ctx, p); !e.ModTime.Equal(later) {
		t.Fatalf("ModTime after SetModTime = %v", e.ModTime)
	}
	wantErr(t, "SetModTime of missing", fsys.SetModTime(ctx, mustPath(t, "/nope"), later), storage.ErrNotExist)
}

func testDeadProps(t *testing.T, ctx context.Context, open opener) {
	fsys, b := open(t)
	p := mustPath(t, "/props.txt")
	e := upload(t, ctx, fsys, p, []byte("x"))
	set := []storage.Prop{{Space: "http://example.com/ns", Local: "author", XML: []byte("Ana <b>María</b>")},
		{Space: "", Local: "nons", Lang: "en", XML: []byte("plain")}}
	if err := fsys.PatchProps(ctx, p, set, nil); err != nil {
		t.Fatal(err)
	}
	get := func(id int64) []storage.Prop {
		m, err := fsys.DeadProps(ctx, []int64{id})
		if err != nil {
			t.Fatal(err)
		}
		return m[id]
	}
	if got := get(e.ID); len(got) != 2 || string(got[1].XML) != "Ana <b>María</b>" || got[0].Lang != "en" {
		t.Fatalf("props %+v", got)
	}
	// Properties follow renames and overwrites, and go with the entry.
	moved := mustPath(t, "/moved.txt")
	if err := fsys.Rename(ctx, p, moved, false); err != nil {
		t.Fatal(err)
	}
	upload(t, ctx, fsys, moved, []byte("v2"))
	if got := get(e.ID); len(got) != 2 {
		t.Fatalf("after rename and overwrite: %+v", got)
	}
	if err := fsys.PatchProps(ctx, moved, []storage.Prop{{Local: "nons", XML: []byte("changed")}}, []storage.Prop{{Space: "http://example.com/ns", Local: "author"}}); err != nil {
		t.Fatal(err)
	}
	if got := get(e.ID); len(got) != 1 || string(got[0].XML) != "changed" {
		t.Fatalf("after patch: %+v", got)
	}
	wantErr(t, "props of a missing entry", fsys.PatchProps(ctx, mustPath(t, "/nope"), set, nil), storage.ErrNotExist)
	many := make([]storage.Prop, storage.MaxPropsPerEntry+1)
	for i := range many {
		many[i] = storage.Prop{Local: fmt.Sprintf("p%d", i), XML: []byte("v")}
	}
	wantErr(t, "too many props", fsys.PatchProps(ctx, moved, many, nil), storage.ErrTooManyProps)
	if got := get(e.ID); len(got) != 1 {
		t.Fatalf("a refused patch changed the props: %d", len(got))
	}
	if err := fsys.Remove(ctx, moved, storage.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := get(e.ID); len(got) != 0 {
		t.Fatalf("props survive their entry: %+v", got)
	}
	_ = b
}
