package sftpd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"pier/authz"
	"pier/vpath"
)

// What partner clients do in a drop box, with what pkg/sftp's client (and
// so rclone) does by default.
func TestDropBoxClients(t *testing.T) {
	for _, prod := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite+disk", true: "postgres+s3"}[prod], func(t *testing.T) {
			e := start(t, prod)
			c := e.client(t, "acme-edi")
			// rclone: list the destination, upload, stat, set the time.
			if _, err := c.ReadDir("/acme/inbound"); err != nil {
				t.Fatalf("list the drop box: %v", err)
			}
			put(t, c, "/acme/inbound/order.edi", []byte("UNB+1"))
			fi, err := c.Stat("/acme/inbound/order.edi")
			if err != nil || fi.Size() != 5 {
				t.Fatalf("stat after the upload: %v %v", fi, err)
			}
			mtime := time.Unix(1577934245, 0)
			if err := c.Chtimes("/acme/inbound/order.edi", mtime, mtime); err != nil {
				t.Fatalf("set its time: %v", err)
			}
			if fi, _ := c.Stat("/acme/inbound/order.edi"); !fi.ModTime().Equal(mtime) {
				t.Errorf("mtime %v", fi.ModTime())
			}
			// On another connection (rclone pools them), the same.
			if _, err := e.client(t, "acme-edi").Stat("/acme/inbound/order.edi"); err != nil {
				t.Fatalf("stat on another connection: %v", err)
			}
			// A refused delete says so: the client's fallback to rmdir
			// must not turn it into "not a directory".
			if err := c.Remove("/acme/inbound/order.edi"); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("remove in the drop box: %v, want permission denied", err)
			}
			// WinSCP: a temporary name, renamed to the final one, dated.
			put(t, c, "/acme/inbound/invoice.edi.filepart", []byte("UNB+2"))
			if err := c.PosixRename("/acme/inbound/invoice.edi.filepart", "/acme/inbound/invoice.edi"); err != nil {
				t.Fatalf("rename to the final name: %v", err)
			}
			if err := c.Chtimes("/acme/inbound/invoice.edi", mtime, mtime); err != nil {
				t.Fatalf("date it: %v", err)
			}
			// A name someone else's file holds is not revealed.
			anna := e.client(t, "anna")
			put(t, anna, "/acme/inbound/taken.edi", []byte("anna's"))
			if _, err := c.Stat("/acme/inbound/taken.edi"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat of a name anna's file holds: %v", err)
			}
			put(t, c, "/acme/inbound/taken.edi", []byte("partner's"))
			if fi, err := c.Stat("/acme/inbound/taken.edi"); err != nil || fi.Size() != int64(len("partner's")) {
				t.Errorf("stat of its own upload to a taken name: %v %v", fi, err)
			}
			if got := readAll(t, anna, "/acme/inbound/taken.edi"); got != "anna's" {
				t.Errorf("anna's file now reads %q", got)
			}
			list, _ := anna.ReadDir("/acme/inbound")
			if n := names(list); len(n) != 4 || !strings.Contains(strings.Join(n, " "), "taken~acme-edi~") {
				t.Errorf("staff see %v", n)
			}
		})
	}
}

// A refused write fails the WRITE itself, not only the CLOSE that
// pipelining clients (paramiko) do not check.
func TestRefusedWriteFailsTheWrite(t *testing.T) {
	e := start(t, false)
	ctx := context.Background()
	sub, _ := authz.ParseSubject("user:acme-edi")
	if _, err := e.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/acme/staff"), Perms: authz.PermCreate, MaxSize: 100 << 10}, "t"); err != nil {
		t.Fatal(err)
	}
	c := e.client(t, "acme-edi")
	f, err := c.Create("/acme/staff/big.edi")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadFrom(bytes.NewReader(make([]byte, 1<<20)))
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("a write over the size limit: %v, want it refused with a reason", err)
	}
	f.Close()
	if _, err := c.Stat("/acme/staff/big.edi"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused upload: %v", err)
	}
}

func readAll(t *testing.T, c *sftp.Client, p string) string {
	t.Helper()
	f, err := c.Open(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}
