package main_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"pier/internal/testenv"
)

// adm runs pier admin commands against one store: the embedded default in
// dir, or the stores env names (PIER_DB=…, PIER_STORAGE=…).
type adm struct {
	t   *testing.T
	dir string
	env []string
}

func newAdm(t *testing.T, env []string) adm { return adm{t: t, dir: t.TempDir(), env: env} }

// run runs pier with stdin and returns its outputs and exit status.
func (a adm) run(stdin string, args ...string) (string, string, int) {
	a.t.Helper()
	return pierEnv(a.t, a.dir, a.env, strings.NewReader(stdin), args...)
}

// ok runs pier and fails the test unless it exits 0.
func (a adm) ok(args ...string) string {
	a.t.Helper()
	out, stderr, code := a.run("", args...)
	if code != 0 {
		a.t.Fatalf("pier %q: exit %d: %s%s", args, code, stderr, out)
	}
	return out
}

// sshKey writes a new Ed25519 public key in authorized_keys form to a file
// and returns the file's name and the line.
func sshKey(t *testing.T, comment string) (string, string) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment
	file := filepath.Join(t.TempDir(), comment+".pub")
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, line
}

var grantLine = regexp.MustCompile(`^grant (\d+) \(`)

// grant adds a grant and returns how reasons name it, "grant 3 (".
func (a adm) grant(args ...string) string {
	a.t.Helper()
	out := a.ok(append([]string{"grant", "add"}, args...)...)
	m := grantLine.FindStringSubmatch(out)
	if m == nil {
		a.t.Fatalf("grant add printed %q, want the new grant's ID and description", out)
	}
	return "grant " + m[1] + " ("
}

// TestModelFromCLI models the product brief's example with the CLI alone
// and checks that explain decides, and names the deciding grant, as the
// policy says: on the embedded default and on PostgreSQL with S3.
func TestModelFromCLI(t *testing.T) {
	t.Run("sqlite+disk", func(t *testing.T) { testModelFromCLI(t, nil) })
	t.Run("postgres+s3", func(t *testing.T) {
		testModelFromCLI(t, []string{"PIER_DB=" + testenv.PostgresURL(t), "PIER_STORAGE=" + testenv.S3URL(t)})
	})
}

// model is the grants of the example, as reasons name them.
type model struct {
	inbound, outbound, staffAcme, staffGlobex, annaOut string
}

func buildModel(t *testing.T, a adm) model {
	a.ok("org", "add", "hq", "--kind", "internal", "--name", "Our Company")
	a.ok("org", "add", "hq-sales", "--parent", "hq", "--name", "Sales")
	a.ok("org", "add", "acme", "--kind", "partner", "--name", "Acme GmbH")
	a.ok("org", "add", "acme-berlin", "--parent", "acme", "--name", "Acme Berlin")
	a.ok("org", "add", "globex", "--kind", "customer")
	keyFile, _ := sshKey(t, "acme-edi")
	a.ok("user", "add", "acme-edi", "--org", "acme", "--role", "edi", "--key", keyFile, "--protocols", "sftp")
	a.ok("user", "add", "anna", "--org", "hq-sales", "--name", "Anna Berg", "--generate-password")
	a.ok("user", "add", "sam", "--org", "hq", "--generate-password")
	a.ok("user", "suspend", "sam")
	a.ok("group", "add", "staff", "--description", "everyone at hq")
	a.ok("group", "member", "add", "staff", "--org", "hq", "--descendants")
	a.ok("files", "mkdir", "/acme/inbound")
	a.ok("files", "mkdir", "/acme/outbound")
	if _, stderr, code := a.run("ORDERS", "files", "put", "-", "/acme/outbound/order.edi"); code != 0 {
		t.Fatalf("put: %s", stderr)
	}
	staff := "list,read,create,overwrite,mkdir"
	return model{
		inbound:     a.grant("--to", "user:acme-edi", "--path", "/acme/inbound", "--perms", "create"),
		outbound:    a.grant("--to", "user:acme-edi", "--path", "/acme/outbound", "--perms", "list,read"),
		staffAcme:   a.grant("--to", "group:staff", "--path", "/acme", "--perms", staff),
		staffGlobex: a.grant("--to", "group:staff", "--path", "/globex", "--perms", staff),
		annaOut:     a.grant("--to", "user:anna", "--path", "/acme/outbound", "--perms", "rename"),
	}
}

func testModelFromCLI(t *testing.T, env []string) {
	a := newAdm(t, env)
	checkModel(t, a, buildModel(t, a))
}

// checkModel checks the example's organisations and what its grants give.
func checkModel(t *testing.T, a adm, m model) {
	t.Helper()
	tree := a.ok("org", "list")
	for _, want := range []string{"^acme +partner +Acme GmbH$", "^  acme-berlin +partner +Acme Berlin$", "^globex +customer +globex$",
		"^hq +internal +Our Company$", "^  hq-sales +internal +Sales$"} {
		if !regexp.MustCompile("(?m)" + want).MatchString(tree) {
			t.Errorf("org list lacks %q:\n%s", want, tree)
		}
	}
	cases := []struct {
		args []string
		code int
		want []string // in the reason
	}{
		{[]string{"acme-edi", "create", "/acme/inbound/x.edi"}, 0, []string{"allowed by " + m.inbound}},
		{[]string{"acme-edi", "read", "/acme/inbound/x.edi"}, 3, []string{"no grant gives read", "hidden: a drop box sees no file but the requester's own recent uploads (" + m.inbound}},
		{[]string{"acme-edi", "list", "/acme/inbound"}, 0, []string{"allowed by " + m.inbound}},
		{[]string{"acme-edi", "read", "/acme/outbound/order.edi"}, 0, []string{"allowed by " + m.outbound}},
		{[]string{"acme-edi", "create", "/acme/outbound/order.edi"}, 3, []string{"overwrite", "(it exists)"}},
		{[]string{"acme-edi", "list", "/globex"}, 3, []string{"hidden: no grant reaches it"}},
		{[]string{"acme-edi", "list", "/hq"}, 3, []string{"hidden: no grant reaches it"}},
		{[]string{"acme-edi", "list", "/acme", "--protocol", "webdav"}, 3, []string{"may not use webdav"}},
		{[]string{"anna", "read", "/acme/inbound/x.edi"}, 0, []string{"allowed by " + m.staffAcme + "group:staff"}},
		{[]string{"anna", "list", "/globex"}, 0, []string{"allowed by " + m.staffGlobex}},
		{[]string{"anna", "delete", "/acme/inbound/x.edi"}, 3, []string{"no grant gives delete", "visible through " + m.staffAcme}},
		{[]string{"sam", "read", "/acme/inbound/x.edi"}, 3, []string{"account sam is suspended"}},
		{[]string{"anna", "rename", "/acme/inbound/x.edi", "/acme/outbound/x.edi"}, 3, []string{"cannot rename from /acme/inbound/x.edi"}},
		{[]string{"anna", "rename", "/acme/outbound/order.edi", "/acme/inbound/order.edi"}, 0, []string{m.annaOut, m.staffAcme}},
	}
	for _, c := range cases {
		out, stderr, code := a.run("", append([]string{"access", "explain"}, c.args...)...)
		verdict, reason, _ := strings.Cut(out, "\n")
		wantVerdict := map[int]string{0: "allow", 3: "deny"}[c.code]
		if code != c.code || verdict != wantVerdict || stderr != "" {
			t.Errorf("explain %q: exit %d, %q, stderr %q; want exit %d, %s", c.args, code, out, stderr, c.code, wantVerdict)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(reason, w) {
				t.Errorf("explain %q: reason %q lacks %q", c.args, reason, w)
			}
		}
	}
	view := a.ok("access", "view", "acme-edi")
	if want := "/acme/inbound: create (grant"; !strings.HasPrefix(view, want) || strings.Count(view, "\n") != 2 {
		t.Errorf("access view acme-edi:\n%s", view)
	}
}

// TestAdminJSON checks that every --json output parses.
func TestAdminJSON(t *testing.T) {
	a := newAdm(t, nil)
	buildModel(t, a)
	csv := filepath.Join(t.TempDir(), "u.csv")
	os.WriteFile(csv, []byte("login,name,email,org,role,groups\nbea,Bea,bea@acme.example,acme,,staff\n"), 0o600)
	for _, args := range [][]string{
		{"org", "list", "--json"},
		{"user", "list", "--json"},
		{"user", "list", "--org", "acme", "--json"},
		{"user", "show", "anna", "--json"},
		{"user", "key", "list", "acme-edi", "--json"},
		{"group", "list", "--json"},
		{"grant", "list", "--json"},
		{"access", "view", "anna", "--json"},
		{"access", "view", "sam", "--json"},
		{"user", "import", csv, "--dry-run", "--json"},
	} {
		out := a.ok(args...)
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("pier %q: not JSON (%v):\n%s", args, err, out)
		}
	}
	var show map[string]any
	json.Unmarshal([]byte(a.ok("user", "show", "anna", "--json")), &show)
	if show["password"] != "set" || strings.Contains(a.ok("user", "show", "anna", "--json"), "argon2") {
		t.Errorf("user show --json: password %v; the hash must never show", show["password"])
	}
	var keys []map[string]any
	json.Unmarshal([]byte(a.ok("user", "key", "list", "acme-edi", "--json")), &keys)
	if len(keys) != 1 || !strings.HasPrefix(keys[0]["fingerprint"].(string), "SHA256:") {
		t.Errorf("user key list --json: %v", keys)
	}
}

// TestSSHCompatCommands: users and organisations are marked for the SFTP
// compatibility listener, and show and list say so.
func TestSSHCompatCommands(t *testing.T) {
	a := newAdm(t, nil)
	buildModel(t, a)
	a.ok("org", "add", "legacy-corp", "--ssh-compat")
	a.ok("user", "add", "jsch-bot", "--org", "acme", "--ssh-compat")
	if out := a.ok("user", "show", "jsch-bot"); !regexp.MustCompile(`ssh compat:\s+yes\n`).MatchString(out) {
		t.Errorf("user show: %s", out)
	}
	a.ok("user", "ssh-compat", "jsch-bot", "off")
	a.ok("org", "ssh-compat", "acme", "on")
	if out := a.ok("user", "show", "jsch-bot"); !strings.Contains(out, "yes, through the organisation") {
		t.Errorf("user show after marking the organisation: %s", out)
	}
	if out := a.ok("org", "list"); !regexp.MustCompile(`(?m)^acme\s.*ssh-compat$`).MatchString(out) || !strings.Contains(out, "legacy-corp") {
		t.Errorf("org list: %s", out)
	}
	var show map[string]any
	json.Unmarshal([]byte(a.ok("user", "show", "jsch-bot", "--json")), &show)
	if show["ssh_compat"] != false || show["ssh_compat_via_org"] != true {
		t.Errorf("user show --json: %v", show)
	}
	for _, args := range [][]string{{"user", "ssh-compat", "jsch-bot", "maybe"}, {"user", "ssh-compat", "jsch-bot"}, {"org", "ssh-compat", "acme", "yes"}} {
		if _, _, code := a.run("", args...); code != 2 {
			t.Errorf("pier %q: exit %d, want 2", args, code)
		}
	}
	if _, _, code := a.run("", "org", "ssh-compat", "nope", "on"); code != 1 {
		t.Errorf("unknown organisation: exit %d, want 1", code)
	}
}
