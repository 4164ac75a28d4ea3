package sftpd

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

type sink struct{ bytes.Buffer }

// countingSink counts the writes it takes, to show that early writes are
// written as they came, not copied and merged.
type countingSink struct {
	sink
	writes int
}

func (s *countingSink) Write(p []byte) (int, error) { s.writes++; return s.sink.Write(p) }

// TestReorderWriter: eight workers take writes in order and finish them
// in any order, as pkg/sftp's do; the stream gets every byte in order.
func TestReorderWriter(t *testing.T) {
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	const chunk = 32 << 10
	var out countingSink
	r := newReorderWriter(&out, 8*chunk)
	offs := make(chan int64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			buf := make([]byte, chunk) // reused between calls, as with the allocator
			for off := range offs {
				copy(buf, data[off:off+chunk])
				if rand.IntN(2) == 0 {
					time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				}
				if n, err := r.WriteAt(buf, off); err != nil || n != chunk {
					t.Errorf("WriteAt(%d) = %d, %v", off, n, err)
				}
				clear(buf)
			}
		})
	}
	for off := 0; off < len(data); off += chunk {
		offs <- int64(off)
	}
	close(offs)
	wg.Wait()
	if err := r.finish(); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("finish: %v, content equal: %v", err, bytes.Equal(out.Bytes(), data))
	}
	if out.writes != len(data)/chunk {
		t.Fatalf("%d writes to the stream, want one per WriteAt (%d)", out.writes, len(data)/chunk)
	}
}

func TestReorderWriterRefuses(t *testing.T) {
	cases := map[string]func(r *reorderWriter) error{
		"resume at an offset": func(r *reorderWriter) error {
			_, err := r.WriteAt([]byte("x"), 1<<20)
			return err
		},
		"rewrite": func(r *reorderWriter) error {
			r.WriteAt([]byte("abc"), 0)
			_, err := r.WriteAt([]byte("b"), 1)
			return err
		},
		"gap never filled": func(r *reorderWriter) error {
			r.WriteAt([]byte("abc"), 0)
			_, err := r.WriteAt([]byte("x"), 10)
			return err
		},
		"duplicate early write": func(r *reorderWriter) error {
			first := make(chan error, 1)
			go func() { _, err := r.WriteAt([]byte("x"), 10); first <- err }()
			for {
				if _, settled := r.written(); !settled {
					break
				}
				time.Sleep(time.Millisecond)
			}
			_, err := r.WriteAt([]byte("y"), 10)
			if err2 := <-first; !errors.Is(err2, errOutOfOrder) {
				return err2
			}
			return err
		},
		"write covering a waiting one": func(r *reorderWriter) error {
			first := make(chan error, 1)
			go func() { _, err := r.WriteAt([]byte("x"), 2); first <- err }()
			for {
				if _, settled := r.written(); !settled {
					break
				}
				time.Sleep(time.Millisecond)
			}
			r.WriteAt([]byte("abcd"), 0)
			return <-first
		},
	}
	for name, fn := range cases {
		r := newReorderWriter(&sink{}, 100)
		start := time.Now()
		if err := fn(r); !errors.Is(err, errOutOfOrder) {
			t.Errorf("%s: %v, want errOutOfOrder", name, err)
		}
		if err := r.finish(); err == nil {
			t.Errorf("%s: finish succeeded after a refusal", name)
		}
		if d := time.Since(start); d > gapWait+2*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
}

// TestReorderWriterAbandon: an early write waiting for its gap returns
// at once when the session ends.
func TestReorderWriterAbandon(t *testing.T) {
	r := newReorderWriter(&sink{}, 100)
	done := make(chan error, 1)
	go func() { _, err := r.WriteAt([]byte("x"), 10); done <- err }()
	time.Sleep(20 * time.Millisecond)
	r.abandon()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the waiting write succeeded after abandon")
		}
	case <-time.After(time.Second):
		t.Fatal("the waiting write did not return after abandon")
	}
}
