// Package diskblob stores blobs as files in a local directory: pier's
// embedded default. Blobs are written to a temporary file and renamed into
// place on commit, so a blob id never names a partial file.
package diskblob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"pier/storage"
)

// Store keeps blobs below dir as blobs/ab/abcdef…; temporary files live in
// dir/tmp on the same file system so that commit is a rename.
type Store struct {
	dir     string
	pinging atomic.Bool // a Ping's probe is running
}

var _ storage.BlobStore = (*Store)(nil)

// Open prepares dir (creating it if needed) and returns a store over it.
func Open(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob directory: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(id string) (string, error) {
	if !storage.ValidBlobID(id) {
		return "", fmt.Errorf("invalid blob id %q", id)
	}
	return filepath.Join(s.dir, "blobs", id[:2], id), nil
}

// Create starts writing a blob into a temporary file.
func (s *Store) Create(ctx context.Context, id string) (storage.BlobWriter, error) {
	final, err := s.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), id+".*")
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	return &writer{ctx: ctx, f: f, final: final}, nil
}

type writer struct {
	ctx   context.Context
	f     *os.File
	final string
	done  bool
}

func (w *writer) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	return n, full(err)
}

// full marks a full disk or an exhausted quota as storage.ErrFull.
func full(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", storage.ErrFull, err)
	}
	return err
}

// Commit syncs the file and renames it into place.
func (w *writer) Commit() error {
	if w.done {
		return errors.New("blob already committed or aborted")
	}
	w.done = true
	err := w.ctx.Err()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(w.final), 0o700)
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.final)
	}
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("commit blob: %w", full(err))
	}
	return nil
}

// Abort discards the temporary file; it is harmless after Commit.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort blob: %w", err)
	}
	return nil
}

// Open returns the blob's file; *os.File reads sequentially and at offsets
// without extra buffering, and keeps reading after the blob is deleted.
func (s *Store) Open(ctx context.Context, id string, size int64) (storage.BlobReader, error) {
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return f, nil
}

// Delete removes a blob, and the temporary file of an upload of it that a
// crashed process left behind; a missing blob is not an error. Another
// process may share the directory, so temporary files are only ever
// removed by id, never swept wholesale.
func (s *Store) Delete(ctx context.Context, id string) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob: %w", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(s.dir, "tmp", id+".*"))
	for _, t := range tmps {
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete blob: %w", err)
		}
	}
	return nil
}

// Walk lists committed blobs.
func (s *Store) Walk(ctx context.Context, fn func(storage.BlobInfo) error) error {
	root := filepath.Join(s.dir, "blobs")
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !storage.ValidBlobID(d.Name()) || !strings.HasPrefix(d.Name(), filepath.Base(filepath.Dir(p))) {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while walking
		} else if err != nil {
			return err
		}
		return fn(storage.BlobInfo{ID: d.Name(), Size: info.Size(), ModTime: info.ModTime()})
	})
}

// Ping checks that the blob directory is there and that a file can be
// created where uploads begin: a removed, unmounted or read-only
// directory fails the readiness probe rather than the next upload. The
// probe runs aside so that a hung file system (a dead network mount)
// fails by ctx instead of blocking; while one probe hangs, further Pings
// fail at once instead of piling up.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	if !s.pinging.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: the previous check of the blob directory has not returned", storage.ErrUnavailable)
	}
	done := make(chan error, 1)
	go func() {
		err := s.probe()
		s.pinging.Store(false) // before the answer: the next Ping may follow at once
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: blob directory did not answer: %w", storage.ErrUnavailable, context.Cause(ctx))
	}
}

func (s *Store) probe() error {
	fi, err := os.Stat(filepath.Join(s.dir, "blobs"))
	if err != nil {
		return fmt.Errorf("blob directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("blob directory: %s is not a directory", fi.Name())
	}
	// Not a valid blob id, so Delete and GC never mistake it for one.
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "ping.*")
	if err != nil {
		return fmt.Errorf("blob directory is not writable: %w", err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("blob directory: %w", err)
	}
	return nil
}
