package s3blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pier/db"
	"pier/internal/testenv"
	"pier/storage"
	"pier/storage/s3blob"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

// The timeout the fault tests configure, and how much later than it an
// operation may fail on this shared, noisy machine.
const (
	stallTimeout = 2 * time.Second
	stallMargin  = 3 * time.Second
)

// openPrivate opens a store on a private MinIO with a short timeout and
// 5 MiB parts, so that a few MiB start a multipart upload.
func openPrivate(t *testing.T, m *testenv.MinIO) *s3blob.Store {
	t.Helper()
	cfg, err := s3blob.ParseURL(m.URL+"&timeout="+stallTimeout.String()+"&part-size=5MiB", m.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := s3blob.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s storage.BlobStore, n int) (string, []byte) {
	t.Helper()
	id, data := storage.NewBlobID(), make([]byte, n)
	rand.Read(data)
	w, err := s.Create(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return id, data
}

// wantUnavailable runs op and checks that it fails with ErrUnavailable
// within the timeout and margin. A hang fails the test instead of
// hanging it.
func wantUnavailable(t *testing.T, what string, op func() error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- op() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(stallTimeout + stallMargin + 30*time.Second):
		t.Fatalf("%s: still blocked after %v", what, time.Since(start))
	}
	took := time.Since(start)
	t.Logf("%s failed after %v: %v", what, took.Round(10*time.Millisecond), err)
	if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(fmt.Sprint(err), "storage unavailable") {
		t.Errorf("%s: %v, want an error wrapping storage.ErrUnavailable", what, err)
	}
	if took > stallTimeout+stallMargin {
		t.Errorf("%s took %v to fail, want at most %v + %v", what, took, stallTimeout, stallMargin)
	}
}

// TestStalledService freezes a private MinIO (SIGSTOP: its connections
// stay open and nothing answers, as with a hung node) in the middle of a
// download and of an upload, and while idle: every operation must fail
// with ErrUnavailable within the timeout, and the store must work again
// once the service does.
func TestStalledService(t *testing.T) {
	m := testenv.StartMinIO(t)
	s := openPrivate(t, m)
	ctx := context.Background()
	// More than socket buffers and the 4 MiB read window hold together.
	bigID, big := put(t, s, 48<<20)

	t.Run("download", func(t *testing.T) {
		r, err := s.Open(ctx, bigID, int64(len(big)))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		head := make([]byte, 1<<20)
		if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, big[:len(head)]) {
			t.Fatalf("first MiB: %v", err)
		}
		m.Stop(t)
		defer m.Cont(t)
		wantUnavailable(t, "download", func() error {
			n, err := io.Copy(io.Discard, r)
			if err == nil {
				return fmt.Errorf("read all %d bytes from a stopped service", n)
			}
			return err
		})
	})

	t.Run("upload", func(t *testing.T) {
		w, err := s.Create(ctx, storage.NewBlobID())
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 256<<10)
		for range 32 { // 8 MiB: the multipart upload runs
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		m.Stop(t)
		defer m.Cont(t)
		wantUnavailable(t, "upload", func() error {
			for sent := 0; sent < 1<<30; sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			return errors.New("1 GiB written to a stopped service")
		})
		start := time.Now()
		if err := w.Abort(); err != nil {
			t.Errorf("Abort: %v", err)
		}
		if d := time.Since(start); d > stallTimeout/2 {
			t.Errorf("Abort after the failure took %v: it waited for the stalled service", d)
		} else {
			t.Logf("Abort after the failure took %v", d.Round(time.Millisecond))
		}
	})

	t.Run("idle", func(t *testing.T) {
		// Pooled connections from before the stop are reused here too.
		m.Stop(t)
		defer m.Cont(t)
		ops := map[string]func() error{
			"ping":   func() error { return s.Ping(ctx) },
			"delete": func() error { return s.Delete(ctx, storage.NewBlobID()) },
			"walk":   func() error { return s.Walk(ctx, func(storage.BlobInfo) error { return nil }) },
			"open and read": func() error {
				r, err := s.Open(ctx, bigID, int64(len(big)))
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = r.ReadAt(make([]byte, 100), 1000)
				return err
			},
			"small upload": func() error {
				w, err := s.Create(ctx, storage.NewBlobID())
				if err != nil {
					return err
				}
				defer w.Abort()
				w.Write([]byte("UNB+UNOC:3'"))
				return w.Commit()
			},
			"streaming upload": func() error {
				w, err := s.Create(ctx, storage.NewBlobID())
				if err != nil {
					return err
				}
				defer w.Abort()
				if _, err := w.Write(make([]byte, 2<<20)); err != nil {
					return err
				}
				return w.Commit()
			},
		}
		var wg sync.WaitGroup
		for what, op := range ops {
			wg.Go(func() { wantUnavailable(t, what, op) })
		}
		wg.Wait()
	})

	t.Run("file store upload", func(t *testing.T) {
		// What a front end sees: the write fails in time, and closing the
		// failed upload does not wait out another timeout to delete.
		d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "pier.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		fsys := storage.New(sqlcatalog.New(d), s)
		p, _ := vpath.Parse("/inbound.edi")
		up, err := fsys.Create(ctx, p, storage.CreateOptions{By: "test"})
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 256<<10)
		for range 32 {
			if _, err := up.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		m.Stop(t)
		defer m.Cont(t)
		wantUnavailable(t, "file store upload", func() error {
			for sent := 0; sent < 1<<30; sent += len(chunk) {
				if _, err := up.Write(chunk); err != nil {
					return err
				}
			}
			return errors.New("1 GiB written to a stopped service")
		})
		start := time.Now()
		if _, err := up.Close(); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Close of the failed upload: %v", err)
		}
		if d := time.Since(start); d > stallTimeout/2 {
			t.Errorf("Close of the failed upload took %v: it waited for the stalled service", d)
		} else {
			t.Logf("Close of the failed upload took %v", d.Round(time.Millisecond))
		}
		if _, err := fsys.Stat(ctx, p); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("the failed upload is visible: %v", err)
		}
	})

	t.Run("recovers", func(t *testing.T) {
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping after SIGCONT: %v", err)
		}
		id, data := put(t, s, 6<<20)
		r, err := s.Open(ctx, id, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back after SIGCONT: %v", err)
		}
	})

	t.Run("killed", func(t *testing.T) {
		m.Kill(t)
		// Refused connections fail fast; minio-go retries them a while.
		cctx, cancel := context.WithTimeout(ctx, stallTimeout)
		defer cancel()
		wantUnavailable(t, "ping of a killed service", func() error { return s.Ping(cctx) })
	})
}

// A transfer that keeps moving is never cut, however long its requests
// take: the timeout bounds stretches without progress, not transfers.
// Here every connection runs through a proxy at 4 MiB/s, so one 16 MiB
// part and the GET of the blob each take twice the timeout or more. (The
// rate must drain the few MiB that kernel buffers hold well within the
// timeout: bytes the kernel accepted count as sent.)
func TestSlowTransferIsNotCut(t *testing.T) {
	m := testenv.StartMinIO(t)
	const rate, size = 4 << 20, 20 << 20
	proxy := slowProxy(t, m.Endpoint, rate)
	cfg, err := s3blob.ParseURL("s3://"+proxy+"/pier-slow?tls=false&create-bucket=true&timeout="+
		stallTimeout.String(), m.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := s3blob.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	id, data := put(t, s, size)
	t.Logf("upload of %d MiB at %d MiB/s took %v with a %v timeout", size>>20, rate>>20,
		time.Since(start).Round(time.Millisecond), stallTimeout)
	r, err := s.Open(ctx, id, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start = time.Now()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("slow download after %v: %v", time.Since(start), err)
	}
	t.Logf("download of %d MiB at %d MiB/s took %v", size>>20, rate>>20, time.Since(start).Round(time.Millisecond))
}

// slowProxy forwards TCP connections to target at rate bytes per second
// in each direction, and returns its address. Its small receive buffers
// keep the client's kernel from buffering megabytes: the store sees its
// bytes leave at the proxy's pace, as on a slow link.
func slowProxy(t *testing.T, target string, rate int) string {
	t.Helper()
	small := func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
		})
		return errors.Join(err, serr)
	}
	ln, err := (&net.ListenConfig{Control: small}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const chunk = 16 << 10
	pace := time.Duration(chunk) * time.Second / time.Duration(rate)
	copySlow := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, chunk)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
				time.Sleep(pace * time.Duration(n) / chunk)
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := (&net.Dialer{Control: small}).Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); up.Close() })
			go copySlow(up, c)
			go copySlow(c, up)
		}
	}()
	return ln.Addr().String()
}
