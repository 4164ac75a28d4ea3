package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"pier/admin"
	"pier/identity"
	"pier/internal/untrusted"
)

const userUsage = `Usage: pier user COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add LOGIN --org SLUG [--role R] [--name N] [--email E]
      [--password-stdin | --generate-password] [--key FILE]
      [--expires 2027-01-31] [--cidr 10.0.0.0/8,...] [--protocols sftp,webdav] [--pending]
      [--ssh-compat]    create a user; nothing is written if any part is refused
  list [--org SLUG] [--inactive 60d] [--json]
                        --inactive: only accounts with no login for that long
  show LOGIN [--json]   (shows "password: set" or "none", never the hash)
  suspend LOGIN         stop an account
  activate LOGIN [--expires DATE|never]
                        reopen a suspended or expired account
  approve LOGIN         let a pending account work
  delete LOGIN          remove a user with their keys, memberships and grants
  ssh-compat LOGIN on|off
                        let the user log in through the SFTP compatibility
                        listener (--sftp-compat-addr), or stop it
  passwd LOGIN (--generate | --stdin)
                        set a new password (--generate prints it once)
  key add LOGIN FILE|- [--expires DATE] [--comment C]
                        add the keys of an authorized_keys file
  key list LOGIN [--json]
  key expire LOGIN FINGERPRINT DATE|never
  key remove LOGIN FINGERPRINT
  mfa enrol|remove|status LOGIN
                        TOTP and recovery codes (enrol prints them once)
  app-password add|list|revoke LOGIN [NAME]
                        named passwords for WebDAV, for accounts with MFA
  principals LOGIN [P1,P2|""]
                        SSH certificate principals that name the user
  import FILE.csv [--dry-run] [--json]
                        create or update users from CSV (see README)
  admin LOGIN --role super|org-admin|auditor|none [--org SLUG]
                        make a user an administrator of the admin API
  token add LOGIN NAME [--read-only] [--org SLUG] [--expires 90d]
                        make an API token (printed once); token list; token revoke ID
`

func userCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "user", userUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": userAdd, "list": userList, "show": userShow,
		"suspend": userStatus("suspend"), "activate": userStatus("activate"), "approve": userStatus("approve"),
		"delete": userDelete, "passwd": userPasswd, "key": userKey, "import": userImport, "admin": userAdminRole, "token": userToken,
		"ssh-compat": userSSHCompat, "mfa": userMFA, "app-password": userAppPassword, "principals": userPrincipals,
	})
}

// userAddFlags are the flags of "user add".
type userAddFlags struct {
	org, role, name, email, keyFile, expires, cidr, protocols string
	pwStdin, genPw, pending, sshCompat                        bool
}

func (f *userAddFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.org, "org", "", "slug of the user's organisation (required)")
	fs.StringVar(&f.role, "role", "", "job role within the organisation")
	fs.StringVar(&f.name, "name", "", "full name")
	fs.StringVar(&f.email, "email", "", "e-mail address")
	fs.BoolVar(&f.pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	fs.BoolVar(&f.genPw, "generate-password", false, "generate a strong password and print it once")
	fs.StringVar(&f.keyFile, "key", "", "authorized_keys file with the user's SSH public keys")
	fs.StringVar(&f.expires, "expires", "", "last day (UTC) the account works, 2027-01-31")
	fs.StringVar(&f.cidr, "cidr", "", "networks the user may connect from, 10.0.0.0/8,192.0.2.7")
	fs.StringVar(&f.protocols, "protocols", "", "protocols the user may use: sftp, webdav (default both)")
	fs.BoolVar(&f.pending, "pending", false, "create the account pending approval")
	fs.BoolVar(&f.sshCompat, "ssh-compat", false, "let the user log in through the SFTP compatibility listener (older algorithms)")
}

func userAdd(ctx context.Context, args []string, io stdio) error {
	var f userAddFlags
	cfg, pos, err := parseAdmin("user add", "LOGIN --org SLUG [flags]", 1, args, f.register)
	if err != nil {
		return err
	}
	if f.org == "" {
		return usageError{"user add: --org is required"}
	}
	if f.pwStdin && f.genPw {
		return usageError{"user add: give only one of --password-stdin, --generate-password"}
	}
	if f.pwStdin && f.keyFile == "-" {
		return usageError{"user add: --password-stdin and --key - cannot both read standard input"}
	}
	keys, err := readKeyFile(f.keyFile, io.in)
	if err != nil {
		return err
	}
	in := admin.UserInput{Login: pos[0], Org: f.org, Role: f.role, Name: f.name, Email: f.email, Keys: keys,
		GeneratePassword: f.genPw, Expires: f.expires, CIDRs: f.cidr, Protocols: f.protocols, Pending: f.pending,
		SSHCompat: f.sshCompat}
	if f.pwStdin {
		if in.Password, err = readPassword(io.in); err != nil {
			return err
		}
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	u, generated, err := a.ops.AddUser(ctx, a.actor(ctx), in)
	if err != nil {
		return fields(err, "org", "cidr", "protocols", "expires")
	}
	n := 0
	if keys != "" {
		parsed, _ := admin.ParseKeys(keys)
		n = len(parsed)
	}
	fmt.Fprintf(a.out, "user %s created in %s (%s, %d key(s), password %s)\n", u.Login, u.Org, u.Status, n, u.Password)
	reveal(a.out, u.Login, generated)
	return nil
}

// restriction shows a network or protocol restriction for show.
func restriction(j admin.UserDetail, name string, values []string) string {
	if slices.Contains(j.Unreadable, name) {
		return "unreadable in the database: every login and action is refused"
	}
	return orText(strings.Join(values, ", "), "any")
}

func userList(ctx context.Context, args []string, io stdio) error {
	var org, inactive string
	var asJSON bool
	a, _, err := openCommand(ctx, io, "user list", "[--org SLUG] [--inactive 60d] [--json]", 0, args, func(fs *flag.FlagSet) {
		fs.StringVar(&org, "org", "", "only the users of this organisation")
		fs.StringVar(&inactive, "inactive", "", "only accounts with no login (or, never used, no activation) for this long: 60d, 36h")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	var idle time.Duration
	if inactive != "" {
		if idle, err = parseAge(inactive); err != nil {
			return usageError{"user list: --inactive: " + err.Error()}
		}
	}
	users, err := a.ops.ListUsers(ctx, a.actor(ctx), org)
	if err != nil {
		return fields(err, "org")
	}
	if inactive != "" {
		now := time.Now()
		users = slices.DeleteFunc(users, func(u admin.UserView) bool {
			t, err := time.Parse(time.RFC3339, u.LastActive)
			return err == nil && now.Sub(t) < idle
		})
	}
	if asJSON {
		return printJSON(a.out, users)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tORG\tROLE\tSTATUS\tPASSWORD\tLAST LOGIN\tNAME\tEMAIL")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Login, u.Org, dash(u.Role), statusText(u), u.Password,
			orText(dateText(u.LastLogin), "never"), dash(u.Name), dash(u.Email))
	}
	return tw.Flush()
}

// statusText is a status, with the reason a job gave it.
// statusText is a status, with the reason a job gave it.
func statusText(u admin.UserView) string {
	if u.StatusReason != "" {
		return u.Status + " (" + u.StatusReason + ")"
	}
	return u.Status
}

// dateText shortens a view's RFC 3339 time to its date.
func dateText(t string) string {
	d, _, _ := strings.Cut(t, "T")
	return d
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func userShow(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, pos, err := openCommand(ctx, io, "user show", "LOGIN [--json]", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	j, err := a.ops.GetUser(ctx, a.actor(ctx), pos[0])
	if err != nil {
		return fmt.Errorf("user show: %w", err)
	}
	if asJSON {
		return printJSON(a.out, j)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 1, ' ', 0)
	for _, kv := range [][2]string{
		{"login", j.Login}, {"name", dash(j.Name)}, {"email", dash(j.Email)}, {"org", j.Org}, {"role", dash(j.Role)},
		{"status", j.Status}, {"password", j.Password}, {"keys", fmt.Sprint(j.Keys)},
		{"groups", orNone(strings.Join(j.Groups, ", "))}, {"expires", orText(j.Expires, "never")},
		{"cidrs", restriction(j, identity.RestrictNetwork, j.CIDRs)}, {"protocols", restriction(j, identity.RestrictProtocol, j.Protocols)},
		{"ssh compat", sshCompatText(j.SSHCompat, j.SSHCompatVia)},
		{"created", j.Created}, {"last login", orText(j.LastLogin, "never")},
		{"administrator", orText(strings.TrimSpace(j.AdminRole+" "+j.AdminOrg), "no")}, {"source", sourceText(j)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

// sourceText says where an account comes from, for show.
func sourceText(j admin.UserDetail) string {
	if j.Source == "pier" {
		return "pier (made by an administrator)"
	}
	return fmt.Sprintf("%s, entry %s (%s in the directory)", j.Source, untrusted.Text(j.SourceDN), j.SourceState)
}

func orNone(s string) string { return orText(s, "none") }

func orText(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

// userStatus returns the command that moves an account to another status.
func userStatus(verb string) func(context.Context, []string, stdio) error {
	return func(ctx context.Context, args []string, io stdio) error {
		var expires string
		a, pos, err := openCommand(ctx, io, "user "+verb, "LOGIN", 1, args, func(fs *flag.FlagSet) {
			if verb == "activate" {
				fs.StringVar(&expires, "expires", "", `new last day of the account (2027-01-31), or "never"`)
			}
		})
		if err != nil {
			return err
		}
		defer a.Close()
		u, err := a.ops.SetStatus(ctx, a.actor(ctx), pos[0], verb, expires)
		if err != nil {
			return fmt.Errorf("user %s: %w", verb, fields(err, "expires"))
		}
		fmt.Fprintf(a.out, "user %s is %s\n", u.Login, u.Status)
		return nil
	}
}

func userDelete(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user delete", "LOGIN", 1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ops.DeleteUser(ctx, a.actor(ctx), pos[0]); err != nil {
		return fmt.Errorf("user delete: %w", err)
	}
	fmt.Fprintf(a.out, "user %s deleted\n", identity.CanonicalLogin(pos[0]))
	return nil
}

func userAdminRole(ctx context.Context, args []string, io stdio) error {
	var role, org string
	a, pos, err := openCommand(ctx, io, "user admin", "LOGIN --role super|org-admin|auditor|none [--org SLUG]", 1, args, func(fs *flag.FlagSet) {
		fs.StringVar(&role, "role", "", "super, org-admin, auditor or none (required)")
		fs.StringVar(&org, "org", "", "the organisation subtree an org-admin or auditor acts on (default: the user's organisation for an org-admin, all for an auditor)")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if role == "" {
		return usageError{"user admin: --role is required"}
	}
	r, err := admin.ParseRole(role)
	if err != nil {
		return fields(err, "role")
	}
	if err := a.ops.SetAdminRole(ctx, a.actor(ctx), pos[0], r, org); err != nil {
		return fmt.Errorf("user admin: %w", fields(err, "org"))
	}
	if r == admin.RoleNone {
		fmt.Fprintf(a.out, "user %s is no longer an administrator\n", identity.CanonicalLogin(pos[0]))
		return nil
	}
	fmt.Fprintf(a.out, "user %s is %s %s\n", identity.CanonicalLogin(pos[0]), r, orText(org, ""))
	return nil
}

func sshCompatText(user, viaOrg bool) string {
	switch {
	case user:
		return "yes"
	case viaOrg:
		return "yes, through the organisation"
	}
	return "no"
}

// parseOnOff reads the on|off argument of the ssh-compat commands.
func parseOnOff(cmd, s string) (bool, error) {
	switch s {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, usageError{fmt.Sprintf("%s: want on or off, not %q", cmd, s)}
}

func userSSHCompat(ctx context.Context, args []string, io stdio) error {
	cfg, pos, err := parseAdmin("user ssh-compat", "LOGIN on|off", 2, args, nil)
	if err != nil {
		return err
	}
	on, err := parseOnOff("user ssh-compat", pos[1])
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.ops.UpdateUser(ctx, a.actor(ctx), pos[0], admin.UserPatch{SSHCompat: &on}, "")
	if err != nil {
		return fmt.Errorf("user ssh-compat: %w", err)
	}
	fmt.Fprintf(a.out, "user %s: ssh compatibility listener %s\n", u.Login, pos[1])
	return nil
}
