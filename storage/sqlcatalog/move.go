package sqlcatalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"
	"unicode/utf8"

	"pier/db"
	"pier/storage"
	"pier/vpath"
)

// view is the storage.View of one write transaction.
type view struct{ tx queryer }

// queryer runs queries in a transaction or on the database.
type queryer interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// Walk yields every entry below dir, outside any transaction (for reports
// and explanations; changes decide on the View of their transaction).
func (c *Catalog) Walk(ctx context.Context, dir vpath.Path) iter.Seq2[storage.Entry, error] {
	return view{c.db}.Walk(ctx, dir)
}

var _ storage.View = view{}

func (v view) Stat(ctx context.Context, p vpath.Path) (storage.Entry, error) {
	e, err := stat(ctx, v.tx, p)
	return e, wrap("stat", p, err)
}

// Walk streams the rows below dir. The transaction's connection is busy
// while it runs: a guard must not call the view again before it ends.
func (v view) Walk(ctx context.Context, dir vpath.Path) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		q, args := "SELECT COALESCE(d.dir, '/'), e.name, e.kind FROM entries e LEFT JOIN entries d ON d.id = e.folder", []any(nil)
		if !dir.IsRoot() {
			q = "SELECT d.dir, e.name, e.kind FROM entries d JOIN entries e ON e.folder = d.id WHERE " + subtree
			args = inSubtree(dir)
		}
		rows, err := v.tx.Query(ctx, q, args...)
		if err != nil {
			yield(storage.Entry{}, wrap("walk", dir, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var parent, name, kind string
			if err := rows.Scan(&parent, &name, &kind); err != nil {
				yield(storage.Entry{}, wrap("walk", dir, err))
				return
			}
			p, err := vpath.Stored(parent + "/" + name)
			if err != nil {
				yield(storage.Entry{}, wrap("walk", dir, err))
				return
			}
			if !yield(storage.Entry{Path: p, Kind: storage.Kind(kind[0])}, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(storage.Entry{}, wrap("walk", dir, err))
		}
	}
}

// subtree selects, as d, a folder and the folders below it, with
// inSubtree's arguments: the range from the folder's path to the bounds
// from below, which the dir index answers, without the neighbours whose
// names extend the folder's (/a-b beside /a).
const subtree = "(d.dir >= ? AND d.dir < ? AND (d.dir = ? OR d.dir >= ?))"

// inSubtree returns the arguments of subtree for dir.
func inSubtree(dir vpath.Path) []any {
	lo, hi := below(dir)
	return []any{dir.String(), hi, dir.String(), lo}
}

// guard runs a guard, if any, inside the transaction.
func guard(ctx context.Context, tx *db.Tx, g storage.Guard) error {
	if g == nil {
		return nil
	}
	return g(ctx, view{tx})
}

// target checks what stands at to for a move or copy of src: nothing, or
// something the options allow to replace. It returns the entry to replace,
// if any.
func target(ctx context.Context, tx *db.Tx, src storage.Entry, to vpath.Path, r storage.Replace) (*storage.Entry, error) {
	dst, err := stat(ctx, tx, to)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case r == storage.ReplaceAny, r == storage.ReplaceFile && !dst.IsDir() && !src.IsDir():
		return &dst, nil
	}
	return nil, storage.ErrExist
}

// checkMove refuses moves and copies that would act on a folder from inside
// itself: into itself, or replacing one of its own ancestors.
func checkMove(from, to vpath.Path, r storage.Replace) error {
	switch {
	case from.IsRoot(), to.IsRoot():
		return storage.ErrInvalidMove
	case to != from && to.Within(from):
		return storage.ErrInvalidMove
	case r == storage.ReplaceAny && to != from && from.Within(to):
		return storage.ErrInvalidMove
	}
	return nil
}

// Move renames a file, or a folder with all it holds, in one transaction
// that touches only catalog rows; an entry it replaces goes in the same
// transaction, so a refused or failed move leaves the target as it was.
func (c *Catalog) Move(ctx context.Context, from, to vpath.Path, opts storage.MoveOptions) error {
	if err := checkMove(from, to, opts.Replace); err != nil {
		return wrap("rename", from, err)
	}
	err := c.db.WriteTx(ctx, func(tx *db.Tx) error {
		src, err := stat(ctx, tx, from)
		if err != nil {
			return err
		}
		if to == from {
			return guard(ctx, tx, opts.Guard)
		}
		folder, err := needParent(ctx, tx, to.Parent())
		if err != nil {
			return err
		}
		at, shadows := to, ""
		var dst *storage.Entry
		if held, err := stat(ctx, tx, to); err == nil && !src.IsDir() && opts.Conflict != nil && opts.Conflict(held) {
			if at, err = conflictPath(ctx, tx, to, opts.By); err != nil {
				return err
			}
			shadows = to.Name()
		} else if dst, err = target(ctx, tx, src, to, opts.Replace); err != nil {
			return err
		}
		if err := guard(ctx, tx, opts.Guard); err != nil {
			return err
		}
		if dst != nil {
			if err := removeEntry(ctx, tx, *dst, true); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE entries SET folder = ?, name = ?, dir = ?, shadows = ? WHERE id = ?",
			folder, at.Name(), dirOf(at, src.Kind), shadows, src.ID); err != nil {
			return err
		}
		moved := src
		moved.Path, moved.Shadows = at, shadows
		if src.IsDir() {
			// The folders below move with it; what they hold keeps its
			// rows. substr counts characters in both dialects.
			lo, hi := below(from)
			if _, err := tx.Exec(ctx, `UPDATE entries SET dir = CAST(? AS TEXT) || substr(dir, ?) WHERE dir >= ? AND dir < ?`,
				to.String(), utf8.RuneCountInString(from.String())+1, lo, hi); err != nil {
				return err
			}
		}
		return journal(ctx, tx, opts.Note, moved)
	})
	return wrap("rename", from, err)
}

// Copy copies a file, or a folder with all it holds (only the folder when
// opts.Shallow), in one transaction. Copies share their source's blobs,
// which are immutable; a blob is collected only when no entry refers to it.
// Copies start at version 1, keep their source's modification time and
// dead properties, and are created by opts.By.
func (c *Catalog) Copy(ctx context.Context, from, to vpath.Path, opts storage.MoveOptions) error {
	switch {
	case from.IsRoot(), to.IsRoot(), to == from,
		to.Within(from) && !opts.Shallow,
		opts.Replace == storage.ReplaceAny && from.Within(to):
		return wrap("copy", from, storage.ErrInvalidMove)
	}
	err := c.db.WriteTx(ctx, func(tx *db.Tx) error {
		src, err := stat(ctx, tx, from)
		if err != nil {
			return err
		}
		folder, err := needParent(ctx, tx, to.Parent())
		if err != nil {
			return err
		}
		dst, err := target(ctx, tx, src, to, opts.Replace)
		if err != nil {
			return err
		}
		if err := guard(ctx, tx, opts.Guard); err != nil {
			return err
		}
		if dst != nil {
			if err := removeEntry(ctx, tx, *dst, true); err != nil {
				return err
			}
		}
		if err := copyRows(ctx, tx, src, folder, to, opts); err != nil {
			return err
		}
		copied := src
		copied.Path = to
		return journal(ctx, tx, opts.Note, copied)
	})
	return wrap("copy", from, err)
}

// copyRows copies src to to, in the folder with id folder: its row and
// dead properties, and unless opts.Shallow what a folder holds, in a few
// statements whatever its size (one more per level of subfolders).
func copyRows(ctx context.Context, tx *db.Tx, src storage.Entry, folder int64, to vpath.Path, opts storage.MoveOptions) error {
	now := time.Now().UnixNano()
	var published int64
	if !src.IsDir() {
		published = now
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO entries (folder, name, kind, dir, size, mtime, sha256, sha1, md5, blob_id, created_by, created_at, published_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, folder, to.Name(), string(src.Kind), dirOf(to, src.Kind), src.Size, src.ModTime.UnixNano(),
		src.SHA256, src.SHA1, src.MD5, src.BlobID, opts.By, now, published).Scan(&id); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO props (entry_id, space, local, lang, xml)
		SELECT ?, space, local, lang, xml FROM props WHERE entry_id = ?`, id, src.ID); err != nil {
		return err
	}
	if !src.IsDir() || opts.Shallow {
		return nil
	}
	from := src.Path
	cut := utf8.RuneCountInString(from.String()) + 1
	// moved is the copy's path of a path below from; mapped finds, as n,
	// the copy of the folder d.
	moved := "CAST(? AS TEXT) || substr(%s, ?)"
	mapped := "JOIN entries n ON n.dir = " + fmt.Sprintf(moved, "d.dir")
	// Subfolders first, a level at a time: each needs its folder's copy.
	for {
		res, err := tx.Exec(ctx, `INSERT INTO entries (folder, name, kind, dir, size, mtime, sha256, sha1, md5, blob_id, created_by, created_at, published_at)
			SELECT n.id, e.name, e.kind, `+fmt.Sprintf(moved, "e.dir")+`, e.size, e.mtime, e.sha256, e.sha1, e.md5, e.blob_id, CAST(? AS TEXT), CAST(? AS BIGINT), 0
			FROM entries d JOIN entries e ON e.folder = d.id `+mapped+`
			WHERE e.kind = 'd' AND `+subtree+`
			AND NOT EXISTS (SELECT 1 FROM entries x WHERE x.dir = `+fmt.Sprintf(moved, "e.dir")+`)`,
			slices.Concat([]any{to.String(), cut, opts.By, now, to.String(), cut}, inSubtree(from), []any{to.String(), cut})...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			break
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO entries (folder, name, kind, size, mtime, sha256, sha1, md5, blob_id, created_by, created_at, published_at)
		SELECT n.id, e.name, e.kind, e.size, e.mtime, e.sha256, e.sha1, e.md5, e.blob_id, CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT)
		FROM entries d JOIN entries e ON e.folder = d.id `+mapped+`
		WHERE e.kind <> 'd' AND `+subtree, slices.Concat([]any{opts.By, now, now, to.String(), cut}, inSubtree(from))...); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO props (entry_id, space, local, lang, xml)
		SELECT c.id, p.space, p.local, p.lang, p.xml
		FROM entries d JOIN entries e ON e.folder = d.id `+mapped+`
		JOIN entries c ON c.folder = n.id AND c.name = e.name
		JOIN props p ON p.entry_id = e.id
		WHERE `+subtree, slices.Concat([]any{to.String(), cut}, inSubtree(from))...)
	return err
}

// Remove deletes a file or folder; a non-empty folder only if recursive.
func (c *Catalog) Remove(ctx context.Context, p vpath.Path, opts storage.RemoveOptions) error {
	if p.IsRoot() {
		return wrap("remove", p, storage.ErrInvalidMove)
	}
	err := c.db.WriteTx(ctx, func(tx *db.Tx) error {
		e, err := stat(ctx, tx, p)
		if err != nil {
			return err
		}
		if err := guard(ctx, tx, opts.Guard); err != nil {
			return err
		}
		if err := removeEntry(ctx, tx, e, opts.Recursive); err != nil {
			return err
		}
		return journal(ctx, tx, opts.Note, e)
	})
	return wrap("remove", p, err)
}

// removeEntry deletes e, and everything below it if recursive; the blobs
// they referred to go to the garbage list.
func removeEntry(ctx context.Context, tx *db.Tx, e storage.Entry, recursive bool) error {
	if e.IsDir() {
		if err := removeBelow(ctx, tx, e, recursive); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM entries WHERE id = ?", e.ID); err != nil {
		return err
	}
	return release(ctx, tx, e.BlobID)
}

func removeBelow(ctx context.Context, tx *db.Tx, e storage.Entry, recursive bool) error {
	dir := e.Path
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM entries WHERE folder = ? LIMIT 1", e.ID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	if !recursive {
		return storage.ErrNotEmpty
	}
	if _, err := tx.Exec(ctx, `INSERT INTO garbage (blob_id, since)
		SELECT DISTINCT e.blob_id, CAST(? AS BIGINT) FROM entries d JOIN entries e ON e.folder = d.id WHERE e.kind = 'f' AND `+subtree+`
		ON CONFLICT (blob_id) DO UPDATE SET since = excluded.since`,
		append([]any{time.Now().UnixNano()}, inSubtree(dir)...)...); err != nil {
		return err
	}
	// Everything in the folder or a folder below it: the subfolders too.
	_, err = tx.Exec(ctx, "DELETE FROM entries WHERE folder IN (SELECT d.id FROM entries d WHERE "+subtree+")", inSubtree(dir)...)
	return err
}
