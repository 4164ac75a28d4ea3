package sftpd_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/internal/testenv"
	"pier/sftpd"
	"pier/storage"
	"pier/vpath"
)

const tooMany = "too many open files on this session: close some first"

// TestHandleCap: a session opens files until refused with a clear
// status, gets the next handle once it closed one, and ends with none
// counted, whether it closed them or just went away.
func TestHandleCap(t *testing.T) {
	testenv.NoLeaks(t)
	e := start(t, false)
	limit := sftpd.DefaultConfig("").MaxHandles
	c := e.client(t, "anna")
	put(t, c, "/acme/staff/h.txt", []byte("x"))
	var open []*sftp.File
	var err error
	for len(open) <= limit {
		var f *sftp.File
		if len(open)%2 == 0 {
			f, err = c.Open("/acme/staff/h.txt")
		} else {
			f, err = c.Create(fmt.Sprintf("/acme/staff/up-%02d.txt", len(open)))
		}
		if err != nil {
			break
		}
		open = append(open, f)
	}
	if len(open) != limit || status(err) != fxFailure || !strings.Contains(err.Error(), tooMany) {
		t.Fatalf("opened %d handles (limit %d), then: %v", len(open), limit, err)
	}
	for range 3 { // refusals are not counted
		if _, err := c.Create("/acme/staff/more.txt"); !strings.Contains(fmt.Sprint(err), tooMany) {
			t.Errorf("upload beyond the limit: %v", err)
		}
		if _, err := c.ReadDir("/acme/staff"); !strings.Contains(fmt.Sprint(err), tooMany) {
			t.Errorf("opendir beyond the limit: %v", err)
		}
	}
	if got := e.srv.Stats().Handles; got != int64(limit) {
		t.Errorf("server counts %d handles, want %d", got, limit)
	}
	open[0].Close()
	if _, err := c.ReadDir("/acme/staff"); err != nil {
		t.Errorf("opendir after a close: %v", err)
	}
	f, err := c.Open("/acme/staff/h.txt")
	if err != nil {
		t.Fatalf("open after a close: %v", err)
	}
	open[0] = f
	for _, f := range open {
		if err := f.Close(); err != nil {
			t.Errorf("close %s: %v", f.Name(), err)
		}
	}
	if st := e.srv.Stats(); st.Handles != 0 {
		t.Errorf("%d handles counted after closing all", st.Handles)
	}
	// A second session leaves with handles open: none stays counted.
	c2 := e.client(t, "anna")
	for i := range 10 {
		if _, err := c2.Create(fmt.Sprintf("/acme/staff/left-%d.txt", i)); err != nil {
			t.Fatal(err)
		}
	}
	c2.Close() // the session ends; the connection stays
	waitFor(t, "the handles of a session that ended to be released", func() bool { return e.srv.Stats().Handles == 0 })
}

// TestDisconnectReleasesEverything: a client that goes away with uploads
// (early writes waiting for their gap), downloads (blob readers
// streaming) and many handles open leaves nothing behind: no handle
// counted, no goroutine, no file.
func TestDisconnectReleasesEverything(t *testing.T) { bothBackends(t, testDisconnect) }

func testDisconnect(t *testing.T, prod bool) {
	testenv.NoLeaks(t)
	e := start(t, prod)
	ctx := context.Background()
	big := make([]byte, 16<<20) // 4 times s3blob's read window
	rand.Read(big)
	up, err := e.store.Create(ctx, vpath.MustParse("/acme/staff/big.bin"), storage.CreateOptions{By: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	up.Write(big)
	if _, err := up.Close(); err != nil {
		t.Fatal(err)
	}
	base := testenv.Running() // the server and the stores are up

	conn, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: "anna", Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.FixedHostKey(e.hostPub), HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	const uploads, downloads, others = 3, 3, 40
	chunk := make([]byte, 64<<10)
	for i := range uploads {
		f, err := c.Create(fmt.Sprintf("/acme/staff/cut-%d.bin", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(big[:2<<20]); err != nil { // past s3blob's single-PUT size: streaming
			t.Fatal(err)
		}
		// Early: it waits in the server for the gap, which never fills.
		go f.WriteAt(chunk, 3<<20)
	}
	for range downloads {
		f, err := c.Open("/acme/staff/big.bin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(f, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	for range others {
		if _, err := c.Open("/acme/outbound/order 1.edi"); err != nil {
			t.Fatal(err)
		}
	}
	st := e.srv.Stats()
	if st.Handles != uploads+downloads+others {
		t.Fatalf("before the cut: %+v", st)
	}
	conn.Close() // the client vanishes, closing nothing

	e.waitIdle(t)
	base.Settle(t, 5*time.Second)
	for i := range uploads {
		if _, err := e.store.Stat(ctx, vpath.MustParse(fmt.Sprintf("/acme/staff/cut-%d.bin", i))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cut upload %d is visible: %v", i, err)
		}
	}
}
