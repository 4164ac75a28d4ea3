package config

import (
	"flag"
	"fmt"
	"strings"
)

// DirectoryFlags registers the flags of the directory sync (LDAP /
// Active Directory), for `pier serve` and `pier directory`. A JSON file
// (--ldap-config or PIER_LDAP_CONFIG) may give the same settings;
// flags and the environment override it.
func (c *Config) DirectoryFlags(fs *flag.FlagSet) {
	d := &c.Directory
	fs.StringVar(&c.DirectoryFile, "ldap-config", c.DirectoryFile, "JSON file of directory settings (env PIER_LDAP_CONFIG); flags override it")
	fs.StringVar(&d.URL, "ldap-url", d.URL, "directory: ldap://HOST (StartTLS) or ldaps://HOST; empty: no directory (env PIER_LDAP_URL)")
	fs.StringVar(&d.TLS, "ldap-tls", d.TLS, "starttls (default for ldap://) or none: plain LDAP, passwords in clear")
	fs.StringVar(&d.CAFile, "ldap-ca-file", d.CAFile, "PEM file of the CAs of the directory's certificate (default: the system's)")
	fs.StringVar(&d.BindDN, "ldap-bind-dn", d.BindDN, "service account to read the directory as (env PIER_LDAP_BIND_DN); its password from --ldap-bind-password-file or PIER_LDAP_BIND_PASSWORD")
	fs.StringVar(&d.BindPasswordFile, "ldap-bind-password-file", d.BindPasswordFile, "file holding the service account's password (env PIER_LDAP_BIND_PASSWORD_FILE)")
	fs.StringVar(&d.BaseDN, "ldap-base-dn", d.BaseDN, "where the users are, dc=example,dc=com (env PIER_LDAP_BASE_DN)")
	fs.StringVar(&d.Scope, "ldap-scope", d.Scope, "sub (the whole subtree) or one (one level)")
	fs.StringVar(&d.Filter, "ldap-filter", d.Filter, "LDAP filter of the users to import")
	fs.StringVar(&d.LoginAttr, "ldap-login-attr", d.LoginAttr, "attribute of the login (Active Directory: sAMAccountName or userPrincipalName)")
	fs.StringVar(&d.NameAttr, "ldap-name-attr", d.NameAttr, "attribute of the full name (Active Directory: displayName)")
	fs.StringVar(&d.EmailAttr, "ldap-email-attr", d.EmailAttr, "attribute of the e-mail address")
	fs.StringVar(&d.OrgAttr, "ldap-org-attr", d.OrgAttr, "attribute giving the organisation (default: the OUs of the entry's DN)")
	fs.Var(mapFlag{&d.OrgMap}, "ldap-org-map", "VALUE=SLUG: an OU or org attribute value to a pier organisation (repeatable)")
	fs.StringVar(&d.DefaultOrg, "ldap-default-org", d.DefaultOrg, "organisation of users no --ldap-org-map entry places (default: they fail)")
	fs.StringVar(&d.RoleAttr, "ldap-role-attr", d.RoleAttr, "attribute giving the job role, e.g. title")
	fs.Var(mapFlag{&d.RoleMap}, "ldap-role-map", "VALUE=ROLE: a role attribute value to a pier role (repeatable)")
	fs.Var(mapFlag{&d.GroupMap}, "ldap-group-map", "GROUP=PIERGROUP: a directory group (DN or cn) to a pier group (repeatable)")
	fs.StringVar(&d.GroupAttr, "ldap-group-attr", d.GroupAttr, "attribute of the user's groups, when --ldap-group-base-dn is not set")
	fs.StringVar(&d.GroupBaseDN, "ldap-group-base-dn", d.GroupBaseDN, "read groups from group entries below this DN (member, uniqueMember)")
	fs.StringVar(&d.GroupFilter, "ldap-group-filter", d.GroupFilter, "LDAP filter of the group entries")
	fs.StringVar(&d.DisabledAttr, "ldap-disabled-attr", d.DisabledAttr, "attribute that marks disabled accounts (Active Directory: userAccountControl)")
	fs.Int64Var(&d.DisabledBits, "ldap-disabled-bits", d.DisabledBits, "disabled when the attribute, as an integer, has any of these bits (Active Directory: 2)")
	fs.Var(listValue{&d.DisabledValues}, "ldap-disabled-value", "disabled when the attribute has this value, ignoring case (repeatable)")
	fs.IntVar(&d.PageSize, "ldap-page-size", d.PageSize, "entries per page of a paged search")
	fs.IntVar(&d.MaxEntries, "ldap-max-entries", d.MaxEntries, "most users one sync reads; more fail it")
	fs.DurationVar(&d.TimeLimit, "ldap-time-limit", d.TimeLimit, "time the directory may spend on one search (whole seconds)")
	fs.DurationVar(&d.Timeout, "ldap-timeout", d.Timeout, "time one exchange with the directory, a login's bind included, may take")
	fs.IntVar(&d.MaxSuspend, "ldap-max-suspend", d.MaxSuspend, "most users one sync may suspend (0: a tenth of the directory's users, at least 10)")
	fs.DurationVar(&d.Interval, "ldap-sync-interval", d.Interval, "how often pier serve syncs, one node at a time (0: never)")
	fs.BoolVar(&d.Auth, "ldap-auth", d.Auth, "check directory users' passwords against the directory")
}

// DirectoryFromEnv fills the directory settings from the file named by
// --ldap-config among args (wherever it is) or by PIER_LDAP_CONFIG, then
// from the PIER_LDAP_* variables; flags parsed afterwards override both.
// Only the commands that use the directory (serve, directory) call it.
func (c *Config) DirectoryFromEnv(args []string, getenv func(string) string) error {
	if err := c.loadDirectoryFile(args, getenv); err != nil {
		return err
	}
	c.Directory.FromEnv(getenv)
	return nil
}

func (c *Config) loadDirectoryFile(args []string, getenv func(string) string) error {
	path := getenv("PIER_LDAP_CONFIG")
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "ldap-config" {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil // the flag parser reports the missing value
			}
			i++
			value = args[i]
		}
		path = value
	}
	if path == "" {
		return nil
	}
	c.DirectoryFile = path
	return c.Directory.LoadFile(path)
}

// mapFlag is a repeatable KEY=VALUE flag; KEY may hold "=" (a DN), the
// last one separates.
type mapFlag struct{ m *map[string]string }

func (f mapFlag) String() string {
	if f.m == nil {
		return ""
	}
	var parts []string
	for k, v := range *f.m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

func (f mapFlag) Set(s string) error {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 || i == len(s)-1 {
		return fmt.Errorf("%q: want KEY=VALUE", s)
	}
	if *f.m == nil {
		*f.m = map[string]string{}
	}
	(*f.m)[strings.TrimSpace(s[:i])] = strings.TrimSpace(s[i+1:])
	return nil
}

// listValue is a repeatable string flag.
type listValue struct{ l *[]string }

func (f listValue) String() string {
	if f.l == nil {
		return ""
	}
	return strings.Join(*f.l, ",")
}

func (f listValue) Set(s string) error { *f.l = append(*f.l, s); return nil }
