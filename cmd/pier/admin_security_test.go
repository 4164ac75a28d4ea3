package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pier/internal/testenv"
)

// TestSecurityCommands drives the security commands: key expiry and
// comments, MFA enrolment (shown once, never again), app passwords,
// principals, organisation policies, certificate revocations, the
// defender's bans, the inactivity review and the lifecycle job.
func TestSecurityCommands(t *testing.T) {
	t.Run("sqlite+disk", func(t *testing.T) { testSecurityCommands(t, nil) })
	t.Run("postgres+s3", func(t *testing.T) {
		testSecurityCommands(t, []string{"PIER_DB=" + testenv.PostgresURL(t), "PIER_STORAGE=" + testenv.S3URL(t)})
	})
}

func testSecurityCommands(t *testing.T, env []string) {
	a := newAdm(t, env)
	a.ok("org", "add", "hq", "--kind", "internal")
	a.ok("user", "add", "anna", "--org", "hq", "--generate-password")
	keyFile, _ := sshKey(t, "laptop")
	out := a.ok("user", "key", "add", "anna", keyFile, "--expires", "2099-12-31", "--comment", "rotated 2026")
	fp := strings.Fields(out)[1]
	out = a.ok("user", "key", "list", "anna")
	if !strings.Contains(out, "rotated 2026") || !strings.Contains(out, "2100-01-01T00:00:00Z") || !strings.Contains(out, "never") {
		t.Errorf("key list:\n%s", out)
	}
	a.ok("user", "key", "expire", "anna", fp, "never")
	if _, stderr, code := a.run("", "user", "key", "expire", "anna", fp, "2001-01-01"); code == 0 || !strings.Contains(stderr, "past") {
		t.Errorf("expiry in the past: exit %d %s", code, stderr)
	}

	out = a.ok("user", "mfa", "enrol", "anna")
	if !strings.Contains(out, "otpauth://totp/pier:anna?") || !strings.Contains(out, "█") || strings.Count(out, "\n  ") != 10 {
		t.Errorf("enrol prints the URI, a QR code and 10 recovery codes:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(a.dir, "pier-data", "mfa.key")); err != nil {
		t.Errorf("no MFA key made: %v", err)
	}
	uri := out[strings.Index(out, "otpauth://"):]
	uri = uri[:strings.IndexByte(uri, '\n')]
	secret := uri[strings.Index(uri, "secret=")+7:]
	if i := strings.IndexByte(secret, '&'); i > 0 {
		secret = secret[:i]
	}
	for _, args := range [][]string{{"user", "mfa", "status", "anna"}, {"user", "show", "anna", "--json"}, {"user", "list", "--json"}} {
		if out := a.ok(args...); strings.Contains(out, secret) {
			t.Errorf("pier %v shows the TOTP secret again:\n%s", args, out)
		}
	}
	if out := a.ok("user", "mfa", "status", "anna"); !strings.Contains(out, "10 recovery code(s) left") {
		t.Errorf("mfa status: %s", out)
	}
	out = a.ok("user", "app-password", "add", "anna", "laptop")
	if !strings.Contains(out, "pierapp-") {
		t.Errorf("app-password add: %s", out)
	}
	if out := a.ok("user", "app-password", "list", "anna"); !strings.Contains(out, "laptop") || strings.Contains(out, "pierapp-") {
		t.Errorf("app-password list: %s", out)
	}
	a.ok("user", "app-password", "revoke", "anna", "laptop")
	a.ok("user", "principals", "anna", "a.berg,anna@corp")
	if out := a.ok("user", "principals", "anna"); !strings.Contains(out, "a.berg, anna@corp") {
		t.Errorf("principals: %s", out)
	}

	a.ok("org", "policy", "hq", "--mfa", "staff", "--inactive-days", "30")
	if out := a.ok("org", "policy", "hq"); !strings.Contains(out, "staff") || !strings.Contains(out, "30 days") {
		t.Errorf("org policy: %s", out)
	}
	if _, stderr, code := a.run("", "org", "policy", "hq", "--mfa", "bogus"); code == 0 || !strings.Contains(stderr, "--mfa") {
		t.Errorf("bad rule: exit %d %s", code, stderr)
	}

	a.ok("cert", "revoke", "--serial", "42", "--reason", "laptop stolen")
	a.ok("cert", "revoke", "--key", keyFile)
	if out := a.ok("cert", "list"); !strings.Contains(out, "laptop stolen") || !strings.Contains(out, fp) {
		t.Errorf("cert list: %s", out)
	}
	a.ok("cert", "unrevoke", "--serial", "42")
	// The key from standard input ("-"), as with user key add.
	a.ok("cert", "unrevoke", "--key", keyFile)
	keyText, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := a.run(string(keyText), "cert", "revoke", "--key", "-"); code != 0 || !strings.Contains(out, fp) {
		t.Errorf("cert revoke --key -: exit %d %s%s", code, out, stderr)
	}

	a.ok("defender", "ban", "198.51.100.7", "--for", "1h", "--reason", "test")
	if out := a.ok("defender", "list"); !strings.Contains(out, "198.51.100.7") {
		t.Errorf("defender list: %s", out)
	}
	a.ok("defender", "unban", "198.51.100.7")
	if out := a.ok("defender", "list", "--json"); strings.Contains(out, "198.51.100.7") {
		t.Errorf("still banned: %s", out)
	}

	// anna was created now: active, not inactive for 60 days.
	if out := a.ok("user", "list", "--inactive", "60d"); strings.Contains(out, "anna") {
		t.Errorf("a new account listed as inactive:\n%s", out)
	}
	if out := a.ok("user", "list", "--inactive", "1ns"); !strings.Contains(out, "anna") {
		t.Errorf("--inactive 1ns leaves anna out:\n%s", out)
	}
	if out := a.ok("lifecycle", "run", "--dry-run"); !strings.Contains(out, "0 account(s) would be suspended") {
		t.Errorf("lifecycle run: %s", out)
	}
}
