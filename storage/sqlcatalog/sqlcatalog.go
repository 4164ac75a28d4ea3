// Package sqlcatalog is the storage.Catalog kept in SQL, on PostgreSQL or
// SQLite through package db. One set of statements serves both.
//
// An entry's row holds the id of its folder and its own name; the pair is
// unique. The root is folder 0 and has no row. A folder's row also holds
// its own path (dir), so a path is found by two index lookups and a
// folder's descendants are the children of the folders whose dir is the
// folder's or starts with it and "/", a range that the dir index answers
// in byte order (PostgreSQL columns use COLLATE "C"). Renaming a folder
// changes its row and rewrites the dir prefix of the folders below it, in
// one transaction: the rows of the files it holds do not change.
package sqlcatalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"pier/db"
	"pier/storage"
	"pier/vpath"
)

// Catalog implements storage.Catalog over a *db.DB.
type Catalog struct {
	db *db.DB
}

var _ storage.Catalog = (*Catalog)(nil)

// New returns a catalog over an open, migrated database.
func New(d *db.DB) *Catalog { return &Catalog{db: d} }

// entryCols are the columns scanEntry reads after the path of the entry's
// folder, which a query gives first: as an argument (withDir) when it reads
// one folder, from a join when it reads several.
const entryCols = "id, name, kind, size, mtime, sha256, sha1, md5, blob_id, version, created_by, created_at, published_at, shadows"

// withDir is the select list of a query on one folder, whose path is the
// first argument.
const withDir = "CAST(? AS TEXT), " + entryCols

type scanner interface{ Scan(...any) error }

// scanEntry reads the path of the entry's folder, then entryCols.
func scanEntry(s scanner) (storage.Entry, error) {
	var e storage.Entry
	var parent, name, kind string
	var mtime, created, published int64
	if err := s.Scan(&parent, &e.ID, &name, &kind, &e.Size, &mtime, &e.SHA256, &e.SHA1, &e.MD5, &e.BlobID, &e.Version, &e.CreatedBy,
		&created, &published, &e.Shadows); err != nil {
		return e, err
	}
	if published != 0 {
		e.Published = time.Unix(0, published)
	}
	p, err := vpath.Stored(parent + "/" + name)
	if err != nil {
		return e, fmt.Errorf("catalog row %d holds a bad path: %w", e.ID, err)
	}
	e.Path, e.Kind, e.ModTime, e.Created = p, storage.Kind(kind[0]), time.Unix(0, mtime), time.Unix(0, created)
	return e, nil
}

// inFolder is the condition on the folder column that selects the
// children of dir, and its argument.
func inFolder(dir vpath.Path) (string, any) {
	if dir.IsRoot() {
		return "folder = ?", 0
	}
	return "folder = (SELECT id FROM entries WHERE dir = ?)", dir.String()
}

// dirOf is the dir column of an entry at p of kind k: its path for a
// folder, NULL for anything else.
func dirOf(p vpath.Path, k storage.Kind) any {
	if k == storage.KindDir {
		return p.String()
	}
	return nil
}

// below returns the bounds of the dir column for every folder below dir:
// [dir+"/", dir+"0"), "0" being the byte after "/".
func below(dir vpath.Path) (string, string) {
	return dir.String() + "/", dir.String() + "0"
}

var rootEntry = storage.Entry{Path: vpath.Root(), Kind: storage.KindDir}

type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func stat(ctx context.Context, q querier, p vpath.Path) (storage.Entry, error) {
	if p.IsRoot() {
		return rootEntry, nil
	}
	in, arg := inFolder(p.Parent())
	e, err := scanEntry(q.QueryRow(ctx, "SELECT "+withDir+" FROM entries WHERE "+in+" AND name = ?", p.Parent().String(), arg, p.Name()))
	if errors.Is(err, sql.ErrNoRows) {
		return e, storage.ErrNotExist
	}
	return e, err
}

// statIn reads the folder p goes in and the entry at p in one query. The
// error wraps ErrNoParent or ErrNotDir when the folder is missing or no
// folder, else ErrNotExist when only p is missing (with the folder read).
func statIn(ctx context.Context, q querier, p vpath.Path) (dir, e storage.Entry, err error) {
	pp := p.Parent()
	if pp.IsRoot() {
		e, err = stat(ctx, q, p)
		return rootEntry, e, err
	}
	// The folder is the row whose dir is pp; the entry is p's name in it.
	rows, err := q.Query(ctx, "SELECT "+withDir+" FROM entries WHERE dir = ? UNION ALL SELECT "+withDir+
		" FROM entries WHERE folder = (SELECT id FROM entries WHERE dir = ?) AND name = ?",
		pp.Parent().String(), pp.String(), pp.String(), pp.String(), p.Name())
	if err != nil {
		return dir, e, err
	}
	defer rows.Close()
	found, foundDir := false, false
	for rows.Next() {
		r, err := scanEntry(rows)
		if err != nil {
			return dir, e, err
		}
		if r.Path == p {
			e, found = r, true
		} else {
			dir, foundDir = r, true
		}
	}
	if err := rows.Err(); err != nil {
		return dir, e, err
	}
	switch {
	case !foundDir:
		// No folder at pp: tell a file there from nothing.
		if d, err := stat(ctx, q, pp); err == nil && !d.IsDir() {
			return d, e, storage.ErrNotDir
		} else if err != nil && !errors.Is(err, storage.ErrNotExist) {
			return dir, e, err
		}
		return dir, e, storage.ErrNoParent
	case !dir.IsDir():
		return dir, e, storage.ErrNotDir
	case !found:
		return dir, e, storage.ErrNotExist
	}
	return dir, e, nil
}

// StatIn returns the folder p goes in and the entry at p, read together
// (see storage.Catalog).
func (c *Catalog) StatIn(ctx context.Context, p vpath.Path) (dir, e storage.Entry, err error) {
	dir, e, err = statIn(ctx, c.db, p)
	return dir, e, wrap("stat", p, err)
}

// Stat returns the entry at p.
func (c *Catalog) Stat(ctx context.Context, p vpath.Path) (storage.Entry, error) {
	e, err := stat(ctx, c.db, p)
	return e, wrap("stat", p, err)
}

// List returns a page of dir's children in byte order of their names.
func (c *Catalog) List(ctx context.Context, dir vpath.Path, after string, limit int) ([]storage.Entry, error) {
	in, arg := inFolder(dir)
	rows, err := c.db.Query(ctx, "SELECT "+withDir+" FROM entries WHERE "+in+" AND name > ? ORDER BY name LIMIT ?",
		dir.String(), arg, after, limit)
	if err != nil {
		return nil, wrap("list", dir, err)
	}
	defer rows.Close()
	var out []storage.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, wrap("list", dir, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list", dir, err)
	}
	if len(out) == 0 {
		// Only an empty page needs to tell an empty folder from none.
		d, err := c.Stat(ctx, dir)
		if err != nil {
			return nil, err
		}
		if !d.IsDir() {
			return nil, wrap("list", dir, storage.ErrNotDir)
		}
	}
	return out, nil
}

// needParent checks that p, the folder a change puts an entry in, exists
// and is a folder, and returns its id (0 for the root).
func needParent(ctx context.Context, tx *db.Tx, p vpath.Path) (int64, error) {
	e, err := stat(ctx, tx, p)
	if errors.Is(err, storage.ErrNotExist) {
		return 0, storage.ErrNoParent
	} else if err != nil {
		return 0, err
	}
	if !e.IsDir() {
		return 0, storage.ErrNotDir
	}
	return e.ID, nil
}

// Mkdir creates the folder p inside an existing folder.
func (c *Catalog) Mkdir(ctx context.Context, p vpath.Path, opts storage.MkdirOptions) error {
	if p.IsRoot() {
		return wrap("mkdir", p, storage.ErrExist)
	}
	err := c.db.WriteTx(ctx, func(tx *db.Tx) error {
		folder, err := needParent(ctx, tx, p.Parent())
		if err != nil {
			return err
		}
		if _, err := stat(ctx, tx, p); err == nil {
			return storage.ErrExist
		} else if !errors.Is(err, storage.ErrNotExist) {
			return err
		}
		now := time.Now().UnixNano()
		if _, err := tx.Exec(ctx, `INSERT INTO entries (folder, name, kind, dir, mtime, created_by, created_at)
			VALUES (?, ?, 'd', ?, ?, ?, ?)`, folder, p.Name(), p.String(), opts.ModTime.UnixNano(), opts.By, now); err != nil {
			return err
		}
		return journal(ctx, tx, opts.Note, storage.Entry{Path: p, Kind: storage.KindDir, ModTime: opts.ModTime, CreatedBy: opts.By})
	})
	return wrap("mkdir", p, err)
}

// journal writes a change's audit record in its transaction.
func journal(ctx context.Context, tx *db.Tx, note storage.Note, result storage.Entry) error {
	if note == nil {
		return nil
	}
	return tx.Journal(ctx, note(result))
}

// BeginUpload records a blob that an upload is writing.
func (c *Catalog) BeginUpload(ctx context.Context, blobID string, p vpath.Path) error {
	_, err := c.db.Exec(ctx, "INSERT INTO uploads (blob_id, path, started_at) VALUES (?, ?, ?)",
		blobID, p.String(), time.Now().UnixNano())
	return wrap("upload", p, err)
}

// AbandonUpload forgets an upload whose blob the caller deletes.
func (c *Catalog) AbandonUpload(ctx context.Context, blobID string) error {
	_, err := c.db.Exec(ctx, "DELETE FROM uploads WHERE blob_id = ?", blobID)
	if err != nil {
		return fmt.Errorf("abandon upload: %w", err)
	}
	return nil
}

// release marks a blob as no longer referenced by the entry that held it.
func release(ctx context.Context, tx *db.Tx, blobID string) error {
	if blobID == "" {
		return nil
	}
	_, err := tx.Exec(ctx, "INSERT INTO garbage (blob_id, since) VALUES (?, ?) ON CONFLICT (blob_id) DO UPDATE SET since = excluded.since",
		blobID, time.Now().UnixNano())
	return err
}

// Publish makes f the content of p, replacing an existing file unless
// opts.Exclusive is set; opts.Guard decides on the state it finds. The
// upload's bookkeeping row goes in the same transaction, so a published
// blob is never collected as abandoned.
func (c *Catalog) Publish(ctx context.Context, p vpath.Path, f storage.NewFile, opts storage.PublishOptions) (storage.Entry, error) {
	if p.IsRoot() {
		return storage.Entry{}, wrap("publish", p, storage.ErrIsDir)
	}
	var out storage.Entry
	err := c.db.WriteTx(ctx, func(tx *db.Tx) error {
		if opts.Guard == nil {
			// Most uploads create a new name: insert it without reading
			// the name first. On PostgreSQL, reading a name that is not
			// there locks its index page for the serializable check, so
			// concurrent uploads into one folder failed each other's
			// transactions (a third of them retried); the unique key
			// decides instead. The folder is read by the same statement:
			// a concurrent delete of it must conflict.
			e, err := insertNew(ctx, tx, p, f)
			switch {
			case err == nil:
				out = e
				return published(ctx, tx, f, opts, out)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			// The name is taken, or the folder missing: decide below.
		}
		at, shadows := p, ""
		dir, old, err := statIn(ctx, tx, p)
		switch {
		case errors.Is(err, storage.ErrNoParent), errors.Is(err, storage.ErrNotDir):
			return err
		case err == nil && opts.Conflict != nil && opts.Conflict(old):
			if at, err = conflictPath(ctx, tx, p, f.CreatedBy); err != nil {
				return err
			}
			shadows = p.Name()
		case err == nil && old.IsDir():
			return storage.ErrIsDir
		case err == nil && opts.Exclusive:
			return storage.ErrExist
		case err != nil && !errors.Is(err, storage.ErrNotExist):
			return err
		}
		if opts.Guard != nil {
			if gerr := opts.Guard(ctx, view{tx}); gerr != nil {
				return gerr
			}
		}
		now := time.Now().UnixNano()
		// RETURNING gives the published entry without one more query.
		if err == nil && at == p {
			out, err = scanEntry(tx.QueryRow(ctx, `UPDATE entries SET size = ?, mtime = ?, sha256 = ?, sha1 = ?, md5 = ?, blob_id = ?, version = version + 1,
				created_by = ?, published_at = ? WHERE id = ? RETURNING `+withDir, f.Size, f.ModTime.UnixNano(), f.SHA256, f.SHA1, f.MD5, f.BlobID,
				f.CreatedBy, now, old.ID, p.Parent().String()))
			if err == nil {
				err = release(ctx, tx, old.BlobID)
			}
		} else {
			out, err = insertFile(ctx, tx, dir.ID, at, f, shadows, "")
		}
		if err != nil {
			return err
		}
		return published(ctx, tx, f, opts, out)
	})
	return out, wrap("publish", p, err)
}

// insertFile adds the file f at p, in the folder with id folder, and
// returns its entry (RETURNING spares a query); onConflict, if not empty,
// is the statement's ON CONFLICT clause.
func insertFile(ctx context.Context, tx *db.Tx, folder int64, p vpath.Path, f storage.NewFile, shadows, onConflict string) (storage.Entry, error) {
	now := time.Now().UnixNano()
	return scanEntry(tx.QueryRow(ctx, `INSERT INTO entries (folder, name, kind, size, mtime, sha256, sha1, md5, blob_id, created_by, created_at, published_at, shadows)
		VALUES (?, ?, 'f', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+onConflict+` RETURNING `+withDir,
		folder, p.Name(), f.Size, f.ModTime.UnixNano(), f.SHA256, f.SHA1, f.MD5, f.BlobID, f.CreatedBy, now, now, shadows, p.Parent().String()))
}

// insertNew adds the file f at p if its folder exists and the name is
// free, reading the folder in the same statement; sql.ErrNoRows says it
// did not (the caller finds out why).
func insertNew(ctx context.Context, tx *db.Tx, p vpath.Path, f storage.NewFile) (storage.Entry, error) {
	const conflict = " ON CONFLICT (folder, name) DO NOTHING"
	if p.Parent().IsRoot() {
		return insertFile(ctx, tx, 0, p, f, "", conflict)
	}
	now := time.Now().UnixNano()
	return scanEntry(tx.QueryRow(ctx, `INSERT INTO entries (folder, name, kind, size, mtime, sha256, sha1, md5, blob_id, created_by, created_at, published_at, shadows)
		SELECT id, CAST(? AS TEXT), 'f', CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT),
			CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), ''
		FROM entries WHERE dir = ?`+conflict+` RETURNING `+withDir,
		p.Name(), f.Size, f.ModTime.UnixNano(), f.SHA256, f.SHA1, f.MD5, f.BlobID, f.CreatedBy, now, now, p.Parent().String(), p.Parent().String()))
}

// published ends a publication: the upload's bookkeeping row goes (if it
// was staged), the audit record comes.
func published(ctx context.Context, tx *db.Tx, f storage.NewFile, opts storage.PublishOptions, out storage.Entry) error {
	if f.Staged {
		if _, err := tx.Exec(ctx, "DELETE FROM uploads WHERE blob_id = ?", f.BlobID); err != nil {
			return err
		}
	}
	return journal(ctx, tx, opts.Note, out)
}

// conflictPath finds a free name beside p for a conflict copy by by.
func conflictPath(ctx context.Context, tx *db.Tx, p vpath.Path, by string) (vpath.Path, error) {
	now := time.Now()
	for n := 1; n <= 100; n++ {
		c, err := p.Parent().Child(storage.ConflictName(p.Name(), by, now, n))
		if err != nil {
			return p, err
		}
		if _, err := stat(ctx, tx, c); errors.Is(err, storage.ErrNotExist) {
			return c, nil
		} else if err != nil {
			return p, err
		}
	}
	return p, storage.ErrExist
}

// Shadow returns by's newest conflict copy uploaded as p.
func (c *Catalog) Shadow(ctx context.Context, p vpath.Path, by string) (storage.Entry, error) {
	if p.IsRoot() {
		return storage.Entry{}, wrap("stat", p, storage.ErrNotExist)
	}
	in, arg := inFolder(p.Parent())
	e, err := scanEntry(c.db.QueryRow(ctx, "SELECT "+withDir+` FROM entries
		WHERE `+in+` AND shadows = ? AND created_by = ? ORDER BY published_at DESC, id DESC LIMIT 1`, p.Parent().String(), arg, p.Name(), by))
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotExist
	}
	return e, wrap("stat", p, err)
}

// SetModTime records a client-supplied modification time.
func (c *Catalog) SetModTime(ctx context.Context, p vpath.Path, t time.Time) error {
	if p.IsRoot() {
		return nil
	}
	in, arg := inFolder(p.Parent())
	res, err := c.db.Exec(ctx, "UPDATE entries SET mtime = ? WHERE "+in+" AND name = ?", t.UnixNano(), arg, p.Name())
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			err = storage.ErrNotExist
		}
	}
	return wrap("chtimes", p, err)
}

// SetSums records the hashes of a blob's content on the entries that hold
// it, keeping any already recorded.
func (c *Catalog) SetSums(ctx context.Context, blobID string, s storage.Sums) error {
	if blobID == "" {
		return nil
	}
	_, err := c.db.Exec(ctx, `UPDATE entries SET sha1 = CASE WHEN sha1 = '' THEN ? ELSE sha1 END,
		md5 = CASE WHEN md5 = '' THEN ? ELSE md5 END WHERE blob_id = ? AND blob_id <> ''`, s.SHA1, s.MD5, blobID)
	// (blob_id <> '' lets SQLite use the partial index entries_blob
	// instead of scanning every entry.)
	return err
}

// wrap gives err the operation and path, unless it already has them (a
// guard's refusal names its own).
func wrap(op string, p vpath.Path, err error) error {
	var pe *storage.PathError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return err
	}
	return &storage.PathError{Op: op, Path: p.String(), Err: err}
}
