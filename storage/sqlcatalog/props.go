package sqlcatalog

import (
	"context"
	"fmt"

	"pier/db"
	"pier/storage"
	"pier/vpath"
)

// DeadProps returns the dead properties of the given entries.
func (c *Catalog) DeadProps(ctx context.Context, ids []int64) (map[int64][]storage.Prop, error) {
	out := map[int64][]storage.Prop{}
	for len(ids) > 0 {
		n := min(len(ids), batch)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		rows, err := c.db.Query(ctx, "SELECT entry_id, space, local, lang, xml FROM props WHERE entry_id IN ("+db.Placeholders(n)+") ORDER BY entry_id, space, local", args...)
		if err != nil {
			return nil, fmt.Errorf("dead properties: %w", err)
		}
		for rows.Next() {
			var id int64
			var p storage.Prop
			var x string
			if err := rows.Scan(&id, &p.Space, &p.Local, &p.Lang, &x); err != nil {
				rows.Close()
				return nil, fmt.Errorf("dead properties: %w", err)
			}
			p.XML = []byte(x)
			out[id] = append(out[id], p)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("dead properties: %w", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// PatchProps applies removals, then settings, in one transaction.
func (c *Catalog) PatchProps(ctx context.Context, p vpath.Path, set, remove []storage.Prop) error {
	for _, pr := range set {
		if len(pr.XML) > storage.MaxPropSize {
			return wrap("proppatch", p, storage.ErrTooManyProps)
		}
	}
	err := c.db.WriteTx(ctx, func(tx *db.Tx) error {
		e, err := stat(ctx, tx, p)
		if err != nil {
			return err
		}
		if p.IsRoot() {
			return storage.ErrInvalidMove
		}
		for _, pr := range remove {
			if _, err := tx.Exec(ctx, "DELETE FROM props WHERE entry_id = ? AND space = ? AND local = ?", e.ID, pr.Space, pr.Local); err != nil {
				return err
			}
		}
		for _, pr := range set {
			if _, err := tx.Exec(ctx, `INSERT INTO props (entry_id, space, local, lang, xml) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (entry_id, space, local) DO UPDATE SET lang = excluded.lang, xml = excluded.xml`,
				e.ID, pr.Space, pr.Local, pr.Lang, string(pr.XML)); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM props WHERE entry_id = ?", e.ID).Scan(&n); err != nil {
			return err
		}
		if n > storage.MaxPropsPerEntry {
			return storage.ErrTooManyProps
		}
		return nil
	})
	return wrap("proppatch", p, err)
}
