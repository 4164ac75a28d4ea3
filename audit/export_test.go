package audit

import (
	"context"

	"golang.org/x/mod/sumdb/tlog"

	"pier/db"
)

// Rehash recomputes every stored hash from the records' data, as someone
// who edited records in the database and wants the hashes to agree would.
func Rehash(ctx context.Context, d *db.DB) error {
	rows, err := d.Query(ctx, "SELECT seq, data FROM audit_log ORDER BY seq")
	if err != nil {
		return err
	}
	mem := memHashes{}
	for rows.Next() {
		var seq int64
		var data string
		if err := rows.Scan(&seq, &data); err != nil {
			rows.Close()
			return err
		}
		hashes, err := tlog.StoredHashes(seq, []byte(data), mem)
		if err != nil {
			rows.Close()
			return err
		}
		for j, h := range hashes {
			mem[tlog.StoredHashIndex(0, seq)+int64(j)] = h
		}
	}
	rows.Close()
	for idx, h := range mem {
		if _, err := d.Exec(ctx, "UPDATE audit_hashes SET hash = ? WHERE idx = ?", h.String(), idx); err != nil {
			return err
		}
	}
	return nil
}
