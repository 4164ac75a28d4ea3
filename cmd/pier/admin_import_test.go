package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportCSV imports users from CSV: valid rows go in, invalid rows are
// reported as "row N: field: message" and skipped, a re-run changes
// nothing, --dry-run writes nothing and a password column is refused.
func TestImportCSV(t *testing.T) {
	a := newAdm(t, nil)
	a.ok("org", "add", "hq", "--kind", "internal")
	a.ok("org", "add", "acme")
	a.ok("group", "add", "staff")
	a.ok("group", "add", "edi")
	_, key := sshKey(t, "carl@acme")
	dir := t.TempDir()
	file := filepath.Join(dir, "users.csv")
	rows := []string{
		"login,name,email,org,role,groups,key,status",
		"carl,Carl Meyer,carl@acme.example,acme,buyer,edi," + key + ",", // row 2
		"Dora,Dora Lind,dora@hq.example,hq,,staff;edi,,",                // row 3
		"erik,Erik,erik@hq.example,hq,,,,suspended",                     // row 4
		"fay,Fay,fay-at-hq,hq,,,,",                                      // row 5: bad email
		"gus,Gus,gus@x.example,nowhere,,,,",                             // row 6: unknown org
		"hal,Hal,hal@hq.example,hq,,ghosts,,",                           // row 7: unknown group
		"dora,Dora Again,dora2@hq.example,hq,,,,",                       // row 8: duplicate login
		"ivy,Ivy,ivy@hq.example,hq,,,ssh-rsa AAAAnotakey,",              // row 9: bad key
	}
	os.WriteFile(file, []byte(strings.Join(rows, "\n")+"\n"), 0o600)
	wantFailures := []string{
		"row 5: email: \"fay-at-hq\" is not an e-mail address",
		"row 6: org: organisation \"nowhere\" not found",
		"row 7: groups: group \"ghosts\" not found",
		"row 8: login: \"dora\" repeats the login of row 3 (logins ignore case)",
		"row 9: key: not an SSH public key",
	}
	importRun := func(wantSummary string, args ...string) string {
		t.Helper()
		out, stderr, code := a.run("", append([]string{"user", "import", file}, args...)...)
		if code != 1 || !strings.Contains(stderr, "5 of 8 rows failed") || !strings.Contains(out, wantSummary) {
			t.Fatalf("import %q: exit %d, stderr %q, output:\n%s\nwant exit 1 and %q", args, code, stderr, out, wantSummary)
		}
		for _, w := range wantFailures {
			if !strings.Contains(out, w) {
				t.Errorf("import %q does not report %q:\n%s", args, w, out)
			}
		}
		return out
	}

	before := snapshotUsers(a)
	out := importRun("3 created, 0 updated, 0 unchanged, 5 failed", "--dry-run")
	if !strings.Contains(out, "dry run: nothing was written") || snapshotUsers(a) != before {
		t.Fatalf("--dry-run wrote something:\n%s", snapshotUsers(a))
	}

	out = importRun("3 created, 0 updated, 0 unchanged, 5 failed")
	if !strings.Contains(out, "pier user passwd LOGIN --generate") {
		t.Errorf("no hint for the pending users without a key:\n%s", out)
	}
	checkImported(t, a)

	after := snapshotUsers(a)
	importRun("0 created, 0 updated, 3 unchanged, 5 failed")
	if snapshotUsers(a) != after {
		t.Errorf("a second import changed the store")
	}

	rows[2] = "dora,Dora Lind,dora@hq.example,hq,lead,staff,," // role added, left edi
	os.WriteFile(file, []byte(strings.Join(rows, "\n")+"\n"), 0o600)
	out = importRun("0 created, 1 updated, 2 unchanged, 5 failed")
	if !strings.Contains(out, "row 3: dora updated (role, groups)") {
		t.Errorf("update not reported:\n%s", out)
	}
	var groups []struct {
		Name    string
		Members []string
	}
	json.Unmarshal([]byte(a.ok("group", "list", "--json")), &groups)
	if len(groups) != 2 || strings.Join(groups[0].Members, " ") != "user:carl" || strings.Join(groups[1].Members, " ") != "user:dora" {
		t.Errorf("memberships after the update: %+v", groups)
	}

	refused := filepath.Join(dir, "passwords.csv")
	os.WriteFile(refused, []byte("login,name,email,org,role,groups,password\njan,Jan,jan@hq.example,hq,,,Secret-Secret-123\n"), 0o600)
	before = snapshotUsers(a)
	_, stderr, code := a.run("", "user", "import", refused)
	if code != 1 || !strings.Contains(stderr, `column "password" is refused`) || strings.Contains(stderr, "Secret-Secret") {
		t.Errorf("password column: exit %d, %q", code, stderr)
	}
	if snapshotUsers(a) != before {
		t.Error("a file with a password column imported something")
	}
}

// checkImported checks the users the first import made.
func checkImported(t *testing.T, a adm) {
	t.Helper()
	for login, want := range map[string]string{
		"carl": `"status": "active"`, "dora": `"status": "pending"`, "erik": `"status": "suspended"`,
	} {
		out := a.ok("user", "show", login, "--json")
		if !strings.Contains(out, want) || !strings.Contains(out, `"password": "none"`) {
			t.Errorf("user %s after import:\n%s", login, out)
		}
	}
	if out := a.ok("user", "show", "carl", "--json"); !strings.Contains(out, `"keys": 1`) || !strings.Contains(out, `"role": "buyer"`) {
		t.Errorf("carl after import:\n%s", out)
	}
	if out := a.ok("user", "show", "dora", "--json"); !strings.Contains(out, `"edi",`) || !strings.Contains(out, `"staff"`) {
		t.Errorf("dora's groups after import:\n%s", out)
	}
}

func snapshotUsers(a adm) string {
	a.t.Helper()
	return a.ok("user", "list", "--json") + a.ok("group", "list", "--json")
}
