package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pier/db"
	"pier/internal/testenv"
)

// The audit trail from the command line: admin changes and file operations
// are recorded with their actor; the log verifies; a record's proof checks
// with the separate verifier and the public key alone; a record edited in
// SQL is named.
func TestAuditTrailFromCLI(t *testing.T) {
	t.Run("sqlite+disk", func(t *testing.T) { testAuditTrail(t, nil) })
	t.Run("postgres+s3", func(t *testing.T) {
		testAuditTrail(t, []string{"PIER_DB=" + testenv.PostgresURL(t), "PIER_STORAGE=" + testenv.S3URL(t)})
	})
}

func testAuditTrail(t *testing.T, env []string) {
	a := newAdm(t, env)
	a.ok("org", "add", "acme")
	a.ok("user", "add", "acme-edi", "--org", "acme", "--generate-password")
	a.ok("grant", "add", "--to", "user:acme-edi", "--path", "/acme", "--perms", "readonly")
	local := filepath.Join(a.dir, "order.edi")
	os.WriteFile(local, []byte("UNB+1"), 0o600)
	a.ok("files", "put", local, "/acme/order.edi")
	a.ok("user", "suspend", "acme-edi")

	out := a.ok("audit", "verify")
	if !strings.HasPrefix(out, "audit log intact: 5 records (0 pruned), 1 signed checkpoints") {
		t.Fatalf("verify: %q", out)
	}
	var rows []struct {
		Seq    int64 `json:"seq"`
		Record struct {
			Actor, Action, Op, Subject, Path, SHA256 string
			Before, After                            json.RawMessage
		} `json:"record"`
	}
	if err := json.Unmarshal([]byte(a.ok("audit", "search", "--json")), &rows); err != nil || len(rows) != 5 {
		t.Fatalf("search: %v %d", err, len(rows))
	}
	ops := []string{}
	for _, r := range rows {
		if !strings.HasPrefix(r.Record.Actor, "cli:") {
			t.Errorf("record %d by %q, want the OS user", r.Seq, r.Record.Actor)
		}
		ops = append(ops, r.Record.Action+":"+r.Record.Op)
	}
	if got := strings.Join(ops, " "); got != "admin:org.add admin:user.add admin:grant.add upload: admin:user.update" {
		t.Errorf("records: %s", got)
	}
	suspend := rows[4].Record
	compact := func(m json.RawMessage) string {
		var b bytes.Buffer
		json.Compact(&b, m)
		return b.String()
	}
	if !strings.Contains(compact(suspend.Before), `"status":"active"`) || !strings.Contains(compact(suspend.After), `"status":"suspended"`) {
		t.Errorf("the suspension's before and after: %s → %s", suspend.Before, suspend.After)
	}
	for _, r := range rows {
		if strings.Contains(string(r.Record.After), "argon2") || strings.Contains(string(r.Record.Before), "argon2") {
			t.Fatal("a password hash reached the audit trail")
		}
	}
	if rows[3].Record.Path != "/acme/order.edi" || rows[3].Record.SHA256 == "" {
		t.Errorf("the upload's record: %+v", rows[3].Record)
	}

	// A proof of the upload, checked by pierproof with the public key only.
	proof := filepath.Join(a.dir, "proof.txt")
	os.WriteFile(proof, []byte(a.ok("audit", "prove", "3")), 0o600)
	key := strings.TrimSpace(a.ok("audit", "key"))
	verifier := filepath.Join(t.TempDir(), "pierproof")
	if b, err := exec.Command("go", "build", "-o", verifier, "pier/cmd/pierproof").CombinedOutput(); err != nil {
		t.Fatalf("build pierproof: %v\n%s", err, b)
	}
	got, err := exec.Command(verifier, "-key", key, proof).CombinedOutput()
	if err != nil || !strings.Contains(string(got), "verified: this record is in the audit log of 5 records") || !strings.Contains(string(got), "/acme/order.edi") {
		t.Fatalf("pierproof: %v\n%s", err, got)
	}
	otherKey := "pier-audit+00000000+AcTfQ2Xp1a7k5XuVjS2mV9oQ6f2rTtHq0dQ7nE4YcJmA"
	if got, err := exec.Command(verifier, "-key", otherKey, proof).CombinedOutput(); err == nil {
		t.Fatalf("pierproof accepted another key:\n%s", got)
	}

	// Edited in SQL: verify names the record and fails.
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(a.dir, "pier-data", "pier.db")
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PIER_DB="); ok {
			dsn = v
		}
	}
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(ctx, `UPDATE audit_log SET data = REPLACE(data, 'suspended', 'active') WHERE seq = 4`); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := a.run("", "audit", "verify")
	if code != 1 || !strings.Contains(stderr, "record 4 does not match its hash") {
		t.Fatalf("verify after an edit: exit %d: %s%s", code, out, stderr)
	}
}
