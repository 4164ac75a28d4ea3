package sftpd

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

type sink struct{ bytes.Buffer }

func TestReorderWriter(t *testing.T) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	const chunk = 32 << 10
	var offs []int64
	for off := 0; off < len(data); off += chunk {
		offs = append(offs, int64(off))
	}
	// Shuffle within windows of 8, as pkg/sftp's 8 workers do.
	for i := 0; i < len(offs); i += 8 {
		w := offs[i:min(i+8, len(offs))]
		rand.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	}
	var out sink
	r := newReorderWriter(&out, 8*chunk, &budget{left: 1 << 30})
	buf := make([]byte, chunk) // reused between calls, as with the allocator
	for _, off := range offs {
		copy(buf, data[off:off+chunk])
		if n, err := r.WriteAt(buf, off); err != nil || n != chunk {
			t.Fatalf("WriteAt(%d) = %d, %v", off, n, err)
		}
		clear(buf)
	}
	if err := r.finish(); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("finish: %v, content equal: %v", err, bytes.Equal(out.Bytes(), data))
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
		"gap at close": func(r *reorderWriter) error {
			r.WriteAt([]byte("abc"), 0)
			r.WriteAt([]byte("x"), 10)
			return r.finish()
		},
		"duplicate early chunk": func(r *reorderWriter) error {
			r.WriteAt([]byte("x"), 10)
			_, err := r.WriteAt([]byte("y"), 10)
			return err
		},
	}
	for name, fn := range cases {
		r := newReorderWriter(&sink{}, 100, nil)
		if err := fn(r); !errors.Is(err, errOutOfOrder) {
			t.Errorf("%s: %v, want errOutOfOrder", name, err)
		}
		if err := r.finish(); err == nil {
			t.Errorf("%s: finish succeeded after a refusal", name)
		}
	}
}

// TestReorderBudget: early chunks of all uploads share one budget; an
// upload that would exceed it fails clearly, and failed or finished
// uploads give their share back.
func TestReorderBudget(t *testing.T) {
	b := &budget{left: 100}
	a := newReorderWriter(&sink{}, 1000, b)
	if _, err := a.WriteAt(make([]byte, 80), 10); err != nil {
		t.Fatal(err)
	}
	c := newReorderWriter(&sink{}, 1000, b)
	if _, err := c.WriteAt(make([]byte, 30), 10); !errors.Is(err, errBusy) {
		t.Fatalf("over budget: %v", err)
	}
	a.WriteAt(make([]byte, 10), 0) // fills the gap: the chunk drains
	if b.left != 100 {
		t.Fatalf("budget after drain: %d", b.left)
	}
	d := newReorderWriter(&sink{}, 1000, b)
	d.WriteAt(make([]byte, 50), 5)
	d.abandon()
	if b.left != 100 {
		t.Fatalf("budget after an abandoned upload: %d", b.left)
	}
}
