package storagetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"pier/storage"
	"pier/vpath"
)

var errRefused = errors.New("refused by the guard")

// refuse is a guard that refuses everything.
func refuse(context.Context, storage.View) error { return errRefused }

// snapshot lists every entry below dir with its content's hash, to show
// that a refused change left everything as it was.
func snapshot(t *testing.T, ctx context.Context, fsys *storage.FS, dir vpath.Path) []string {
	t.Helper()
	var out []string
	var walk func(vpath.Path)
	walk = func(d vpath.Path) {
		for e, err := range fsys.ReadDir(ctx, d) {
			if err != nil {
				t.Fatalf("ReadDir(%s): %v", d, err)
			}
			out = append(out, e.Path.String()+" "+string(e.Kind)+" "+e.SHA256)
			if e.IsDir() {
				walk(e.Path)
			}
		}
	}
	walk(dir)
	slices.Sort(out)
	return out
}

func testReplace(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	for _, d := range []string{"/src", "/src/sub", "/dst", "/dst/old"} {
		if err := fsys.MkdirAll(ctx, mustPath(t, d), "t"); err != nil {
			t.Fatal(err)
		}
	}
	upload(t, ctx, fsys, mustPath(t, "/src/a.txt"), []byte("new a"))
	upload(t, ctx, fsys, mustPath(t, "/src/sub/b.txt"), []byte("new b"))
	upload(t, ctx, fsys, mustPath(t, "/dst/old/c.txt"), []byte("old c"))
	upload(t, ctx, fsys, mustPath(t, "/file.txt"), []byte("file"))

	// A refused replacing move changes nothing, neither side.
	before := snapshot(t, ctx, fsys, vpath.Root())
	err := fsys.Move(ctx, mustPath(t, "/src"), mustPath(t, "/dst"), storage.MoveOptions{Replace: storage.ReplaceAny, Guard: refuse})
	wantErr(t, "guarded move", err, errRefused)
	if after := snapshot(t, ctx, fsys, vpath.Root()); !slices.Equal(before, after) {
		t.Fatalf("a refused move changed the tree:\n%v\n%v", before, after)
	}
	// Without ReplaceAny a folder is never replaced.
	wantErr(t, "folder onto folder", fsys.Move(ctx, mustPath(t, "/src"), mustPath(t, "/dst"), storage.MoveOptions{Replace: storage.ReplaceFile}), storage.ErrExist)
	// ReplaceAny puts the folder in the other's place in one step.
	if err := fsys.Move(ctx, mustPath(t, "/src"), mustPath(t, "/dst"), storage.MoveOptions{Replace: storage.ReplaceAny}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, ctx, fsys, mustPath(t, "/dst")); !slices.Equal(got, []string{"a.txt", "sub"}) {
		t.Fatalf("/dst after the replacing move: %v", got)
	}
	if _, err := fsys.Stat(ctx, mustPath(t, "/dst/old/c.txt")); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("the replaced folder's content survived: %v", err)
	}
	// A file replaces a folder only with ReplaceAny; a folder may not
	// replace its own ancestor.
	wantErr(t, "file onto folder", fsys.Move(ctx, mustPath(t, "/file.txt"), mustPath(t, "/dst"), storage.MoveOptions{Replace: storage.ReplaceFile}), storage.ErrExist)
	wantErr(t, "onto an ancestor", fsys.Move(ctx, mustPath(t, "/dst/sub"), mustPath(t, "/dst"), storage.MoveOptions{Replace: storage.ReplaceAny}), storage.ErrInvalidMove)
	if err := fsys.Move(ctx, mustPath(t, "/file.txt"), mustPath(t, "/dst"), storage.MoveOptions{Replace: storage.ReplaceAny}); err != nil {
		t.Fatal(err)
	}
	if got := string(content(t, ctx, fsys, mustPath(t, "/dst"))); got != "file" {
		t.Fatalf("/dst is %q, want the moved file", got)
	}
}

func testCopy(t *testing.T, ctx context.Context, open opener) {
	fsys, b := open(t)
	for _, d := range []string{"/src/sub/deep", "/other"} {
		if err := fsys.MkdirAll(ctx, mustPath(t, d), "t"); err != nil {
			t.Fatal(err)
		}
	}
	a := upload(t, ctx, fsys, mustPath(t, "/src/a.txt"), []byte("aaa"))
	upload(t, ctx, fsys, mustPath(t, "/src/sub/deep/b.txt"), []byte("bbb"))
	prop := storage.Prop{Space: "urn:x", Local: "tag", XML: []byte("v")}
	if err := fsys.PatchProps(ctx, mustPath(t, "/src/sub/deep/b.txt"), []storage.Prop{prop}, nil); err != nil {
		t.Fatal(err)
	}
	blobsBefore := blobIDs(t, ctx, b.Blobs)

	// A file: same bytes and hash, a new entry at version 1, no new blob.
	if err := fsys.Copy(ctx, mustPath(t, "/src/a.txt"), mustPath(t, "/other/a copy.txt"), storage.MoveOptions{By: "anna"}); err != nil {
		t.Fatal(err)
	}
	c, err := fsys.Stat(ctx, mustPath(t, "/other/a copy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA256 != a.SHA256 || c.Size != 3 || c.ID == a.ID || c.Version != 1 || c.CreatedBy != "anna" || !c.ModTime.Equal(a.ModTime) {
		t.Fatalf("copy %+v of %+v", c, a)
	}
	// A folder with everything below it, dead properties included.
	if err := fsys.Copy(ctx, mustPath(t, "/src"), mustPath(t, "/other/src2"), storage.MoveOptions{By: "anna"}); err != nil {
		t.Fatal(err)
	}
	if got := string(content(t, ctx, fsys, mustPath(t, "/other/src2/sub/deep/b.txt"))); got != "bbb" {
		t.Fatalf("deep copy reads %q", got)
	}
	e, _ := fsys.Stat(ctx, mustPath(t, "/other/src2/sub/deep/b.txt"))
	props, err := fsys.DeadProps(ctx, []int64{e.ID})
	if err != nil || len(props[e.ID]) != 1 || string(props[e.ID][0].XML) != "v" {
		t.Fatalf("copied dead properties: %v %v", props, err)
	}
	if after := blobIDs(t, ctx, b.Blobs); len(after) != len(blobsBefore) {
		t.Fatalf("a copy wrote blobs: %d before, %d after", len(blobsBefore), len(after))
	}
	// Shallow: the folder alone.
	if err := fsys.Copy(ctx, mustPath(t, "/src"), mustPath(t, "/other/empty"), storage.MoveOptions{Shallow: true}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, ctx, fsys, mustPath(t, "/other/empty")); len(got) != 0 {
		t.Fatalf("shallow copy holds %v", got)
	}
	// Refusals.
	wantErr(t, "copy into itself", fsys.Copy(ctx, mustPath(t, "/src"), mustPath(t, "/src/sub/x"), storage.MoveOptions{}), storage.ErrInvalidMove)
	wantErr(t, "copy onto existing", fsys.Copy(ctx, mustPath(t, "/src/a.txt"), mustPath(t, "/other/a copy.txt"), storage.MoveOptions{}), storage.ErrExist)
	before := snapshot(t, ctx, fsys, vpath.Root())
	wantErr(t, "guarded copy", fsys.Copy(ctx, mustPath(t, "/src"), mustPath(t, "/other"), storage.MoveOptions{Replace: storage.ReplaceAny, Guard: refuse}), errRefused)
	if after := snapshot(t, ctx, fsys, vpath.Root()); !slices.Equal(before, after) {
		t.Fatal("a refused copy changed the tree")
	}

	// Blobs shared by copies live as long as one entry refers to them.
	if err := fsys.Remove(ctx, mustPath(t, "/src"), storage.RemoveOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.GC(ctx, storage.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := string(content(t, ctx, fsys, mustPath(t, "/other/src2/a.txt"))); got != "aaa" {
		t.Fatalf("after removing the original and GC the copy reads %q", got)
	}
	if err := fsys.Remove(ctx, mustPath(t, "/other"), storage.RemoveOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.GC(ctx, storage.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if left := blobIDs(t, ctx, b.Blobs); len(left) != 0 {
		t.Fatalf("%d blobs left after every copy went", len(left))
	}
}

// Guards run inside the transaction and see the state the change acts on.
func testGuards(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	if err := fsys.MkdirAll(ctx, mustPath(t, "/d/e"), "t"); err != nil {
		t.Fatal(err)
	}
	upload(t, ctx, fsys, mustPath(t, "/d/e/x.exe"), []byte("x"))
	upload(t, ctx, fsys, mustPath(t, "/d/y.txt"), []byte("y"))

	var seen []string
	walk := func(ctx context.Context, v storage.View) error {
		seen = seen[:0]
		for e, err := range v.Walk(ctx, mustPath(t, "/d")) {
			if err != nil {
				return err
			}
			seen = append(seen, e.Path.String()+" "+string(e.Kind))
		}
		slices.Sort(seen)
		for _, s := range seen {
			if s == "/d/e/x.exe f" {
				return errRefused
			}
		}
		return nil
	}
	wantErr(t, "guarded remove", fsys.Remove(ctx, mustPath(t, "/d"), storage.RemoveOptions{Recursive: true, Guard: walk}), errRefused)
	if want := []string{"/d/e d", "/d/e/x.exe f", "/d/y.txt f"}; !slices.Equal(seen, want) {
		t.Fatalf("Walk saw %v, want %v", seen, want)
	}
	if _, err := fsys.Stat(ctx, mustPath(t, "/d/e/x.exe")); err != nil {
		t.Fatalf("a refused remove removed: %v", err)
	}
	// Stopping a walk early is fine, and the transaction goes on.
	first := func(ctx context.Context, v storage.View) error {
		for _, err := range v.Walk(ctx, mustPath(t, "/d")) {
			return err
		}
		_, err := v.Stat(ctx, mustPath(t, "/d/y.txt"))
		return err
	}
	if err := fsys.Remove(ctx, mustPath(t, "/d/e"), storage.RemoveOptions{Recursive: true, Guard: first}); err != nil {
		t.Fatal(err)
	}

	// A publish guard sees the version it would replace.
	old, _ := fsys.Stat(ctx, mustPath(t, "/d/y.txt"))
	ifMatch := func(version int64) storage.Guard {
		return func(ctx context.Context, v storage.View) error {
			e, err := v.Stat(ctx, mustPath(t, "/d/y.txt"))
			if err != nil || e.Version != version {
				return errRefused
			}
			return nil
		}
	}
	up, err := fsys.Create(ctx, mustPath(t, "/d/y.txt"), storage.CreateOptions{Guard: ifMatch(old.Version + 1)})
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("lost update"))
	if _, err := up.Close(); !errors.Is(err, errRefused) {
		t.Fatalf("publish with a failing guard: %v", err)
	}
	up, _ = fsys.Create(ctx, mustPath(t, "/d/y.txt"), storage.CreateOptions{Guard: ifMatch(old.Version), By: "anna"})
	up.Write([]byte("update"))
	e, err := up.Close()
	if err != nil {
		t.Fatal(err)
	}
	if e.Version != old.Version+1 || e.CreatedBy != "anna" || time.Since(e.Published) > time.Minute || !e.Published.After(old.Published) && !e.Published.Equal(old.Published) {
		t.Fatalf("published %+v after %+v", e, old)
	}
	if got := string(content(t, ctx, fsys, mustPath(t, "/d/y.txt"))); got != "update" {
		t.Fatalf("content %q", got)
	}
}

// testTreeShapes moves, copies, walks and removes a tree whose names repeat
// at several levels and beside folders whose names share its prefix, and
// checks every entry against the tree as it was.
func testTreeShapes(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	files := []string{"/t/a", "/t/x/2024/a", "/t/y/2024/a", "/t/x/2024/2024/a", "/t/x/2024/2024/b", "/t/2024/x/a",
		"/t-x/a", "/t.x/a", "/tx/2024/a"}
	for i, f := range files {
		p := mustPath(t, f)
		if err := fsys.MkdirAll(ctx, p.Parent(), "t"); err != nil {
			t.Fatal(err)
		}
		upload(t, ctx, fsys, p, []byte{byte('0' + i)})
	}
	if err := fsys.MkdirAll(ctx, mustPath(t, "/t/empty/2024"), "t"); err != nil {
		t.Fatal(err)
	}
	// rel is a snapshot of dir with dir's path cut off each line.
	rel := func(dir string) []string {
		var out []string
		for _, l := range snapshot(t, ctx, fsys, mustPath(t, dir)) {
			out = append(out, strings.TrimPrefix(l, dir))
		}
		return out
	}
	tree, others := rel("/t"), snapshot(t, ctx, fsys, vpath.Root())

	if err := fsys.Copy(ctx, mustPath(t, "/t"), mustPath(t, "/u"), storage.MoveOptions{By: "t"}); err != nil {
		t.Fatal(err)
	}
	if got := rel("/u"); !slices.Equal(got, tree) {
		t.Fatalf("copy holds\n%v\nwant\n%v", got, tree)
	}
	if err := fsys.Rename(ctx, mustPath(t, "/t"), mustPath(t, "/tx/2024/t"), false); err != nil {
		t.Fatal(err)
	}
	if got := rel("/tx/2024/t"); !slices.Equal(got, tree) {
		t.Fatalf("moved folder holds\n%v\nwant\n%v", got, tree)
	}
	// The old name is free again, for the same names.
	for _, f := range []string{"/t/x/2024/a", "/t/a"} {
		p := mustPath(t, f)
		if err := fsys.MkdirAll(ctx, p.Parent(), "t"); err != nil {
			t.Fatal(err)
		}
		upload(t, ctx, fsys, p, []byte("new"))
	}
	if err := fsys.Rename(ctx, mustPath(t, "/tx/2024/t"), mustPath(t, "/moved"), false); err != nil {
		t.Fatal(err)
	}
	if got := rel("/moved"); !slices.Equal(got, tree) {
		t.Fatalf("folder moved back up holds\n%v\nwant\n%v", got, tree)
	}
	// Walk sees what listing sees.
	var walked []string
	for e, err := range fsys.Walk(ctx, mustPath(t, "/moved")) {
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, strings.TrimPrefix(e.Path.String(), "/moved")+" "+string(e.Kind))
	}
	slices.Sort(walked)
	var want []string
	for _, l := range tree {
		path, kind, _ := strings.Cut(l, " ")
		kind, _, _ = strings.Cut(kind, " ")
		want = append(want, path+" "+kind)
	}
	if !slices.Equal(walked, want) {
		t.Fatalf("walk yields\n%v\nwant\n%v", walked, want)
	}
	// Removing the copies leaves the neighbours whose names share a prefix.
	for _, d := range []string{"/moved", "/u", "/t"} {
		if err := fsys.Remove(ctx, mustPath(t, d), storage.RemoveOptions{Recursive: true}); err != nil {
			t.Fatal(err)
		}
	}
	var kept []string
	for _, l := range others {
		if !strings.HasPrefix(l, "/t/") && !strings.HasPrefix(l, "/t ") {
			kept = append(kept, l)
		}
	}
	if got := snapshot(t, ctx, fsys, vpath.Root()); !slices.Equal(got, kept) {
		t.Fatalf("after the removals\n%v\nwant\n%v", got, kept)
	}
}
