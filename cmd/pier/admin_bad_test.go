package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminBadInput feeds the admin commands bad input: each must fail
// with one line that names the field at fault, and write nothing.
func TestAdminBadInput(t *testing.T) {
	a := newAdm(t, nil)
	a.ok("org", "add", "hq", "--kind", "internal")
	a.ok("org", "add", "hq-sales", "--parent", "hq")
	a.ok("user", "add", "anna", "--org", "hq")
	a.ok("group", "add", "staff")
	good, _ := sshKey(t, "good")
	goodLine, _ := os.ReadFile(good)
	badKeys := filepath.Join(t.TempDir(), "bad.pub")
	os.WriteFile(badKeys, append(goodLine, "ssh-rsa AAAAnotakey bob@host\n"...), 0o600)
	before := snapshot(a)

	cases := []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"", []string{"org", "add", "x", "--parent", "nope"}, 1, `--parent: organisation "nope": not found`},
		{"", []string{"org", "move", "hq", "--parent", "hq-sales"}, 1, "--parent: \"hq-sales\" is hq itself or below it"},
		{"", []string{"org", "move", "nope", "--parent", "hq"}, 1, `organisation "nope": not found`},
		{"", []string{"org", "add", "hq"}, 1, `organisation "hq": already exists`},
		{"", []string{"org", "add", "Bad_Slug"}, 1, "slug: \"Bad_Slug\" is not a valid slug"},
		{"", []string{"org", "add", "x", "--kind", "vendor"}, 1, `--kind: "vendor": want internal, partner or customer`},
		{"", []string{"org", "add"}, 2, "want 1 argument"},
		{"", []string{"user", "add", "bob"}, 2, "--org is required"},
		{"", []string{"user", "add", "bob", "--org", "nope"}, 1, `organisation "nope": not found`},
		{"", []string{"user", "add", "bob", "--org", "hq", "--cidr", "10.0.0.0/33"}, 1, `--cidr: "10.0.0.0/33" is not a network`},
		{"", []string{"user", "add", "bob", "--org", "hq", "--cidr", "10.1.2.3/8"}, 1, "--cidr: \"10.1.2.3/8\" has host bits set"},
		{"", []string{"user", "add", "bob", "--org", "hq", "--protocols", "ftp"}, 1, `--protocols: "ftp"`},
		{"", []string{"user", "add", "bob", "--org", "hq", "--expires", "2001-01-01"}, 1, "--expires: 2001-01-01 is in the past"},
		{"", []string{"user", "add", "bob", "--org", "hq", "--expires", "soon"}, 1, "--expires: \"soon\" is not a date"},
		{"", []string{"user", "add", "bob", "--org", "hq", "--email", "bob-at-home"}, 1, `email: "bob-at-home" is not an e-mail address`},
		{"", []string{"user", "add", "bob", "--org", "hq", "--key", badKeys}, 1, "line 2: not an SSH public key"},
		{"", []string{"user", "add", "bob", "--org", "hq", "--key", "/no/such.pub"}, 1, "--key: open /no/such.pub"},
		{"short\n", []string{"user", "add", "bob", "--org", "hq", "--password-stdin", "--key", good}, 1, "password must be at least 15 characters"},
		{"manchesterunited\n", []string{"user", "add", "bob", "--org", "hq", "--password-stdin"}, 1, "password is in the list of common or breached passwords"},
		{"bobbybobbington-rules\n", []string{"user", "add", "bobbybobbington", "--org", "hq", "--password-stdin"}, 1, "password must not contain the user's login"},
		{"", []string{"user", "add", "bob", "--org", "hq", "--password-stdin"}, 1, "password: standard input has no password"},
		{"", []string{"user", "add", "bob", "--org", "hq", "--password-stdin", "--generate-password"}, 2, "only one of"},
		{"", []string{"user", "add", "Anna", "--org", "hq"}, 1, `user "anna": already exists`},
		{"", []string{"user", "add", "b o b", "--org", "hq"}, 1, `login: "b o b" is not a valid login`},
		{"", []string{"user", "show", "ghost"}, 1, `user "ghost": not found`},
		{"", []string{"user", "list", "--org", "nope"}, 1, `--org: organisation "nope": not found`},
		{"", []string{"user", "approve", "anna"}, 1, "status: anna is active; approve takes pending accounts"},
		{"", []string{"user", "activate", "anna"}, 1, "status: anna is active"},
		{"", []string{"user", "suspend", "ghost"}, 1, `user "ghost": not found`},
		{"", []string{"user", "passwd", "anna"}, 2, "give one of --generate, --stdin"},
		{"weak\n", []string{"user", "passwd", "anna", "--stdin"}, 1, "password must be at least 15"},
		{"", []string{"user", "key", "add", "anna", badKeys}, 1, "line 2: not an SSH public key"},
		{"", []string{"user", "key", "add", "ghost", good}, 1, `user "ghost": not found`},
		{"", []string{"user", "key", "remove", "anna", "SHA256:nope"}, 1, `key of user anna "SHA256:nope": not found`},
		{"", []string{"group", "add", "staff"}, 1, `group "staff": already exists`},
		{"", []string{"group", "add", "bad name"}, 1, `group: "bad name" is not a valid group name`},
		{"", []string{"group", "delete", "ghosts"}, 1, `group "ghosts": not found`},
		{"", []string{"group", "member", "add", "ghosts", "--user", "anna"}, 1, `group "ghosts": not found`},
		{"", []string{"group", "member", "add", "staff", "--user", "ghost"}, 1, `user "ghost": not found`},
		{"", []string{"group", "member", "add", "staff", "--org", "nope"}, 1, `organisation "nope": not found`},
		{"", []string{"group", "member", "add", "staff", "--role", "buyer"}, 1, "--role: \"buyer\" needs an organisation"},
		{"", []string{"group", "member", "add", "staff"}, 2, "give one of --org, --role, --user"},
		{"", []string{"group", "member", "add", "staff", "--user", "anna", "--descendants"}, 2, "--descendants goes with --org or --role"},
		{"", []string{"group", "member", "remove", "staff", "--user", "anna"}, 1, `member of group staff "user:anna": not found`},
		{"", []string{"grant", "add", "--to", "usr:anna", "--path", "/hq", "--perms", "read"}, 1, `--to: bad subject: unknown kind "usr"`},
		{"", []string{"grant", "add", "--to", "user:ghost", "--path", "/hq", "--perms", "read"}, 1, `user "ghost": not found`},
		{"", []string{"grant", "add", "--to", "group:ghosts", "--path", "/hq", "--perms", "read"}, 1, `group "ghosts": not found`},
		{"", []string{"grant", "add", "--to", "org:nope+sub", "--path", "/hq", "--perms", "read"}, 1, `organisation "nope": not found`},
		{"", []string{"grant", "add", "--to", "user:anna", "--path", "/hq", "--perms", "read,fly"}, 1, `--perms: unknown permission "fly"`},
		{"", []string{"grant", "add", "--to", "user:anna", "--path", "/hq", "--perms", "none"}, 1, "--perms: a grant needs at least one permission"},
		{"", []string{"grant", "add", "--to", "user:anna", "--path", "/hq/../etc", "--perms", "read"}, 1, "--path: invalid path"},
		{"", []string{"grant", "add", "--to", "user:anna", "--path", "/hq", "--perms", "read", "--max-size", "50XB"}, 1, `--max-size: "50XB": unknown unit "XB"`},
		{"", []string{"grant", "add", "--to", "user:anna", "--path", "/hq", "--perms", "read", "--max-size", "-5MB"}, 1, `--max-size: "-5MB" is not a size`},
		{"", []string{"grant", "add", "--to", "user:anna", "--path", "/hq", "--perms", "read", "--allow", "a/*.edi"}, 1, "--allow: bad file name pattern"},
		{"", []string{"grant", "add", "--to", "user:anna", "--path", "/hq", "--perms", "read", "--deny", "[x"}, 1, "--deny: bad file name pattern"},
		{"", []string{"grant", "add", "--path", "/hq", "--perms", "read"}, 2, "--to is required"},
		{"", []string{"grant", "remove", "99"}, 1, `grant "99": not found`},
		{"", []string{"grant", "remove", "x"}, 1, `ID "x" is not a grant number`},
		{"", []string{"access", "explain", "ghost", "read", "/hq"}, 1, `user "ghost": not found`},
		{"", []string{"access", "explain", "anna", "fly", "/hq"}, 1, `ACTION: unknown action "fly"`},
		{"", []string{"access", "explain", "anna", "read", "/hq/../x"}, 1, "PATH: invalid path"},
		{"", []string{"access", "explain", "anna", "rename", "/hq"}, 2, "want LOGIN ACTION PATH or LOGIN rename FROM TO"},
		{"", []string{"access", "explain", "anna", "read", "/hq", "--protocol", "ftp"}, 1, `--protocol: "ftp": want sftp or webdav`},
		{"", []string{"org", "frob"}, 2, `org: unknown command "frob"`},
		{"", []string{"user", "key", "frob"}, 2, `user key: unknown command "frob"`},
	}
	for _, c := range cases {
		out, stderr, code := a.run(c.stdin, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("pier %q: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
		if lines := strings.Count(strings.TrimSpace(stderr), "\n"); lines > 0 {
			t.Errorf("pier %q: error takes %d lines, want one: %q", c.args, lines+1, stderr)
		}
		if strings.Contains(out+stderr, "manchesterunited") || strings.Contains(out+stderr, "bobbybobbington-rules") {
			t.Errorf("pier %q echoed the password", c.args)
		}
	}
	if after := snapshot(a); after != before {
		t.Errorf("bad input changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// snapshot lists everything the admin commands can change.
func snapshot(a adm) string {
	a.t.Helper()
	var b strings.Builder
	for _, args := range [][]string{
		{"org", "list"}, {"user", "list"}, {"user", "show", "anna"}, {"user", "key", "list", "anna"},
		{"group", "list"}, {"grant", "list"}, {"files", "ls", "/"},
	} {
		out := a.ok(args...)
		if args[0] == "files" { // modification times are fine; names matter
			out = strings.Join(regexpFields(out), " ")
		}
		b.WriteString(out)
	}
	return b.String()
}

// regexpFields keeps the last field of each line: the names of a listing.
func regexpFields(out string) []string {
	var names []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[len(f)-1])
		}
	}
	return names
}
