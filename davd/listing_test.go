package davd_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"pier/storage"
	"pier/vpath"
)

// removedBetweenPasses removes one child of dir when a PROPFIND starts
// reading dir's entries a second time (after the names), and counts the
// single-entry reads of dir's children.
type removedBetweenPasses struct {
	storage.Catalog
	dir, victim vpath.Path
	firstPages  atomic.Int32
	stats       atomic.Int32
}

func (c *removedBetweenPasses) List(ctx context.Context, dir vpath.Path, after string, limit int) ([]storage.Entry, error) {
	if dir == c.dir && after == "" && c.firstPages.Add(1) == 2 {
		if err := c.Catalog.Remove(ctx, c.victim, storage.RemoveOptions{}); err != nil {
			return nil, err
		}
	}
	return c.Catalog.List(ctx, dir, after, limit)
}

func (c *removedBetweenPasses) Stat(ctx context.Context, p vpath.Path) (storage.Entry, error) {
	if !p.IsRoot() && p.Parent() == c.dir {
		c.stats.Add(1)
	}
	return c.Catalog.Stat(ctx, p)
}

func (c *removedBetweenPasses) StatIn(ctx context.Context, p vpath.Path) (storage.Entry, storage.Entry, error) {
	if !p.IsRoot() && p.Parent() == c.dir {
		c.stats.Add(1)
	}
	return c.Catalog.StatIn(ctx, p)
}

// TestPropfindWithAFileRemovedMidway: a file removed while a PROPFIND
// Depth 1 walks a big folder is left out, and the other entries still
// come from the windows read for the walk, not one query each.
func TestPropfindWithAFileRemovedMidway(t *testing.T) {
	const n = 2100 // more than two windows of storage.ListPageSize
	dir := vpath.MustParse("/acme/staff/big")
	cat := &removedBetweenPasses{dir: dir, victim: vpath.MustParse("/acme/staff/big/f00500.edi")}
	e := startWith(t, false, nil, func(c storage.Catalog) storage.Catalog { cat.Catalog = c; return cat })
	ctx := context.Background()
	if err := e.store.MkdirAll(ctx, dir, "admin"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		u, err := e.store.Create(ctx, vpath.MustParse(fmt.Sprintf("%s/f%05d.edi", dir, i)), storage.CreateOptions{By: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		u.Write([]byte("UNB+"))
		if _, err := u.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cat.stats.Store(0)
	req, _ := http.NewRequest("PROPFIND", e.url+"/acme/staff/big/", nil)
	req.SetBasicAuth("anna", password)
	req.Header.Set("Depth", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 207 {
		t.Fatalf("PROPFIND Depth 1: %d, %v", res.StatusCode, err)
	}
	body := string(b)
	if got := strings.Count(body, ".edi</D:href>"); got != n-1 {
		t.Errorf("%d files listed, want %d", got, n-1)
	}
	if strings.Contains(body, "f00500.edi") {
		t.Error("the removed file is listed")
	}
	if s := cat.stats.Load(); s > 5 {
		t.Errorf("%d single-entry reads for one removed file: the walk lost its windows", s)
	}
}
