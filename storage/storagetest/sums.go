package storagetest

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"testing"

	"pier/storage"
)

func hexSum(b [20]byte) string { return hex.EncodeToString(b[:]) }

// testSums: SHA-1 is recorded when a file is published; MD5 is computed
// on first request and then recorded for every entry that shares the
// blob; an overwrite starts over with the new content's hashes.
func testSums(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	data := []byte("UNB+UNOC:3+SENDER+RECEIVER'")
	p := mustPath(t, "/a.edi")
	e := upload(t, ctx, fsys, p, data)
	if e.SHA1 != hexSum(sha1.Sum(data)) || e.MD5 != "" {
		t.Fatalf("published entry: SHA-1 %q, MD5 %q; want the SHA-1 and no MD5 yet", e.SHA1, e.MD5)
	}
	if err := fsys.Copy(ctx, p, mustPath(t, "/copy.edi"), storage.MoveOptions{By: "test"}); err != nil {
		t.Fatal(err)
	}
	m := md5.Sum(data)
	got, err := fsys.Sums(ctx, p)
	if err != nil || got.SHA1 != e.SHA1 || got.MD5 != hex.EncodeToString(m[:]) {
		t.Fatalf("Sums: %+v %v", got, err)
	}
	for _, name := range []string{"/a.edi", "/copy.edi"} {
		if st, err := fsys.Stat(ctx, mustPath(t, name)); err != nil || st.MD5 != got.MD5 || st.SHA1 != got.SHA1 {
			t.Errorf("%s after Sums: %+v %v", name, st, err)
		}
	}
	if err := fsys.Rename(ctx, mustPath(t, "/copy.edi"), mustPath(t, "/moved.edi"), false); err != nil {
		t.Fatal(err)
	}
	if st, _ := fsys.Stat(ctx, mustPath(t, "/moved.edi")); st.MD5 != got.MD5 {
		t.Errorf("a rename lost the MD5: %+v", st)
	}
	next := []byte("UNB+UNOC:3+SENDER+RECEIVER+2'")
	e2 := upload(t, ctx, fsys, p, next)
	if e2.SHA1 != hexSum(sha1.Sum(next)) || e2.MD5 != "" {
		t.Errorf("overwrite kept old hashes: %+v", e2)
	}
	if _, err := fsys.Sums(ctx, mustPath(t, "/")); err == nil {
		t.Error("Sums of a folder answered")
	}
}
