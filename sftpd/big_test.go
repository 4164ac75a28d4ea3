package sftpd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/vpath"
)

// TestOneGiBRoundTrip uploads 1 GiB over SFTP to PostgreSQL+MinIO and
// downloads it again: the SHA-256 on both ends and in the catalog must
// agree. Data is generated on the fly, never held whole in memory.
func TestOneGiBRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	e := start(t, true)
	c, err := e.dial(t, "anna", ssh.Password(password))
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 30
	src := io.LimitReader(rand.NewChaCha8([32]byte{'p', 'i', 'e', 'r'}), size)
	up := sha256.New()
	f, err := c.Create("/acme/staff/one-gib.bin")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := f.ReadFrom(io.TeeReader(src, up)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close (publish): %v", err)
	}
	putDur := time.Since(start)
	f, err = c.Open("/acme/staff/one-gib.bin")
	if err != nil {
		t.Fatal(err)
	}
	down := sha256.New()
	start = time.Now()
	n, err := f.WriteTo(down)
	f.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	getDur := time.Since(start)
	if !bytes.Equal(up.Sum(nil), down.Sum(nil)) {
		t.Fatal("downloaded SHA-256 differs from the uploaded one")
	}
	ent, err := e.store.Stat(context.Background(), vpath.MustParse("/acme/staff/one-gib.bin"))
	if err != nil || ent.Size != size || ent.SHA256 != hex.EncodeToString(up.Sum(nil)) {
		t.Fatalf("catalog entry %+v, %v: size or SHA-256 differs", ent, err)
	}
	t.Logf("1 GiB over SFTP to MinIO: put %.0f MB/s, get %.0f MB/s", size/putDur.Seconds()/1e6, size/getDur.Seconds()/1e6)
}
