package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pier/admin"
	"pier/api"
	"pier/config"
	"pier/identity"
	"pier/internal/testenv"
	"pier/mfa"
	"pier/node"
	"pier/sessions"
)

// env is a node with the API served over HTTP and a small world in it:
//
//	hq (internal)      root: super administrator; aud: auditor
//	acme (partner)     acmeadm: organisation administrator of acme
//	  acme-eu          alice, the group acme-team, a grant on /acme-eu/in
//	globex (partner)   globexadm: organisation administrator of globex;
//	                   bob (with a key), the group globex-team, a grant
//	                   on /globex/secret-folder — the secrets below
type env struct {
	n    *node.Node
	url  string // the server's base URL, without /api/v1
	logs *testenv.LogBuffer
	// tokens by name: root, root-ro, aud, acmeadm, globexadm, and the
	// refused ones: expired, revoked, suspended, demoted.
	tokens map[string]string
	bobKey string // bob's key's fingerprint
	// grants by name: acme, globex.
	grants map[string]int64
	// passwords of the users made with one
	passwords map[string]string
	// sessions registered by name (bob, alice), and the reasons they were
	// ended with
	sessions map[string]string
	ended    chan string
}

// Secrets of globex: no answer to acmeadm may contain any of them.
var globexSecrets = []string{"Robert Secretname", "bob@globex.example", "globex-key-comment", "globex secret group", "secret-folder"}

// backends runs fn on the embedded default and on PostgreSQL with MinIO.
func backends(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, prod := range []bool{false, true} {
		name := "embedded"
		if prod {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) { fn(t, newEnv(t, prod)) })
	}
}

func newEnv(t *testing.T, prod bool, options ...func(*config.Config)) *env {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if prod {
		cfg.DB, cfg.Storage = testenv.PostgresURL(t), testenv.S3URL(t)
	}
	// The matrices send hundreds of bad credentials from 127.0.0.1: the
	// defender would ban it. TestDefenderScreensTheAPI turns it on.
	cfg.Defender.Enabled = false
	// An MFA key, so that second factors can be enrolled (an option may
	// point --mfa-key elsewhere, to a node without one).
	if _, err := mfa.LoadKey(cfg.MFAKeyFile(), true); err != nil {
		t.Fatal(err)
	}
	for _, o := range options {
		o(&cfg)
	}
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx := context.Background()
	n, err := node.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	acfg := api.DefaultConfig()
	acfg.MaxBody = 64 << 10
	srv := httptest.NewServer(api.New(acfg, n.Admin, n.IDs, n.Auth, n.Audit, log).WithDefender(n.Defender).WithMFA(n.MFA))
	t.Cleanup(srv.Close)
	e := &env{n: n, url: srv.URL, logs: logs, tokens: map[string]string{}, grants: map[string]int64{}, passwords: map[string]string{}, sessions: map[string]string{}, ended: make(chan string, 10)}
	e.populate(t)
	return e
}

var lastUsed = regexp.MustCompile(`"last_used":"[^"]*",?`)

// authorizedKey returns a fresh ed25519 public key as an authorized_keys
// line.
func authorizedKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
}

func (e *env) populate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ops, cli := e.n.Admin, admin.CLI("cli:test")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []admin.OrgInput{{Slug: "hq", Kind: "internal"}, {Slug: "acme"}, {Slug: "acme-eu", Parent: "acme"}, {Slug: "globex"}} {
		_, err := ops.AddOrg(ctx, cli, o)
		must(err)
	}
	for _, u := range []admin.UserInput{
		{Login: "root", Org: "hq", GeneratePassword: true},
		{Login: "aud", Org: "hq", GeneratePassword: true},
		{Login: "acmeadm", Org: "acme", GeneratePassword: true},
		{Login: "globexadm", Org: "globex", GeneratePassword: true},
		{Login: "alice", Org: "acme-eu", Name: "Alice", GeneratePassword: true},
		{Login: "bob", Org: "globex", Name: "Robert Secretname", Email: "bob@globex.example", Keys: authorizedKey(t, "globex-key-comment")},
		{Login: "suspendme", Org: "hq", GeneratePassword: true},
		{Login: "demoteme", Org: "hq", GeneratePassword: true},
	} {
		_, pw, err := ops.AddUser(ctx, cli, u)
		must(err)
		e.passwords[u.Login] = pw
	}
	roles := []struct {
		login string
		role  admin.Role
		org   string
	}{{"root", admin.RoleSuper, ""}, {"aud", admin.RoleAuditor, ""}, {"acmeadm", admin.RoleOrgAdmin, "acme"},
		{"globexadm", admin.RoleOrgAdmin, "globex"}, {"suspendme", admin.RoleSuper, ""}, {"demoteme", admin.RoleSuper, ""}}
	for _, r := range roles {
		must(ops.SetAdminRole(ctx, cli, r.login, r.role, r.org))
	}
	token := func(name string, in admin.TokenInput) {
		t.Helper()
		in.Name = name
		_, text, err := ops.AddToken(ctx, cli, in)
		must(err)
		e.tokens[name] = text
	}
	token("root", admin.TokenInput{Login: "root"})
	token("root-ro", admin.TokenInput{Login: "root", ReadOnly: true})
	token("aud", admin.TokenInput{Login: "aud"})
	token("acmeadm", admin.TokenInput{Login: "acmeadm"})
	token("globexadm", admin.TokenInput{Login: "globexadm"})
	token("suspended", admin.TokenInput{Login: "suspendme"})
	token("demoted", admin.TokenInput{Login: "demoteme"})
	token("revoked", admin.TokenInput{Login: "root"})
	_, text, err := e.n.IDs.AddToken(ctx, identity.Token{Login: "root", Name: "expired", Expires: time.Now().Add(-time.Minute)})
	must(err)
	e.tokens["expired"] = text
	toks, err := ops.ListTokens(ctx, cli)
	must(err)
	for _, tk := range toks {
		if tk.Name == "revoked" {
			must(ops.RevokeToken(ctx, cli, tk.ID))
		}
	}
	_, err = ops.SetStatus(ctx, cli, "suspendme", "suspend", "")
	must(err)
	must(ops.SetAdminRole(ctx, cli, "demoteme", admin.RoleNone, ""))

	keys, err := ops.ListKeys(ctx, cli, "bob")
	must(err)
	e.bobKey = keys[0].Fingerprint
	_, err = ops.AddGroup(ctx, cli, "acme-team", "acme people", "acme")
	must(err)
	must(ops.AddMember(ctx, cli, "acme-team", "user:alice"))
	_, err = ops.AddGroup(ctx, cli, "globex-team", "globex secret group", "globex")
	must(err)
	must(ops.AddMember(ctx, cli, "globex-team", "user:bob"))
	for _, f := range []string{"/acme-eu/in", "/globex/secret-folder"} {
		_, err := ops.MakeFolder(ctx, cli, f)
		must(err)
	}
	// acme's own holding, within which acmeadm may delegate.
	_, err = ops.AddGrant(ctx, cli, admin.GrantInput{To: "org:acme+sub", Path: "/acme-eu", Perms: "list,read,create"})
	must(err)
	g, err := ops.AddGrant(ctx, cli, admin.GrantInput{To: "group:acme-team", Path: "/acme-eu/in", Perms: "list,read"})
	must(err)
	e.grants["acme"] = g.ID
	g, err = ops.AddGrant(ctx, cli, admin.GrantInput{To: "user:bob", Path: "/globex/secret-folder", Perms: "list,read"})
	must(err)
	e.grants["globex"] = g.ID
	if _, err := ops.AddAppPassword(ctx, cli, "bob", "bob-laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Ban(ctx, cli, "192.0.2.98", time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	// Live sessions as the front ends register them (sftpd's tests end
	// real connections through the API).
	for _, s := range []sessions.Session{{Login: "bob", Org: "globex", Protocol: "sftp", From: "192.0.2.7"},
		{Login: "alice", Org: "acme-eu", Protocol: "webdav", From: "192.0.2.8", Detail: "PUT /acme-eu/in/big.edi"}} {
		id, done := e.n.Sessions.Add(s, func(why string) { e.ended <- s.Login + ": " + why })
		t.Cleanup(done)
		e.sessions[s.Login] = id
	}
}

// answer is an HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of an error body, "" if it is none.
func (a answer) errorCode() string {
	var b api.ErrorBody
	json.Unmarshal(a.body, &b)
	return b.Error.Code
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %d %s: %v", a.status, a.body, err)
	}
}

// req is one request: credential options are headers.
type req struct {
	method, path string // path below /api/v1
	body         string
	ctype        string // default application/json when a body is given
	header       map[string]string
	cookie       *http.Cookie
}

func (e *env) send(t *testing.T, r req) answer {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.url+api.Prefix+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		ct := r.ctype
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	for k, v := range r.header {
		hr.Header.Add(k, v)
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// as sends a request with a token of the world.
func (e *env) as(t *testing.T, token string, r req) answer {
	t.Helper()
	if r.header == nil {
		r.header = map[string]string{}
	}
	r.header["Authorization"] = "Bearer " + e.tokens[token]
	return e.send(t, r)
}

// snapshot is everything a super administrator can list, to check that a
// refused request changed nothing.
func (e *env) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/orgs", "/users", "/groups", "/grants", "/tokens", "/users/bob", "/users/bob/keys", "/users/alice", "/users/alice/keys"} {
		a := e.as(t, "root", req{method: "GET", path: p})
		if a.status != http.StatusOK {
			t.Fatalf("snapshot GET %s: %d %s", p, a.status, a.body)
		}
		b.Write(a.body)
	}
	// Tokens' last use changes with every request: leave it out.
	return lastUsed.ReplaceAllString(b.String(), "")
}
