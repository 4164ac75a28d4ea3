package authfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"pier/authfs"
	"pier/authz"
	"pier/db"
	"pier/identity"
	"pier/internal/testenv"
	"pier/storage"
	"pier/storage/diskblob"
	"pier/storage/sqlcatalog"
	"pier/vpath"
)

type world struct {
	db    *db.DB
	ids   *identity.Store
	store *storage.FS
	fs    *authfs.FS
}

// newWorld builds the brief's extranet: hq with hq-sales, partners acme
// (with acme-berlin) and globex; a drop box and an outbound folder for
// acme's EDI user; a staff group with read/write on /acme; a size- and
// pattern-limited drop box for globex.
func newWorld(t *testing.T, d *db.DB) *world {
	ctx := context.Background()
	blobs, err := diskblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{db: d, ids: identity.New(d), store: storage.New(sqlcatalog.New(d), blobs)}
	w.fs = authfs.New(authfs.DefaultConfig(), w.store, w.ids, nil, slog.New(slog.DiscardHandler))
	for _, o := range []identity.Org{{Slug: "hq", Kind: identity.Internal}, {Slug: "hq-sales", Parent: "hq"},
		{Slug: "acme"}, {Slug: "acme-berlin", Parent: "acme"}, {Slug: "globex"}} {
		if _, err := w.ids.AddOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"/hq", "/acme/inbound", "/acme/outbound", "/acme/secret", "/globex/inbound"} {
		if err := w.store.MkdirAll(ctx, vpath.MustParse(dir), "admin"); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []identity.User{{Login: "acme-edi", Org: "acme"}, {Login: "anna", Org: "hq-sales"},
		{Login: "globex-edi", Org: "globex"}, {Login: "sam", Org: "acme", Status: authz.StatusSuspended}} {
		if _, err := w.ids.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.ids.AddGroup(ctx, "staff", ""); err != nil {
		t.Fatal(err)
	}
	if err := w.ids.AddMember(ctx, "staff", authz.Subject{Kind: authz.OrgSubject, Name: "hq", Sub: true}); err != nil {
		t.Fatal(err)
	}
	w.grant(t, "user:acme-edi", "/acme/inbound", "create", nil, 0)
	w.grant(t, "user:acme-edi", "/acme/outbound", "list,read", nil, 0)
	w.grant(t, "user:sam", "/acme", "full", nil, 0)
	w.grant(t, "group:staff", "/acme", "list,read,create,overwrite,mkdir", nil, 0)
	w.grant(t, "user:globex-edi", "/globex/inbound", "create,list", []string{"*.edi", "*.xml"}, 1000)
	put(t, w.fs.Session(authfs.Principal{Login: "anna", Protocol: authz.WebDAV}), "/acme/outbound/po 1.edi", "ORDERS for acme")
	return w
}

func (w *world) grant(t *testing.T, to, path, perms string, allow []string, max int64) authz.Grant {
	t.Helper()
	sub, err := authz.ParseSubject(to)
	if err != nil {
		t.Fatal(err)
	}
	p, err := authz.ParsePerms(perms)
	if err != nil {
		t.Fatal(err)
	}
	g, err := w.ids.AddGrant(context.Background(), authz.Grant{Subject: sub, Path: vpath.MustParse(path), Perms: p, Allow: allow, MaxSize: max}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func put(t *testing.T, s *authfs.Session, path, body string) {
	t.Helper()
	if err := tryPut(s, path, body); err != nil {
		t.Fatalf("%s puts %s: %v", s.Login(), path, err)
	}
}

func tryPut(s *authfs.Session, path, body string) error {
	ctx := context.Background()
	u, err := s.Create(ctx, vpath.MustParse(path), authfs.CreateOptions{})
	if err != nil {
		return err
	}
	if _, err := io.Copy(u, bytes.NewBufferString(body)); err != nil {
		u.Abort()
		return err
	}
	_, err = u.Close()
	return err
}

func list(s *authfs.Session, path string) ([]string, error) {
	var names []string
	for e, err := range s.ReadDir(context.Background(), vpath.MustParse(path)) {
		if err != nil {
			return nil, err
		}
		names = append(names, e.Name())
	}
	return names, nil
}

func read(s *authfs.Session, path string) (string, error) {
	f, err := s.Open(context.Background(), vpath.MustParse(path))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

func is(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func backends(t *testing.T, fn func(t *testing.T, w *world)) {
	testenv.Databases(t, func(t *testing.T, d *db.DB) { fn(t, newWorld(t, d)) })
}

func TestDropBox(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		edi := w.fs.Session(authfs.Principal{Login: "acme-edi", Protocol: authz.SFTP})
		is(t, "upload into the drop box", tryPut(edi, "/acme/inbound/order 1.edi", "UNB+1"), nil)
		is(t, "upload its own file again (a retry)", tryPut(edi, "/acme/inbound/order 1.edi", "UNB+2"), nil)
		if names, err := list(edi, "/acme/inbound"); err != nil || !slices.Equal(names, []string{"order 1.edi"}) {
			t.Errorf("the drop box lists %v %v, want its own upload", names, err)
		}
		e, err := edi.Stat(ctx, vpath.MustParse("/acme/inbound/order 1.edi"))
		is(t, "stat its own upload (paramiko, rclone)", err, nil)
		if e.Size != 5 {
			t.Errorf("stat says %d bytes", e.Size)
		}
		_, err = read(edi, "/acme/inbound/order 1.edi")
		is(t, "read back from the drop box", err, fs.ErrPermission)
		_, err = edi.Stat(ctx, vpath.MustParse("/acme/inbound"))
		is(t, "stat the drop box folder", err, nil)
		is(t, "delete in the drop box", edi.Remove(ctx, vpath.MustParse("/acme/inbound/order 1.edi"), false), fs.ErrPermission)
		// WinSCP-style: upload to a temporary name, rename it, date it.
		put(t, edi, "/acme/inbound/order 2.edi.filepart", "UNB+3")
		is(t, "rename own upload", edi.Move(ctx, vpath.MustParse("/acme/inbound/order 2.edi.filepart"), vpath.MustParse("/acme/inbound/order 2.edi"), storage.NoReplace), nil)
		is(t, "date own upload", edi.SetModTime(ctx, vpath.MustParse("/acme/inbound/order 2.edi"), time.Unix(1577934245, 0)), nil)
		is(t, "rename own upload onto its own other upload", edi.Move(ctx, vpath.MustParse("/acme/inbound/order 2.edi"), vpath.MustParse("/acme/inbound/order 1.edi"), storage.ReplaceFile), nil)
		// The outbound folder is read-only for the partner.
		if got, err := read(edi, "/acme/outbound/po 1.edi"); err != nil || got != "ORDERS for acme" {
			t.Errorf("read outbound: %q %v", got, err)
		}
		if names, err := list(edi, "/acme/outbound"); err != nil || !slices.Equal(names, []string{"po 1.edi"}) {
			t.Errorf("list outbound: %v %v", names, err)
		}
		is(t, "upload to outbound", tryPut(edi, "/acme/outbound/x.edi", "x"), fs.ErrPermission)
		is(t, "move outbound file into the drop box", edi.Move(ctx, vpath.MustParse("/acme/outbound/po 1.edi"), vpath.MustParse("/acme/inbound/po.edi"), storage.NoReplace), fs.ErrPermission)
		// The staff see what the partner dropped.
		anna := w.fs.Session(authfs.Principal{Login: "anna", Protocol: authz.WebDAV})
		if got, err := read(anna, "/acme/inbound/order 1.edi"); err != nil || got != "UNB+3" {
			t.Errorf("staff read of the drop: %q %v", got, err)
		}
		if names, _ := list(anna, "/acme/inbound"); !slices.Equal(names, []string{"order 1.edi"}) {
			t.Errorf("staff listing %v", names)
		}
		// After the own-upload window, the uploader sees nothing of it.
		late := authfs.New(authfs.Config{OwnUploadFor: time.Nanosecond}, w.store, w.ids, nil, slog.New(slog.DiscardHandler))
		old := late.Session(authfs.Principal{Login: "acme-edi", Protocol: authz.SFTP})
		_, err = old.Stat(ctx, vpath.MustParse("/acme/inbound/order 1.edi"))
		is(t, "stat after the window", err, fs.ErrNotExist)
		if names, err := list(old, "/acme/inbound"); err != nil || len(names) != 0 {
			t.Errorf("the drop box lists %v %v after the window", names, err)
		}
	})
}

// A drop box never learns whether a name is taken: an upload to a name
// someone else's file holds succeeds as for a free name, and is kept
// beside that file as a conflict copy, which staff see and the uploader
// reaches under the name it used.
func TestSharedDropBox(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		w.upload(t, "/acme/inbound/order.edi", "someone else's order")
		edi := w.fs.Session(authfs.Principal{Login: "acme-edi", Protocol: authz.SFTP})
		for _, p := range []string{"/acme/inbound/order.edi", "/acme/inbound/free.edi"} {
			_, err := edi.Stat(ctx, vpath.MustParse(p))
			is(t, "stat "+p, err, fs.ErrNotExist)
			_, err = read(edi, p)
			is(t, "read "+p, err, fs.ErrNotExist)
		}
		is(t, "upload to the taken name", tryPut(edi, "/acme/inbound/order.edi", "my order"), nil)
		e, err := edi.Stat(ctx, vpath.MustParse("/acme/inbound/order.edi"))
		if err != nil || e.Size != int64(len("my order")) || e.Path.String() != "/acme/inbound/order.edi" {
			t.Fatalf("the uploader's stat: %+v %v", e, err)
		}
		is(t, "date it", edi.SetModTime(ctx, vpath.MustParse("/acme/inbound/order.edi"), time.Unix(1577934245, 0)), nil)
		if names, _ := list(edi, "/acme/inbound"); !slices.Equal(names, []string{"order.edi"}) {
			t.Errorf("the uploader lists %v", names)
		}
		// WinSCP: a temporary name, renamed onto the taken name.
		put(t, edi, "/acme/inbound/invoice.edi.filepart", "my invoice")
		w.upload(t, "/acme/inbound/invoice.edi", "someone else's invoice")
		is(t, "rename onto the taken name", edi.Move(ctx, vpath.MustParse("/acme/inbound/invoice.edi.filepart"), vpath.MustParse("/acme/inbound/invoice.edi"), storage.ReplaceFile), nil)

		anna := w.fs.Session(authfs.Principal{Login: "anna", Protocol: authz.WebDAV})
		for p, want := range map[string]string{"/acme/inbound/order.edi": "someone else's order", "/acme/inbound/invoice.edi": "someone else's invoice"} {
			if got, _ := read(anna, p); got != want {
				t.Errorf("%s reads %q: the drop box replaced someone else's file", p, got)
			}
		}
		names, _ := list(anna, "/acme/inbound")
		var copies []string
		for _, n := range names {
			if strings.Contains(n, "~acme-edi~") {
				copies = append(copies, n)
				if !strings.HasSuffix(n, ".edi") {
					t.Errorf("conflict copy %q lost its extension", n)
				}
			}
		}
		if len(copies) != 2 {
			t.Fatalf("staff see %v, want two conflict copies beside the originals", names)
		}
	})
}

func TestHiddenExistence(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		edi := w.fs.Session(authfs.Principal{Login: "acme-edi", Protocol: authz.SFTP})
		if names, err := list(edi, "/"); err != nil || !slices.Equal(names, []string{"acme"}) {
			t.Errorf("root listing for acme-edi: %v %v", names, err)
		}
		if names, err := list(edi, "/acme"); err != nil || !slices.Equal(names, []string{"inbound", "outbound"}) {
			t.Errorf("/acme listing for acme-edi: %v %v (secret must not show)", names, err)
		}
		for _, p := range []string{"/globex", "/globex/inbound", "/globex/nothing-here", "/hq", "/acme/secret", "/acme/secret/x"} {
			_, err := edi.Stat(ctx, vpath.MustParse(p))
			is(t, "stat "+p, err, fs.ErrNotExist)
			_, err = read(edi, p)
			is(t, "open "+p, err, fs.ErrNotExist)
			is(t, "create "+p, tryPut(edi, p+"/x.edi", "x"), fs.ErrNotExist)
			is(t, "mkdir "+p, edi.Mkdir(ctx, vpath.MustParse(p+"/d")), fs.ErrNotExist)
			is(t, "remove "+p, edi.Remove(ctx, vpath.MustParse(p), true), fs.ErrNotExist)
			_, err = list(edi, p)
			is(t, "list "+p, err, fs.ErrNotExist)
		}
		// An existing and a missing hidden name answer alike.
		is(t, "rename hidden existing", edi.Move(ctx, vpath.MustParse("/globex/inbound"), vpath.MustParse("/acme/inbound/x"), storage.NoReplace), fs.ErrNotExist)
		is(t, "rename hidden missing", edi.Move(ctx, vpath.MustParse("/globex/nope"), vpath.MustParse("/acme/inbound/x"), storage.NoReplace), fs.ErrNotExist)
		// A suspended user sees nothing at all, even with a full grant.
		sam := w.fs.Session(authfs.Principal{Login: "sam", Protocol: authz.SFTP})
		_, err := list(sam, "/acme")
		is(t, "suspended user lists", err, fs.ErrNotExist)
		_, err = read(sam, "/acme/outbound/po 1.edi")
		is(t, "suspended user reads", err, fs.ErrNotExist)
	})
}

func TestPatternsAndSize(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		g := w.fs.Session(authfs.Principal{Login: "globex-edi", Protocol: authz.SFTP})
		is(t, "allowed pattern", tryPut(g, "/globex/inbound/a.edi", string(make([]byte, 1000))), nil)
		is(t, "other allowed pattern, upper case", tryPut(g, "/globex/inbound/B.XML", "<x/>"), nil)
		is(t, "disallowed pattern", tryPut(g, "/globex/inbound/setup.exe", "MZ"), fs.ErrNotExist)
		is(t, "too large while streaming", tryPut(g, "/globex/inbound/big.edi", string(make([]byte, 1001))), storage.ErrTooLarge)
		if names, _ := list(g, "/globex/inbound"); !slices.Equal(names, []string{"B.XML", "a.edi"}) {
			t.Errorf("after the refused uploads the folder lists %v", names)
		}
		u, err := g.Create(context.Background(), vpath.MustParse("/globex/inbound/announced.edi"), authfs.CreateOptions{Size: 5000})
		is(t, "announced size over the limit", err, storage.ErrTooLarge)
		if u != nil {
			u.Abort()
		}
	})
}

func TestStaffAndPromptChanges(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		anna := w.fs.Session(authfs.Principal{Login: "anna", Protocol: authz.WebDAV})
		is(t, "staff mkdir", anna.Mkdir(ctx, vpath.MustParse("/acme/archive")), nil)
		is(t, "staff overwrite", tryPut(anna, "/acme/outbound/po 1.edi", "v2"), nil)
		w.upload(t, "/acme/outbound/po 2.edi", "by someone else")
		is(t, "staff delete without delete right", anna.Remove(ctx, vpath.MustParse("/acme/outbound/po 2.edi"), false), fs.ErrPermission)
		is(t, "staff rename without rename right", anna.Move(ctx, vpath.MustParse("/acme/outbound/po 2.edi"), vpath.MustParse("/acme/archive/po 2.edi"), storage.NoReplace), fs.ErrPermission)
		_, err := list(anna, "/globex")
		is(t, "staff on globex", err, fs.ErrNotExist)
		// An admin grants more: seen by the next operation.
		w.grant(t, "group:staff", "/acme", "delete,rename", nil, 0)
		is(t, "rename after the grant", anna.Move(ctx, vpath.MustParse("/acme/outbound/po 2.edi"), vpath.MustParse("/acme/archive/po 2.edi"), storage.NoReplace), nil)
		is(t, "delete after the grant", anna.Remove(ctx, vpath.MustParse("/acme/archive/po 2.edi"), false), nil)
		if _, err := w.ids.SetStatus(ctx, "anna", authz.StatusSuspended); err != nil {
			t.Fatal(err)
		}
		_, err = list(anna, "/acme")
		is(t, "after suspension", err, fs.ErrNotExist)
	})
}

// upload stores a file as the administrator would, outside any session.
func (w *world) upload(t *testing.T, path, body string) {
	t.Helper()
	u, err := w.store.Create(context.Background(), vpath.MustParse(path), storage.CreateOptions{By: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte(body))
	if _, err := u.Close(); err != nil {
		t.Fatal(err)
	}
}
