package storagetest

import (
	"context"
	"crypto/md5"  // #nosec G501 -- MD5 of files for the clients that ask (md5sum, oc:checksums), not security
	"crypto/sha1" // #nosec G505 -- SHA-1 of files for the clients that ask (sha1sum, oc:checksums), not security
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"pier/storage"
)

func hexSum(b [20]byte) string { return hex.EncodeToString(b[:]) }

// testSums: SHA-1 is recorded when a file is published if the upload asks
// for it; what is missing (MD5, SHA-1 of the others) is computed on first
// request and then recorded for every entry that shares the blob; an
// overwrite starts over with the new content's hashes.
func testSums(t *testing.T, ctx context.Context, open opener) {
	fsys, _ := open(t)
	data := []byte("UNB+UNOC:3+SENDER+RECEIVER'")
	p := mustPath(t, "/a.edi")
	withSHA1 := func(b []byte) storage.CreateOptions {
		return storage.CreateOptions{By: "test", Expect: storage.Sums{SHA1: hexSum(sha1.Sum(b))}} // #nosec G401 -- checksums sync tools ask for, not security
	}
	e := uploadWith(t, ctx, fsys, p, data, withSHA1(data))
	if e.SHA1 != hexSum(sha1.Sum(data)) || e.MD5 != "" { // #nosec G401 -- checksums sync tools ask for, not security
		t.Fatalf("published entry: SHA-1 %q, MD5 %q; want the SHA-1 and no MD5 yet", e.SHA1, e.MD5)
	}
	if err := fsys.Copy(ctx, p, mustPath(t, "/copy.edi"), storage.MoveOptions{By: "test"}); err != nil {
		t.Fatal(err)
	}
	m := md5.Sum(data) // #nosec G401 -- checksums sync tools ask for, not security
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
	e2 := uploadWith(t, ctx, fsys, p, next, withSHA1(next))
	if e2.SHA1 != hexSum(sha1.Sum(next)) || e2.MD5 != "" { // #nosec G401 -- checksums sync tools ask for, not security
		t.Errorf("overwrite kept old hashes: %+v", e2)
	}
	// A checksum the content does not match publishes nothing.
	for _, want := range []storage.Sums{{SHA1: hexSum(sha1.Sum(data))}, {MD5: strings.Repeat("0", 32)}} { // #nosec G401 -- checksums sync tools ask for, not security
		u, err := fsys.Create(ctx, p, storage.CreateOptions{By: "test", Expect: want})
		if err != nil {
			t.Fatal(err)
		}
		u.Write([]byte("something else"))
		if _, err := u.Close(); !errors.Is(err, storage.ErrChecksum) {
			t.Errorf("upload against checksum %+v: %v; want ErrChecksum", want, err)
		}
		if st, _ := fsys.Stat(ctx, p); st.SHA256 != e2.SHA256 {
			t.Errorf("a failed checksum replaced the file: %+v", st)
		}
	}
	// An MD5 sent is checked and recorded.
	m2 := md5.Sum(next) // #nosec G401 -- checksums sync tools ask for, not security
	e5 := uploadWith(t, ctx, fsys, mustPath(t, "/md5.edi"), next, storage.CreateOptions{By: "test", Expect: storage.Sums{MD5: hex.EncodeToString(m2[:])}})
	if e5.MD5 != hex.EncodeToString(m2[:]) || e5.SHA1 != "" {
		t.Errorf("upload with an MD5 recorded %+v", e5)
	}
	// Without one, an upload records only its SHA-256; Sums computes the
	// SHA-1 and the MD5 together.
	third := []byte("UNB+UNOC:3+SENDER+RECEIVER+3'")
	e3 := upload(t, ctx, fsys, p, third)
	if e3.SHA1 != "" || e3.MD5 != "" || e3.SHA256 == "" {
		t.Errorf("upload without SHA1 recorded %+v", e3)
	}
	m3 := md5.Sum(third)                                                                                                          // #nosec G401 -- checksums sync tools ask for, not security
	if got, err := fsys.Sums(ctx, p); err != nil || got.SHA1 != hexSum(sha1.Sum(third)) || got.MD5 != hex.EncodeToString(m3[:]) { // #nosec G401 -- checksums sync tools ask for, not security
		t.Errorf("Sums without a recorded SHA-1: %+v %v", got, err)
	}
	if st, _ := fsys.Stat(ctx, p); st.SHA1 != hexSum(sha1.Sum(third)) { // #nosec G401 -- checksums sync tools ask for, not security
		t.Errorf("Sums did not record the SHA-1: %+v", st)
	}
	if _, err := fsys.Sums(ctx, mustPath(t, "/")); err == nil {
		t.Error("Sums of a folder answered")
	}
}
