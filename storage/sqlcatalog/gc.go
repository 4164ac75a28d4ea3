package sqlcatalog

import (
	"context"
	"fmt"
	"time"

	"pier/db"
)

// StaleUploads lists blobs of uploads begun before t and never published
// nor abandoned: the process writing them died.
func (c *Catalog) StaleUploads(ctx context.Context, before time.Time) ([]string, error) {
	return c.ids(ctx, "SELECT blob_id FROM uploads WHERE started_at < ?", before.UnixNano())
}

// Garbage lists released blobs that no entry references any more.
func (c *Catalog) Garbage(ctx context.Context, before time.Time) ([]string, error) {
	return c.ids(ctx, `SELECT blob_id FROM garbage g WHERE since < ?
		AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.blob_id = g.blob_id AND e.blob_id <> '')`, before.UnixNano())
}

func (c *Catalog) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := c.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

const batch = 500

// ForgetBlobs drops the bookkeeping of collected blobs.
func (c *Catalog) ForgetBlobs(ctx context.Context, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), batch)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		in := db.Placeholders(n)
		err := c.db.WriteTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, "DELETE FROM uploads WHERE blob_id IN ("+in+")", args...); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "DELETE FROM garbage WHERE blob_id IN ("+in+")", args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// KnownBlobs reports which ids the catalog references or tracks.
func (c *Catalog) KnownBlobs(ctx context.Context, ids []string) (map[string]bool, error) {
	known := make(map[string]bool)
	for len(ids) > 0 {
		n := min(len(ids), batch)
		args := make([]any, 0, 3*n)
		for range 3 {
			for _, id := range ids[:n] {
				args = append(args, id)
			}
		}
		in := db.Placeholders(n)
		got, err := c.ids(ctx, "SELECT blob_id FROM entries WHERE blob_id IN ("+in+`)
			UNION SELECT blob_id FROM uploads WHERE blob_id IN (`+in+`)
			UNION SELECT blob_id FROM garbage WHERE blob_id IN (`+in+")", args...)
		if err != nil {
			return nil, err
		}
		for _, id := range got {
			known[id] = true
		}
		ids = ids[n:]
	}
	return known, nil
}
