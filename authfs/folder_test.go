package authfs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"pier/authfs"
	"pier/authz"
	"pier/identity"
	"pier/locks"
	"pier/storage"
	"pier/vpath"
)

// Folder actions are decided for everything they touch: a deny pattern
// that hides files from a user also keeps a folder delete, move or copy
// from touching them, and the refusal changes nothing.
func TestFolderActionsObeyTheDecision(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		addTess(t, w)
		sub, _ := authz.ParseSubject("user:tess")
		if _, err := w.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/acme"), Perms: authz.Full, Deny: []string{"*.exe"}}, "t"); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"/acme/tools/bin", "/acme/docs"} {
			if err := w.store.MkdirAll(ctx, vpath.MustParse(d), "admin"); err != nil {
				t.Fatal(err)
			}
		}
		w.upload(t, "/acme/tools/readme.txt", "read me")
		w.upload(t, "/acme/tools/bin/setup.exe", "MZ")
		w.upload(t, "/acme/docs/a.txt", "a")
		tess := w.fs.Session(authfs.Principal{Login: "tess", Protocol: authz.WebDAV})
		if names, _ := list(tess, "/acme/tools/bin"); len(names) != 0 {
			t.Fatalf("tess sees %v in bin; the deny pattern should hide setup.exe", names)
		}

		is(t, "delete a folder holding a hidden program", tess.Remove(ctx, vpath.MustParse("/acme/tools"), true), fs.ErrPermission)
		is(t, "move it", tess.Move(ctx, vpath.MustParse("/acme/tools"), vpath.MustParse("/acme/docs/tools"), storage.NoReplace), fs.ErrPermission)
		is(t, "copy it", tess.Copy(ctx, vpath.MustParse("/acme/tools"), vpath.MustParse("/acme/docs/tools"), storage.NoReplace, false), fs.ErrPermission)
		is(t, "replace it by a move", tess.Move(ctx, vpath.MustParse("/acme/docs"), vpath.MustParse("/acme/tools"), storage.ReplaceAny), fs.ErrPermission)
		if _, err := w.store.Stat(ctx, vpath.MustParse("/acme/tools/bin/setup.exe")); err != nil {
			t.Fatalf("the hidden program is gone: %v", err)
		}
		if _, err := w.store.Stat(ctx, vpath.MustParse("/acme/docs/a.txt")); err != nil {
			t.Fatalf("a refused replace changed its source: %v", err)
		}

		// Without the program, the same actions work, each in one step.
		if err := w.store.Remove(ctx, vpath.MustParse("/acme/tools/bin/setup.exe"), storage.RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		is(t, "copy", tess.Copy(ctx, vpath.MustParse("/acme/tools"), vpath.MustParse("/acme/docs/tools"), storage.NoReplace, false), nil)
		is(t, "replace by a move", tess.Move(ctx, vpath.MustParse("/acme/docs/tools"), vpath.MustParse("/acme/tools"), storage.ReplaceAny), nil)
		is(t, "delete", tess.Remove(ctx, vpath.MustParse("/acme/tools"), true), nil)
		if names, _ := list(tess, "/acme/docs"); !slices.Equal(names, []string{"a.txt"}) {
			t.Fatalf("/acme/docs: %v", names)
		}
	})
}

// addTess adds a contractor with full rights on /acme but for programs.
func addTess(t *testing.T, w *world) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.ids.AddOrg(ctx, identity.Org{Slug: "contractors"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ids.AddUser(ctx, identity.User{Login: "tess", Org: "contractors"}); err != nil {
		t.Fatal(err)
	}
}

// A folder of 10,000 files below a grant with a deny pattern is decided
// in one pass over one query, within the delete's transaction.
func TestLargeFolderDelete(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		addTess(t, w)
		sub, _ := authz.ParseSubject("user:tess")
		if _, err := w.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/acme"), Perms: authz.Full, Deny: []string{"*.exe"}}, "t"); err != nil {
			t.Fatal(err)
		}
		seed(t, w, "/acme/big", 10_000)
		tess := w.fs.Session(authfs.Principal{Login: "tess", Protocol: authz.WebDAV})
		start := time.Now()
		is(t, "delete 10,000 entries", tess.Remove(ctx, vpath.MustParse("/acme/big"), true), nil)
		t.Logf("decided and deleted 10,100 entries in %v", time.Since(start))
	})
}

// seed makes n empty files in 100 folders below dir, through the catalog
// alone (the content does not matter to a decision).
func seed(t *testing.T, w *world, dir string, n int) {
	t.Helper()
	ctx := context.Background()
	if err := w.store.MkdirAll(ctx, vpath.MustParse(dir), "admin"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := w.store.Mkdir(ctx, vpath.MustParse(fmt.Sprintf("%s/d%d", dir, i)), storage.MkdirOptions{By: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	u, err := w.store.Create(ctx, vpath.MustParse(dir+"/seed.txt"), storage.CreateOptions{By: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("x"))
	if _, err := u.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		from := vpath.MustParse(dir + "/seed.txt")
		if err := w.store.Copy(ctx, from, vpath.MustParse(fmt.Sprintf("%s/d%d/f%d", dir, i%100, i)), storage.MoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// racingLocks publishes a file at a path the moment a move asks whether it
// is locked: after the move's first decision, before its transaction.
type racingLocks struct {
	authfs.Locks
	at      vpath.Path
	once    sync.Once
	publish func()
}

// Idle says "not idle": every check asks Blocked.
func (r *racingLocks) Idle(context.Context, time.Time) bool { return false }

func (r *racingLocks) Blocked(ctx context.Context, login string, p vpath.Path, below bool) (bool, error) {
	if p == r.at {
		r.once.Do(r.publish)
	}
	return false, nil
}

// A user who may create but not overwrite never replaces a file that was
// published between a check and the rename: the rename decides inside its
// transaction, on the target as it is then. A drop box keeps its file
// beside the newcomer; staff who see the newcomer are refused.
func TestRenameDecidesOnTheTargetAsItIs(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		addTess(t, w)
		if _, err := w.ids.AddUser(ctx, identity.User{Login: "cleo", Org: "contractors"}); err != nil {
			t.Fatal(err)
		}
		sub, _ := authz.ParseSubject("user:cleo")
		if _, err := w.ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/acme/staff"), Perms: authz.Full &^ authz.PermOverwrite}, "t"); err != nil {
			t.Fatal(err)
		}
		w.store.MkdirAll(ctx, vpath.MustParse("/acme/staff"), "admin")
		for _, c := range []struct {
			login, dir string
			conflict   bool
		}{{"acme-edi", "/acme/inbound", true}, {"cleo", "/acme/staff", false}} {
			target := vpath.MustParse(c.dir + "/order.edi")
			rl := &racingLocks{at: target, publish: func() { w.upload(t, target.String(), "someone else's order") }}
			afs := authfs.New(authfs.DefaultConfig(), w.store, w.ids, rl, slog.New(slog.DiscardHandler))
			s := afs.Session(authfs.Principal{Login: c.login, Protocol: authz.SFTP})
			put(t, s, c.dir+"/order.edi.filepart", "my order")
			err := s.Move(ctx, vpath.MustParse(c.dir+"/order.edi.filepart"), target, storage.ReplaceFile)
			if c.conflict && err != nil || !c.conflict && !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("%s: %v", c.login, err)
			}
			if got := w.content(t, target.String()); got != "someone else's order" {
				t.Fatalf("%s replaced a file published meanwhile: it reads %q", c.login, got)
			}
		}
	})
}

func (w *world) content(t *testing.T, p string) string {
	t.Helper()
	f, err := w.store.Open(context.Background(), vpath.MustParse(p))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	return string(b)
}

// A session belongs to the account it logged in to, from its address,
// with its key: taking any of them away ends its rights at once.
func TestSessionsAreBoundToTheAccount(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		u, err := w.ids.GetUser(ctx, "acme-edi")
		if err != nil {
			t.Fatal(err)
		}
		key := identity.Key{Fingerprint: "SHA256:test-key", Type: "ssh-ed25519", PublicKey: "AAAA"}
		if _, err := w.ids.AddKey(ctx, "acme-edi", key); err != nil {
			t.Fatal(err)
		}
		from := netip.MustParseAddr("192.0.2.7")
		bound := func(k string) *authfs.Session {
			return w.fs.Session(authfs.Principal{Login: "acme-edi", Protocol: authz.SFTP,
				Bind: authz.Session{UserID: u.ID, From: from, Key: k}})
		}
		works := func(what string, s *authfs.Session, want bool) {
			t.Helper()
			_, err := read(s, "/acme/outbound/po 1.edi")
			alive := s.Alive(ctx)
			if want && (err != nil || alive != nil) || !want && (!errors.Is(err, fs.ErrNotExist) || !errors.Is(alive, authfs.ErrRevoked)) {
				t.Fatalf("%s: read %v, alive %v; want working=%v", what, err, alive, want)
			}
		}
		works("with its key", bound(key.Fingerprint), true)
		if err := w.ids.RemoveKey(ctx, "acme-edi", key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		works("after its key was removed", bound(key.Fingerprint), false)
		works("a password session", bound(""), true)

		if _, err := w.ids.UpdateUser(ctx, "acme-edi", func(u *identity.User) error {
			u.CIDRs = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		works("after its networks changed", bound(""), false)
		if _, err := w.ids.UpdateUser(ctx, "acme-edi", func(u *identity.User) error { u.CIDRs = nil; return nil }); err != nil {
			t.Fatal(err)
		}
		works("networks lifted", bound(""), true)

		if _, err := w.ids.UpdateUser(ctx, "acme-edi", func(u *identity.User) error {
			u.Expires = time.Now().Add(-time.Minute)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		works("expired", bound(""), false)

		// Deleted, then a different person gets the same login.
		if err := w.ids.DeleteUser(ctx, "acme-edi"); err != nil {
			t.Fatal(err)
		}
		works("deleted", bound(""), false)
		if _, err := w.ids.AddUser(ctx, identity.User{Login: "acme-edi", Org: "acme"}); err != nil {
			t.Fatal(err)
		}
		w.grant(t, "user:acme-edi", "/acme/outbound", "list,read", nil, 0)
		works("a new account with the old login", bound(""), false)
	})
}

// A lock taken on another node holds against an upload that this node
// let start because it had seen no live lock within the last second: the
// upload is refused when it would be published, and the file keeps its
// content.
func TestLockFromAnotherNodeStopsUpload(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		if _, err := w.ids.AddUser(ctx, identity.User{Login: "bert", Org: "hq"}); err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		nodeA := authfs.New(authfs.DefaultConfig(), w.store, w.ids, locks.New(w.db), log)
		nodeB := authfs.New(authfs.DefaultConfig(), w.store, w.ids, locks.New(w.db), log)
		anna := nodeB.Session(authfs.Principal{Login: "anna", Protocol: authz.WebDAV})
		put(t, anna, "/acme/outbound/prices.edi", "v1") // node B looks: no lock anywhere
		bert := nodeA.Session(authfs.Principal{Login: "bert", Protocol: authz.WebDAV})
		if _, _, err := bert.Lock(ctx, vpath.MustParse("/acme/outbound/prices.edi"), authfs.LockRequest{ZeroDepth: true}); err != nil {
			t.Fatal(err)
		}
		u, err := anna.Create(ctx, vpath.MustParse("/acme/outbound/prices.edi"), authfs.CreateOptions{})
		if err == nil {
			t.Log("node B let the upload start (it saw no lock within the last second)")
			u.Write([]byte("v2"))
			_, err = u.Close()
		}
		if !errors.Is(err, authfs.ErrLocked) {
			t.Fatalf("upload over a lock taken on another node: %v", err)
		}
		if got, err := read(anna, "/acme/outbound/prices.edi"); err != nil || got != "v1" {
			t.Fatalf("the locked file reads %q, %v", got, err)
		}
	})
}
