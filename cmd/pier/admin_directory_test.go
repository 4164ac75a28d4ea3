package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pier/internal/testenv"
)

// TestDirectorySyncCLI drives `pier directory sync` against a real slapd,
// Active Directory style (sAMAccountName, userAccountControl, memberOf):
// --dry-run shows every change and writes nothing, the sync creates,
// `user show` says where a user comes from, a JSON settings file works
// with flags over it, and passwords are refused on the command line and
// in the file.
func TestDirectorySyncCLI(t *testing.T) {
	s := testenv.StartSlapd(t)
	var ldif strings.Builder
	ldif.WriteString("dn: ou=Partners," + s.BaseDN + "\nobjectClass: organizationalUnit\nou: Partners\n\n")
	ldif.WriteString("dn: ou=groups," + s.BaseDN + "\nobjectClass: organizationalUnit\nou: groups\n\n")
	for i := 1; i <= 12; i++ {
		uac := 512
		if i == 12 {
			uac = 514 // ACCOUNTDISABLE
		}
		fmt.Fprintf(&ldif, "dn: cn=Partner %d,ou=Partners,%s\nobjectClass: inetOrgPerson\nobjectClass: pierTestADUser\n"+
			"cn: Partner %d\nsn: P\nsAMAccountName: Partner%02d\nuserPrincipalName: partner%02d@corp.example\n"+
			"displayName: Partner Number %d\nmail: p%d@partner.example\nuserAccountControl: %d\n\n", i, s.BaseDN, i, i, i, i, i, uac)
	}
	fmt.Fprintf(&ldif, "dn: cn=EDI Users,ou=groups,%s\nobjectClass: groupOfNames\ncn: EDI Users\nmember: cn=Partner 1,ou=Partners,%s\n",
		s.BaseDN, s.BaseDN)
	s.LDIF(t, ldif.String())

	a := newAdm(t, []string{"PIER_LDAP_BIND_PASSWORD=" + s.ServicePassword})
	a.ok("org", "add", "acme")
	a.ok("group", "add", "edi")
	flags := []string{"--ldap-url", s.URL, "--ldap-ca-file", s.CAFile, "--ldap-bind-dn", s.ServiceDN,
		"--ldap-base-dn", s.BaseDN, "--ldap-filter", "(objectClass=pierTestADUser)", "--ldap-login-attr", "sAMAccountName",
		"--ldap-name-attr", "displayName", "--ldap-org-map", "Partners=acme", "--ldap-group-map", "EDI Users=edi",
		"--ldap-disabled-attr", "userAccountControl", "--ldap-disabled-bits", "2", "--ldap-page-size", "5"}

	before := snapshotUsers(a)
	out := a.ok(append([]string{"directory", "sync", "--dry-run"}, flags...)...)
	out = strings.Join(strings.Fields(out), " ") // columns vary in width
	for _, want := range []string{"created partner01 active: new in the directory", "partner12 suspended: new in the directory; disabled in the directory",
		"12 created, 0 updated, 0 suspended, 0 unchanged, 0 skipped, 0 failed (12 directory entries", "dry run: nothing was written"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run does not say %q:\n%s", want, out)
		}
	}
	if snapshotUsers(a) != before {
		t.Fatal("--dry-run wrote")
	}
	out = a.ok(append([]string{"directory", "sync"}, flags...)...)
	if !strings.Contains(out, "12 created") || strings.Contains(out, "dry run") {
		t.Fatalf("sync:\n%s", out)
	}
	show := strings.Join(strings.Fields(a.ok("user", "show", "partner01")), " ")
	for _, want := range []string{"Partner Number 1", "source: ldap, entry cn=Partner 1,ou=Partners," + s.BaseDN + " (present in the directory)", "groups: edi"} {
		if !strings.Contains(show, want) {
			t.Errorf("user show does not say %q:\n%s", want, show)
		}
	}
	if js := a.ok("user", "show", "partner12", "--json"); !strings.Contains(js, `"source": "ldap"`) || !strings.Contains(js, `"source_state": "disabled"`) || !strings.Contains(js, `"status": "suspended"`) {
		t.Errorf("partner12:\n%s", js)
	}
	a.ok("user", "add", "byhand", "--org", "acme")
	if show := a.ok("user", "show", "byhand"); !strings.Contains(strings.Join(strings.Fields(show), " "), "source: pier (made by an administrator)") {
		t.Errorf("a hand-made user:\n%s", show)
	}

	// The same from a settings file, a flag over it: unchanged.
	file := filepath.Join(t.TempDir(), "ldap.json")
	os.WriteFile(file, []byte(fmt.Sprintf(`{"url": %q, "ca_file": %q, "bind_dn": %q, "base_dn": %q,
		"filter": "(objectClass=pierTestADUser)", "login_attr": "sAMAccountName", "name_attr": "displayName",
		"org_map": {"partners": "acme"}, "group_map": {"EDI Users": "edi"}, "disabled_attr": "userAccountControl",
		"disabled_bits": 2, "timeout": "5s", "page_size": 1000}`, s.URL, s.CAFile, s.ServiceDN, s.BaseDN)), 0o600)
	out = a.ok("directory", "sync", "--ldap-config", file, "--ldap-page-size", "3", "--json")
	if !strings.Contains(out, `"unchanged": 12`) {
		t.Errorf("sync from the file:\n%s", out)
	}

	// Refused: a password as a flag, in the file; no directory at all.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{append([]string{"directory", "sync", "--ldap-bind-password", "x"}, flags...), 2, "flag provided but not defined: -ldap-bind-password"},
		{[]string{"directory", "sync"}, 2, "no directory: give --ldap-url"},
		{[]string{"directory", "sync", "--ldap-url", "ldap://u:pw@h"}, 1, "--ldap-url: must not hold credentials"},
	} {
		_, stderr, code := a.run("", c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("pier %q: exit %d, %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	os.WriteFile(file, []byte(`{"url": "ldap://h", "bind_password": "hunter2"}`), 0o600)
	if _, stderr, code := a.run("", "directory", "sync", "--ldap-config", file); code != 1 || !strings.Contains(stderr, "bind_password is refused") || strings.Contains(stderr, "hunter2") {
		t.Errorf("a password in the file: exit %d, %q", code, stderr)
	}
}
