package audit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pier/audit"
	"pier/db"
	"pier/internal/testenv"
)

func backends(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	testenv.Databases(t, fn)
}

// filled returns a log of n records (sequenced, checkpointed every 10).
func filled(t *testing.T, d *db.DB, n int, out *bytes.Buffer) *audit.Log {
	t.Helper()
	ctx := context.Background()
	keys, err := audit.LoadKeys(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer
	if out != nil {
		w = out
	}
	l := audit.New(d, keys, w, slog.New(slog.DiscardHandler))
	for i := range n {
		r := audit.Record{Time: time.Unix(1_800_000_000+int64(i), 0), Actor: "acme-edi", ActorOrg: "acme", Action: audit.Upload,
			Path: fmt.Sprintf("/acme/inbound/order-%d.edi", i), Size: int64(i), Protocol: "sftp"}
		if i%3 == 0 {
			r.Actor, r.ActorOrg, r.Action, r.Path = "anna", "hq", audit.Download, "/hq/doc.pdf"
		}
		if err := l.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			for {
				if k, err := l.Sequence(ctx); err != nil {
					t.Fatal(err)
				} else if k == 0 {
					break
				}
			}
			if _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return l
}

func verify(t *testing.T, l *audit.Log) audit.Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestLogVerifies(t *testing.T) {
	backends(t, func(t *testing.T, d *db.DB) {
		var out bytes.Buffer
		l := filled(t, d, 50, &out)
		rep := verify(t, l)
		if !rep.OK() || rep.Records != 50 || rep.Checkpoints != 5 {
			t.Fatalf("report %+v", rep)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 50 || !strings.HasPrefix(lines[49], `{"seq":49,"time":`) {
			t.Fatalf("JSON lines: %d, last %q", len(lines), lines[len(lines)-1])
		}
		// Searching, by actor, organisation, path and action.
		ctx := context.Background()
		got, err := l.Search(ctx, audit.Query{Orgs: []string{"acme"}, Action: audit.Upload, After: -1})
		if err != nil || len(got) != 33 {
			t.Fatalf("acme's uploads: %d %v", len(got), err)
		}
		got, _ = l.Search(ctx, audit.Query{Actor: "anna", Path: "/hq", After: -1, Limit: 5})
		if len(got) != 5 || got[0].Record.Path != "/hq/doc.pdf" || got[0].Seq != 0 {
			t.Fatalf("anna's first 5: %+v", got)
		}
		got, _ = l.Search(ctx, audit.Query{Orgs: []string{"globex"}, After: -1})
		if len(got) != 0 {
			t.Fatalf("globex sees %d records", len(got))
		}
		got, _ = l.Search(ctx, audit.Query{Path: "/acme/inbound/order-1' OR '1'='1", After: -1})
		if len(got) != 0 {
			t.Fatalf("a quote in a search: %d records", len(got))
		}
	})
}

// Records changed directly in SQL are found and named.
func TestTamperingIsFound(t *testing.T) {
	cases := []struct {
		name   string
		sql    []string
		record int64
		says   string
	}{
		{"a record edited", []string{`UPDATE audit_log SET data = REPLACE(data, 'order-17', 'order-99') WHERE seq = 17`}, 17, "does not match its hash"},
		{"a record deleted", []string{`DELETE FROM audit_log WHERE seq = 23`}, 23, "missing"},
		{"two records swapped", []string{
			`UPDATE audit_log SET seq = -1 WHERE seq = 30`,
			`UPDATE audit_log SET seq = 30 WHERE seq = 31`,
			`UPDATE audit_log SET seq = 31 WHERE seq = -1`}, 30, "does not match its hash"},
		{"the last records dropped", []string{`DELETE FROM audit_log WHERE seq >= 45`}, 45, "missing"},
		{"a record and its hashes rewritten", nil, 10, "one of records 10 to 19 was changed"},
		{"a checkpoint forged", []string{`UPDATE audit_checkpoints SET note = REPLACE(note, 'pier audit log', 'pier audit log ') WHERE size = 30`}, 29, "signature"},
	}
	backends(t, func(t *testing.T, d *db.DB) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ctx := context.Background()
				var sub *db.DB = d
				if d.Dialect == db.SQLite {
					var err error
					if sub, err = db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "pier.db")); err != nil {
						t.Fatal(err)
					}
					defer sub.Close()
				} else {
					sub = testenv.Postgres(t)
				}
				l := filled(t, sub, 50, nil)
				for _, q := range c.sql {
					if _, err := sub.Exec(ctx, q); err != nil {
						t.Fatal(err)
					}
				}
				if c.sql == nil {
					rewrite(t, sub, 12)
				}
				rep := verify(t, l)
				if rep.OK() || rep.BadRecord != c.record || !strings.Contains(rep.Bad, c.says) {
					t.Fatalf("report %+v; want record %d, %q", rep, c.record, c.says)
				}
				t.Log(rep.Bad)
			})
		}
	})
}

// rewrite edits record seq and recomputes every stored hash, as an
// attacker with the database but not the signing key would: only the
// signed checkpoints tell.
func rewrite(t *testing.T, d *db.DB, seq int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Exec(ctx, `UPDATE audit_log SET data = REPLACE(data, 'doc.pdf', 'dog.pdf') WHERE seq = ?`, seq); err != nil {
		t.Fatal(err)
	}
	if err := audit.Rehash(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// A proof checks offline with the public key only; a proof for an edited
// record, or with another key, does not.
func TestProof(t *testing.T) {
	backends(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := filled(t, d, 25, nil)
		p, err := l.Prove(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		pub := l.PublicKey()
		r, size, err := audit.CheckProof(p.Format(), pub)
		if err != nil || r.Path != "/acme/inbound/order-7.edi" || size != 20 {
			t.Fatalf("checked: %+v %d %v", r, size, err)
		}
		lines := strings.Split(p.Format(), "\n")
		rec, _ := base64.StdEncoding.DecodeString(lines[2])
		lines[2] = base64.StdEncoding.EncodeToString(bytes.Replace(rec, []byte("order-7"), []byte("order-8"), 1))
		if _, _, err := audit.CheckProof(strings.Join(lines, "\n"), pub); err == nil {
			t.Fatal("a proof of an edited record checked")
		}
		other, _ := audit.LoadKeys(t.TempDir(), "")
		if _, _, err := audit.CheckProof(p.Format(), other.Public); err == nil {
			t.Fatal("a proof checked with another key")
		}
		if _, err := l.Prove(ctx, 22); err == nil {
			t.Fatal("a record beyond every checkpoint proved")
		}
	})
}

// Pruned records leave the log verifiable.
func TestPrune(t *testing.T) {
	backends(t, func(t *testing.T, d *db.DB) {
		l := filled(t, d, 40, nil)
		n, err := l.Prune(context.Background(), time.Unix(1_800_000_020, 0))
		if err != nil || n != 20 {
			t.Fatalf("pruned %d %v", n, err)
		}
		rep := verify(t, l)
		if !rep.OK() || rep.Pruned != 20 || rep.Records != 40 {
			t.Fatalf("after pruning: %+v", rep)
		}
		if _, err := l.Prove(context.Background(), 25); err != nil {
			t.Fatalf("a kept record after pruning: %v", err)
		}
	})
}

// TestLargeBatches: 1,203 records waiting at once are sequenced in
// batches of up to 500, whose Merkle hashes (about a thousand per batch)
// go in several multi-row statements; the log verifies, every record once.
func TestLargeBatches(t *testing.T) {
	backends(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		keys, err := audit.LoadKeys(t.TempDir(), "")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		l := audit.New(d, keys, &out, slog.New(slog.DiscardHandler))
		const n = 1203
		for i := range n {
			if err := l.Record(ctx, audit.Record{Time: time.Unix(1_800_000_000+int64(i), 0), Actor: "acme-edi", ActorOrg: "acme",
				Action: audit.Upload, Path: fmt.Sprintf("/acme/inbound/%d.edi", i), Protocol: "sftp"}); err != nil {
				t.Fatal(err)
			}
		}
		var batches []int
		for {
			k, err := l.Sequence(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				break
			}
			batches = append(batches, k)
		}
		if !slices.Equal(batches, []int{500, 500, 203}) {
			t.Fatalf("batches %v, want 500, 500, 203", batches)
		}
		if _, err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, l); !rep.OK() || rep.Records != n {
			t.Fatalf("report %+v", rep)
		}
		var hashes int
		if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM audit_hashes").Scan(&hashes); err != nil {
			t.Fatal(err)
		}
		if want := 2*n - bits.OnesCount(uint(n)); hashes != want { // tlog stores 2n - popcount(n) hashes for n records
			t.Fatalf("%d stored hashes, want %d", hashes, want)
		}
		if lines := strings.Count(out.String(), "\n"); lines != n {
			t.Fatalf("%d JSON lines, want %d", lines, n)
		}
	})
}
