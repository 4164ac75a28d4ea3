package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"pier/db"
	"pier/storage"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

// bigFolder is the folder of the listing phases, with bigEntries files.
const (
	bigFolder  = "/acme/big"
	bigEntries = 100_000
)

// fillFolder makes dir hold n files, written straight into the catalog
// (their blobs never exist: the listing phases read only the catalog),
// spread over subs subfolders when subs > 0. SQL generates the rows: a
// statement or two, whatever n is.
func fillFolder(ctx context.Context, d *db.DB, dir vpath.Path, n, subs int) error {
	cat := sqlcatalog.New(d)
	if err := storage.New(cat, nil).MkdirAll(ctx, dir, "bench"); err != nil {
		return err
	}
	var have int
	d.QueryRow(ctx, `SELECT count(*) FROM entries e JOIN entries d ON d.id = e.folder
		WHERE e.kind = 'f' AND (d.dir = ? OR (d.dir >= ? AND d.dir < ?))`, dir.String(), dir.String()+"/", dir.String()+"0").Scan(&have)
	if have >= n {
		return nil
	}
	// series is a row i for i in 1..n, as the first argument says.
	series := "generate_series(1, CAST(? AS INTEGER)) AS s(i)"
	if d.Dialect == db.SQLite {
		series = "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) SELECT i FROM s) AS s"
	}
	now := time.Now().UnixNano()
	in := "(SELECT id FROM entries WHERE dir = CAST(? AS TEXT))"
	if subs > 0 {
		if _, err := d.Exec(ctx, `INSERT INTO entries (folder, name, kind, dir, mtime, created_by, created_at)
			SELECT `+in+`, 'sub-' || i, 'd', CAST(? AS TEXT) || '/sub-' || i, CAST(? AS BIGINT), 'bench', CAST(? AS BIGINT) FROM `+series,
			dir.String(), dir.String(), now, now, subs); err != nil {
			return err
		}
		in = "(SELECT id FROM entries WHERE dir = CAST(? AS TEXT) || '/sub-' || (i % " + fmt.Sprint(subs) + " + 1))"
	}
	sha := "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
	_, err := d.Exec(ctx, `INSERT INTO entries (folder, name, kind, size, mtime, sha256, blob_id, created_by, created_at, published_at)
		SELECT `+in+`, 'file-' || i, 'f', 1, CAST(? AS BIGINT), CAST(? AS TEXT), 'f0000000000000000000000000000000', 'bench', CAST(? AS BIGINT), CAST(? AS BIGINT)
		FROM `+series, dir.String(), now, sha, now, now, n)
	return err
}

// listPhases list a folder of 100,000 files over WebDAV (PROPFIND Depth
// 1, streamed: time to the first byte and to the last) and over SFTP.
func (b *bench) listPhases() []phase {
	return []phase{
		{"propfind-100k", func() (sample, error) {
			if err := b.prepareBig(); err != nil {
				return sample{}, err
			}
			node := b.s3n
			before, _ := procMem(node.pid())
			var first float64
			var got int
			s, err := b.measure(node.pid(), false, bigEntries, func() error {
				req, _ := http.NewRequestWithContext(b.ctx, "PROPFIND", node.davURL+bigFolder+"/", nil)
				req.SetBasicAuth(benchUser, b.password)
				req.Header.Set("Depth", "1")
				start := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusMultiStatus {
					return fmt.Errorf("PROPFIND: %s", resp.Status)
				}
				one := make([]byte, 1)
				if _, err := io.ReadFull(resp.Body, one); err != nil {
					return err
				}
				first = time.Since(start).Seconds()
				buf := make([]byte, 256<<10)
				tag := []byte("<D:response>")
				var tail []byte
				for {
					n, err := resp.Body.Read(buf)
					chunk := append(tail, buf[:n]...)
					got += bytes.Count(chunk, tag)
					if k := len(tag) - 1; len(chunk) > k {
						tail = append(tail[:0], chunk[len(chunk)-k:]...)
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err == nil && got < bigEntries {
				err = fmt.Errorf("PROPFIND listed %d responses, want %d", got, bigEntries+1)
			}
			s.extra["first-byte-s"] = first
			s.extra["rss-growth-MiB"] = float64(int64(s.peak)-int64(before)) / (1 << 20)
			return s, err
		}},
		{"readdir-100k", func() (sample, error) {
			if err := b.prepareBig(); err != nil {
				return sample{}, err
			}
			c, done, err := b.goClient(b.s3n.sftpPort)
			if err != nil {
				return sample{}, err
			}
			defer done()
			return b.measure(b.s3n.pid(), false, bigEntries, func() error {
				fis, err := c.ReadDir(bigFolder)
				if err == nil && len(fis) != bigEntries {
					err = fmt.Errorf("readdir: %d entries, want %d", len(fis), bigEntries)
				}
				return err
			})
		}},
	}
}

func (b *bench) prepareBig() error {
	if b.bigReady {
		return nil
	}
	d, err := db.Open(b.ctx, b.pgURL)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := fillFolder(b.ctx, d, vpath.MustParse(bigFolder), bigEntries, 0); err != nil {
		return err
	}
	b.bigReady = true
	return nil
}

// renamePhases rename a folder of 100,000 files in 1,000 subfolders in the
// catalog on SQLite (a file on tmpfs), and one of 10,000 in 100 on
// PostgreSQL.
func (b *bench) renamePhases() []phase {
	rename := func(name, dsn string, n int) phase {
		return phase{name, func() (sample, error) {
			d, err := db.Open(b.ctx, dsn)
			if err != nil {
				return sample{}, err
			}
			defer d.Close()
			cat := sqlcatalog.New(d)
			src, dst := vpath.MustParse("/bench-rename/src"), vpath.MustParse("/bench-rename/dst")
			if _, err := cat.Stat(b.ctx, dst); err == nil {
				src, dst = dst, src
			}
			if _, err := cat.Stat(b.ctx, src); err != nil {
				if err := fillFolder(b.ctx, d, src, n, n/100); err != nil {
					return sample{}, err
				}
			}
			var times []float64
			for range 3 {
				start := time.Now()
				if err := cat.Move(b.ctx, src, dst, storage.MoveOptions{}); err != nil {
					return sample{}, err
				}
				times = append(times, time.Since(start).Seconds())
				src, dst = dst, src
			}
			slices.Sort(times)
			return sample{units: float64(n), secs: times[1], extra: map[string]float64{}}, nil
		}}
	}
	return []phase{
		rename("rename-sqlite-100k", "sqlite:"+filepath.Join(b.work, "rename.db"), 100_000),
		rename("rename-pg-10k", b.pgURL, 10_000),
	}
}
