package authfs_test

import (
	"context"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"pier/audit"
	"pier/authfs"
	"pier/authz"
	"pier/storage"
	"pier/vpath"
)

// records sequences the inbox and returns every record, oldest first.
func records(t *testing.T, l *audit.Log) []audit.Record {
	t.Helper()
	ctx := context.Background()
	for {
		n, err := l.Sequence(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	found, err := l.Search(ctx, audit.Query{After: -1, Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for _, f := range found {
		out = append(out, f.Record)
	}
	return out
}

func actions(rs []audit.Record, actor string) []string {
	var out []string
	for _, r := range rs {
		if r.Actor == actor {
			out = append(out, r.Action+" "+r.Path+strings.TrimPrefix(" → "+r.To, " → ")+" "+r.Outcome)
		}
	}
	return out
}

// Every file action of a session is recorded — changes in their own
// transaction — with who, what and the outcome.
func TestFileActionsAreAudited(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		keys, err := audit.LoadKeys(t.TempDir(), "")
		if err != nil {
			t.Fatal(err)
		}
		log := audit.New(w.db, keys, nil, slog.New(slog.DiscardHandler))
		afs := w.fs.WithAudit(log)
		records(t, log) // the world's set-up
		start := len(records(t, log))
		anna := afs.Session(authfs.Principal{Login: "anna", Protocol: authz.WebDAV})
		put(t, anna, "/acme/outbound/price list.pdf", "prices")
		is(t, "mkdir", anna.Mkdir(ctx, vpath.MustParse("/acme/outbound/2026")), nil)
		if got, err := read(anna, "/acme/outbound/price list.pdf"); err != nil || got != "prices" {
			t.Fatal(got, err)
		}
		is(t, "rename", anna.Move(ctx, vpath.MustParse("/acme/outbound/price list.pdf"), vpath.MustParse("/acme/outbound/2026/p.pdf"), storage.NoReplace), nil)
		edi := afs.Session(authfs.Principal{Login: "acme-edi", Protocol: authz.SFTP})
		_, err = read(edi, "/globex/inbound/secret.edi")
		is(t, "a hidden path", err, fs.ErrNotExist)
		all := records(t, log)[start:]
		got := actions(all, "anna")
		want := []string{"upload /acme/outbound/price list.pdf ok", "mkdir /acme/outbound/2026 ok", "download /acme/outbound/price list.pdf ok",
			"rename /acme/outbound/price list.pdf/acme/outbound/2026/p.pdf ok"}
		if !slices.Equal(got, want) {
			t.Errorf("anna's records:\n%q\nwant\n%q", got, want)
		}
		up := all[0]
		if up.SHA256 == "" || up.Size != 6 || up.ActorOrg != "hq-sales" || up.Protocol != "webdav" {
			t.Errorf("the upload's record: %+v", up)
		}
		denied := actions(all, "acme-edi")
		if len(denied) != 1 || !strings.HasPrefix(denied[0], "denied /globex/inbound/secret.edi denied") {
			t.Errorf("acme-edi's records: %q", denied)
		}
		// The refusal names the actor's organisation: acme's administrators
		// see their user probing globex.
		for _, r := range all {
			if r.Actor == "acme-edi" && r.ActorOrg != "acme" {
				t.Errorf("the refusal's record: %+v", r)
			}
		}
	})
}

// A publish that fails leaves no record; a record without its change, or a
// change without its record, cannot be.
func TestNoRecordWithoutItsChange(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		keys, _ := audit.LoadKeys(t.TempDir(), "")
		log := audit.New(w.db, keys, nil, slog.New(slog.DiscardHandler))
		before := len(records(t, log))
		edi := w.fs.Session(authfs.Principal{Login: "acme-edi", Protocol: authz.SFTP})
		up, err := edi.Create(context.Background(), vpath.MustParse("/acme/inbound/x.edi"), authfs.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		up.Write([]byte("UNB"))
		// Make the publish fail: the folder goes away meanwhile.
		if err := w.store.Remove(context.Background(), vpath.MustParse("/acme/inbound"), storage.RemoveOptions{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := up.Close(); err == nil {
			t.Fatal("a publish into a deleted folder succeeded")
		}
		for _, r := range records(t, log)[before:] {
			if r.Action == audit.Upload {
				t.Fatalf("a failed upload was recorded: %+v", r)
			}
		}
	})
}
