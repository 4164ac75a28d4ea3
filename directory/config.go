package directory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Config says which directory to read and how its entries become pier
// users. The zero URL means no directory: sync and bind authentication
// are off.
type Config struct {
	// URL is ldap://HOST[:389] (StartTLS unless TLS is "none") or
	// ldaps://HOST[:636].
	URL string `json:"url"`
	// TLS is "" or "starttls" (the default for ldap://), or "none": plain
	// LDAP, passwords in clear (a local test directory only).
	TLS string `json:"tls"`
	// CAFile is a PEM file of the CAs that sign the directory's
	// certificate; empty: the system's. Certificates are always verified.
	CAFile string `json:"ca_file"`
	// BindDN is the service account the sync reads with; empty binds
	// anonymously. Its password comes from BindPasswordFile or, never in
	// a file or on a command line, PIER_LDAP_BIND_PASSWORD.
	BindDN           string `json:"bind_dn"`
	BindPasswordFile string `json:"bind_password_file"`
	BindPassword     string `json:"-"`

	// BaseDN, Scope ("sub" or "one") and Filter select the users.
	BaseDN string `json:"base_dn"`
	Scope  string `json:"scope"`
	Filter string `json:"filter"`

	// The attributes a user's fields come from.
	LoginAttr string `json:"login_attr"`
	NameAttr  string `json:"name_attr"`
	EmailAttr string `json:"email_attr"`
	// OrgAttr names the attribute whose value gives the organisation;
	// empty: the organisational units in the entry's DN, nearest first.
	// OrgMap maps values (or OU names) to pier organisation slugs,
	// ignoring case; without it a value is taken as a slug. DefaultOrg
	// takes the users no mapping places; without it such a user fails.
	OrgAttr    string            `json:"org_attr"`
	OrgMap     map[string]string `json:"org_map"`
	DefaultOrg string            `json:"default_org"`
	// RoleAttr and RoleMap give the job role the same way (no role when
	// the attribute is empty or not set).
	RoleAttr string            `json:"role_attr"`
	RoleMap  map[string]string `json:"role_map"`
	// GroupMap maps directory groups (a DN, or a group's cn) to pier
	// groups; only these pier groups' user memberships are synced. The
	// groups come from GroupAttr on the user (memberOf) or, with
	// GroupBaseDN, from group entries (GroupFilter) and their member or
	// uniqueMember values.
	GroupMap    map[string]string `json:"group_map"`
	GroupAttr   string            `json:"group_attr"`
	GroupBaseDN string            `json:"group_base_dn"`
	GroupFilter string            `json:"group_filter"`
	// DisabledAttr marks disabled accounts, which are suspended: when
	// its value, as an integer, has any of DisabledBits set (Active
	// Directory: userAccountControl, 2), or equals one of DisabledValues
	// ignoring case.
	DisabledAttr   string   `json:"disabled_attr"`
	DisabledBits   int64    `json:"disabled_bits"`
	DisabledValues []string `json:"disabled_values"`

	// PageSize is the page of a paged search (RFC 2696). MaxEntries is
	// the most users (and groups) one sync reads: a directory that has
	// more fails the sync. TimeLimit bounds each search on the server,
	// Timeout each network exchange.
	PageSize   int           `json:"page_size"`
	MaxEntries int           `json:"max_entries"`
	TimeLimit  time.Duration `json:"-"`
	Timeout    time.Duration `json:"-"`
	// MaxSuspend is the most users one sync suspends, unless forced;
	// 0: a tenth of the directory-managed users, at least 10. It stops a
	// wrong filter or base DN from suspending everyone.
	MaxSuspend int `json:"max_suspend"`

	// Interval is how often `pier serve` syncs (one node at a time); 0:
	// only `pier directory sync`.
	Interval time.Duration `json:"-"`
	// Auth checks directory-managed users' passwords by binding to the
	// directory as them.
	Auth bool `json:"auth"`
}

// Default returns the settings that fit OpenLDAP's inetOrgPerson.
func Default() Config {
	return Config{
		Scope: "sub", Filter: "(objectClass=person)",
		LoginAttr: "uid", NameAttr: "cn", EmailAttr: "mail", GroupAttr: "memberOf",
		GroupFilter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))",
		PageSize:    500, MaxEntries: 100000, TimeLimit: time.Minute, Timeout: 30 * time.Second,
	}
}

// Enabled reports whether a directory is configured.
func (c *Config) Enabled() bool { return c.URL != "" }

// FromEnv overrides c with the PIER_LDAP_* variables that are set.
func (c *Config) FromEnv(getenv func(string) string) {
	for name, dst := range map[string]*string{
		"PIER_LDAP_URL": &c.URL, "PIER_LDAP_BIND_DN": &c.BindDN, "PIER_LDAP_BIND_PASSWORD": &c.BindPassword,
		"PIER_LDAP_BIND_PASSWORD_FILE": &c.BindPasswordFile, "PIER_LDAP_BASE_DN": &c.BaseDN,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
}

// fileConfig is the JSON of a configuration file: Config's fields, with
// durations as text ("30s").
type fileConfig struct {
	Config
	TimeLimit string `json:"time_limit"`
	Timeout   string `json:"timeout"`
	Interval  string `json:"sync_interval"`
	// BindPassword is here only to refuse it with a clear message.
	BindPassword *string `json:"bind_password"`
}

// LoadFile sets the settings a JSON file names (keys as in Config's
// json tags, durations as "30s"); others keep their values. Unknown keys
// and a bind password in the file are refused.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path) // #nosec G304 -- the operator's --ldap-config
	if err != nil {
		return fmt.Errorf("--ldap-config: %w", err)
	}
	fc := fileConfig{Config: *c}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fmt.Errorf("--ldap-config %s: %w", path, err)
	}
	if fc.BindPassword != nil {
		return fmt.Errorf("--ldap-config %s: bind_password is refused: give bind_password_file or PIER_LDAP_BIND_PASSWORD", path)
	}
	for _, d := range []struct {
		name, text string
		dst        *time.Duration
	}{{"time_limit", fc.TimeLimit, &fc.Config.TimeLimit}, {"timeout", fc.Timeout, &fc.Config.Timeout}, {"sync_interval", fc.Interval, &fc.Config.Interval}} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil {
			return fmt.Errorf("--ldap-config %s: %s: %w", path, d.name, err)
		}
		*d.dst = v
	}
	*c = fc.Config
	return nil
}

// attrRE is an attribute description: a name or an OID, with options.
var attrRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]{0,127}|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

// Validate checks the settings without touching the network (a CA file
// is read when the directory is dialled). A disabled configuration is
// valid whatever else it holds.
func (c *Config) Validate() error {
	if !c.Enabled() {
		if c.Auth || c.Interval > 0 {
			return errors.New("--ldap-auth and --ldap-sync-interval need --ldap-url")
		}
		return nil
	}
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--ldap-"+flag+": "+format, args...))
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		bad("url", "not a URL")
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		bad("url", "want ldap://HOST or ldaps://HOST, not %q", u.Scheme)
	case u.User != nil:
		bad("url", "must not hold credentials: give --ldap-bind-dn and the password by file or PIER_LDAP_BIND_PASSWORD")
	case u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		bad("url", "want ldap://HOST[:PORT] with nothing after it")
	}
	switch c.TLS {
	case "", "starttls":
	case "none":
		if err == nil && u.Scheme == "ldaps" {
			bad("tls", "none contradicts ldaps://")
		}
	default:
		bad("tls", "%q: want starttls or none", c.TLS)
	}
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			bad("bind-dn", "not a DN: %v", err)
		}
	}
	switch {
	case c.BindPassword != "" && c.BindPasswordFile != "":
		bad("bind-password-file", "give the password by file or by PIER_LDAP_BIND_PASSWORD, not both")
	case c.BindDN == "" && (c.BindPassword != "" || c.BindPasswordFile != ""):
		bad("bind-dn", "a bind password needs a bind DN")
	case c.BindDN != "" && c.BindPassword == "" && c.BindPasswordFile == "":
		bad("bind-password-file", "the bind DN needs a password: a file, or PIER_LDAP_BIND_PASSWORD")
	}
	for _, d := range []struct{ flag, dn string }{{"base-dn", c.BaseDN}, {"group-base-dn", c.GroupBaseDN}} {
		if d.dn == "" && d.flag == "group-base-dn" {
			continue
		}
		if _, err := ldap.ParseDN(d.dn); err != nil || d.dn == "" {
			bad(d.flag, "want a DN such as dc=example,dc=com")
		}
	}
	if c.Scope != "sub" && c.Scope != "one" {
		bad("scope", "%q: want sub or one", c.Scope)
	}
	for _, f := range []struct{ flag, filter string }{{"filter", c.Filter}, {"group-filter", c.GroupFilter}} {
		if _, err := ldap.CompileFilter(f.filter); err != nil {
			bad(f.flag, "%v", err)
		}
	}
	for _, a := range []struct{ flag, attr string }{
		{"login-attr", c.LoginAttr}, {"name-attr", c.NameAttr}, {"email-attr", c.EmailAttr}, {"org-attr", c.OrgAttr},
		{"role-attr", c.RoleAttr}, {"group-attr", c.GroupAttr}, {"disabled-attr", c.DisabledAttr},
	} {
		optional := a.flag != "login-attr"
		if (a.attr != "" || !optional) && !attrRE.MatchString(a.attr) {
			bad(a.flag, "%q is not an attribute name", a.attr)
		}
	}
	for _, m := range []struct {
		flag  string
		pairs map[string]string
	}{{"org-map", c.OrgMap}, {"role-map", c.RoleMap}, {"group-map", c.GroupMap}} {
		for k, v := range m.pairs {
			if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
				bad(m.flag, "%q=%q: both sides must be given", k, v)
			}
		}
	}
	if (c.DisabledBits != 0 || len(c.DisabledValues) > 0) && c.DisabledAttr == "" {
		bad("disabled-attr", "--ldap-disabled-bits and --ldap-disabled-value need it")
	}
	if c.DisabledBits < 0 {
		bad("disabled-bits", "must not be negative")
	}
	if c.PageSize < 1 || c.PageSize > 100000 {
		bad("page-size", "%d: want 1 to 100000", c.PageSize)
	}
	if c.MaxEntries < 1 {
		bad("max-entries", "must be positive")
	}
	if c.TimeLimit < 0 || c.TimeLimit%time.Second != 0 {
		bad("time-limit", "want whole seconds, 0 for none")
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive")
	}
	if c.MaxSuspend < 0 {
		bad("max-suspend", "must not be negative")
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Minute) {
		bad("sync-interval", "want 0 (off) or at least 1m")
	}
	return errors.Join(errs...)
}

// secret reads the bind password.
func (c *Config) secret() (string, error) {
	if c.BindPasswordFile == "" {
		return c.BindPassword, nil
	}
	b, err := os.ReadFile(c.BindPasswordFile)
	if err != nil {
		return "", fmt.Errorf("--ldap-bind-password-file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", errors.New("--ldap-bind-password-file: the file is empty")
	}
	return pw, nil
}
