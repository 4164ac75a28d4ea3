package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GCOptions say how old a blob must be before GC may remove it.
type GCOptions struct {
	// UploadAge: uploads begun longer ago and never finished are dead.
	UploadAge time.Duration
	// GarbageAge: released blobs are kept this long so that readers of
	// an overwritten or deleted version can finish.
	GarbageAge time.Duration
	// SweepAge: blobs the catalog does not know at all (left by a crash
	// before bookkeeping, or by another tool) are removed past this age.
	SweepAge time.Duration
}

// DefaultGCOptions are safe for a cluster of nodes and slow clients.
var DefaultGCOptions = GCOptions{UploadAge: 24 * time.Hour, GarbageAge: time.Hour, SweepAge: 24 * time.Hour}

// GCStats counts what one GC run removed.
type GCStats struct {
	AbandonedUploads int
	Released         int
	Unknown          int
}

// GC removes blobs nothing references any more.
func (f *FS) GC(ctx context.Context, o GCOptions) (GCStats, error) {
	var st GCStats
	now := time.Now()
	stale, err := f.cat.StaleUploads(ctx, now.Add(-o.UploadAge))
	if err != nil {
		return st, err
	}
	if st.AbandonedUploads, err = f.drop(ctx, stale); err != nil {
		return st, err
	}
	garbage, err := f.cat.Garbage(ctx, now.Add(-o.GarbageAge))
	if err != nil {
		return st, err
	}
	if st.Released, err = f.drop(ctx, garbage); err != nil {
		return st, err
	}
	st.Unknown, err = f.sweep(ctx, now.Add(-o.SweepAge))
	return st, err
}

// drop deletes blobs and then their bookkeeping rows, in that order, so a
// failure in between leaves a row that the next run retries.
func (f *FS) drop(ctx context.Context, ids []string) (int, error) {
	var done []string
	var errs []error
	for _, id := range ids {
		if err := f.blobs.Delete(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, id)
	}
	if err := f.cat.ForgetBlobs(ctx, done); err != nil {
		errs = append(errs, err)
	}
	return len(done), errors.Join(errs...)
}

func (f *FS) sweep(ctx context.Context, before time.Time) (int, error) {
	var candidates []string
	err := f.blobs.Walk(ctx, func(b BlobInfo) error {
		if b.ModTime.Before(before) {
			candidates = append(candidates, b.ID)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("gc sweep: %w", err)
	}
	known, err := f.cat.KnownBlobs(ctx, candidates)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range candidates {
		if known[id] {
			continue
		}
		if err := f.blobs.Delete(ctx, id); err != nil {
			return n, fmt.Errorf("gc sweep: %w", err)
		}
		n++
	}
	return n, nil
}
