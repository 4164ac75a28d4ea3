package directory_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pier/directory"
)

// TestConfigValidate: every mistake is refused with the flag it came
// through, and nothing secret is echoed.
func TestConfigValidate(t *testing.T) {
	good := func() directory.Config {
		c := directory.Default()
		c.URL, c.BaseDN, c.BindDN, c.BindPassword = "ldaps://dc1.corp.example", "dc=corp,dc=example", "cn=pier,dc=corp,dc=example", "s3cret-pw"
		return c
	}
	if c := good(); c.Validate() != nil {
		t.Fatalf("a good configuration: %v", c.Validate())
	}
	if c := directory.Default(); c.Validate() != nil || c.Enabled() {
		t.Fatalf("no directory: %v", c.Validate())
	}
	for _, tc := range []struct {
		edit func(*directory.Config)
		want string
	}{
		{func(c *directory.Config) { c.URL = ""; c.Auth = true }, "--ldap-auth and --ldap-sync-interval need --ldap-url"},
		{func(c *directory.Config) { c.URL = "http://dc1" }, `--ldap-url: want ldap://HOST or ldaps://HOST, not "http"`},
		{func(c *directory.Config) { c.URL = "ldap://admin:s3cret-pw@dc1" }, "--ldap-url: must not hold credentials"},
		{func(c *directory.Config) { c.URL = "ldap://dc1/dc=x?uid" }, "--ldap-url: want ldap://HOST[:PORT] with nothing after it"},
		{func(c *directory.Config) { c.TLS = "none" }, "--ldap-tls: none contradicts ldaps://"},
		{func(c *directory.Config) { c.TLS = "maybe" }, `--ldap-tls: "maybe"`},
		{func(c *directory.Config) { c.BindPassword = "" }, "--ldap-bind-password-file: the bind DN needs a password"},
		{func(c *directory.Config) { c.BindPasswordFile = "/run/secrets/ldap" }, "not both"},
		{func(c *directory.Config) { c.BindDN = "" }, "--ldap-bind-dn: a bind password needs a bind DN"},
		{func(c *directory.Config) { c.BindDN = "not a dn" }, "--ldap-bind-dn: not a DN"},
		{func(c *directory.Config) { c.BaseDN = "" }, "--ldap-base-dn: want a DN"},
		{func(c *directory.Config) { c.Filter = "(uid=*" }, "--ldap-filter:"},
		{func(c *directory.Config) { c.LoginAttr = "uid)(cn=*" }, "--ldap-login-attr:"},
		{func(c *directory.Config) { c.Scope = "base" }, "--ldap-scope:"},
		{func(c *directory.Config) { c.OrgMap = map[string]string{"Sales": ""} }, "--ldap-org-map:"},
		{func(c *directory.Config) { c.DisabledBits = 2 }, "--ldap-disabled-attr:"},
		{func(c *directory.Config) { c.PageSize = 0 }, "--ldap-page-size:"},
		{func(c *directory.Config) { c.TimeLimit = 1500 * time.Millisecond }, "--ldap-time-limit:"},
		{func(c *directory.Config) { c.Interval = time.Second }, "--ldap-sync-interval:"},
	} {
		c := good()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
}

// TestLoadFile: a JSON file sets what it names; unknown keys and a
// password are refused.
func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		f := filepath.Join(dir, "ldap.json")
		os.WriteFile(f, []byte(s), 0o600)
		return f
	}
	c := directory.Default()
	if err := c.LoadFile(write(`{"url": "ldap://dc1", "org_map": {"Sales": "hq-sales"}, "timeout": "5s", "sync_interval": "15m"}`)); err != nil {
		t.Fatal(err)
	}
	if c.URL != "ldap://dc1" || c.OrgMap["Sales"] != "hq-sales" || c.Timeout != 5*time.Second || c.Interval != 15*time.Minute || c.LoginAttr != "uid" {
		t.Errorf("loaded: %+v", c)
	}
	for file, want := range map[string]string{
		`{"url": "ldap://dc1", "bind_password": "hunter2"}`: "bind_password is refused",
		`{"uri": "ldap://dc1"}`:                             `unknown field "uri"`,
		`{"timeout": "soon"}`:                               "timeout:",
	} {
		c := directory.Default()
		if err := c.LoadFile(write(file)); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
}
