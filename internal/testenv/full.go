package testenv

import (
	"context"
	"fmt"
	"syscall"

	"pier/storage"
)

// FullBlobs wraps a blob store whose writers fail once a blob passes
// limit bytes, as a full disk does: with an error wrapping
// storage.ErrFull and ENOSPC, the way the real stores report it.
func FullBlobs(inner storage.BlobStore, limit int64) storage.BlobStore {
	return fullBlobs{inner, limit}
}

type fullBlobs struct {
	storage.BlobStore
	limit int64
}

func (f fullBlobs) Create(ctx context.Context, id string) (storage.BlobWriter, error) {
	w, err := f.BlobStore.Create(ctx, id)
	if err != nil {
		return nil, err
	}
	return &fullWriter{BlobWriter: w, left: f.limit}, nil
}

type fullWriter struct {
	storage.BlobWriter
	left int64
}

func (w *fullWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.left {
		return 0, fmt.Errorf("%w: write blob: %w", storage.ErrFull, syscall.ENOSPC)
	}
	w.left -= int64(len(p))
	return w.BlobWriter.Write(p)
}
