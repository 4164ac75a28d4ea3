package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"pier/authz"
	"pier/identity"
	"pier/internal/untrusted"
)

const userUsage = `Usage: pier user COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add LOGIN --org SLUG [--role R] [--name N] [--email E]
      [--password-stdin | --generate-password] [--key FILE]
      [--expires 2027-01-31] [--cidr 10.0.0.0/8,...] [--protocols sftp,webdav] [--pending]
                        create a user; nothing is written if any part is refused
  list [--org SLUG] [--json]
  show LOGIN [--json]   (shows "password: set" or "none", never the hash)
  suspend LOGIN         stop an account
  activate LOGIN [--expires DATE|never]
                        reopen a suspended or expired account
  approve LOGIN         let a pending account work
  delete LOGIN          remove a user with their keys, memberships and grants
  passwd LOGIN (--generate | --stdin)
                        set a new password (--generate prints it once)
  key add LOGIN FILE|-  add the keys of an authorized_keys file
  key list LOGIN [--json]
  key remove LOGIN FINGERPRINT
  import FILE.csv [--dry-run] [--json]
                        create or update users from CSV (see README)
`

func userCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "user", userUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": userAdd, "list": userList, "show": userShow,
		"suspend": userStatus("suspend"), "activate": userStatus("activate"), "approve": userStatus("approve"),
		"delete": userDelete, "passwd": userPasswd, "key": userKey, "import": userImport,
	})
}

// userAddFlags are the flags of "user add".
type userAddFlags struct {
	org, role, name, email, keyFile, expires, cidr, protocols string
	pwStdin, genPw, pending                                   bool
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
}

// user builds the account the flags describe, checking every field.
func (f *userAddFlags) user(login string, now time.Time) (identity.User, error) {
	u := identity.User{Login: login, Org: f.org, Role: f.role, Name: f.name, Email: f.email, Status: authz.StatusActive}
	if f.pending {
		u.Status = authz.StatusPending
	}
	if err := identity.CheckUser(u); err != nil {
		return u, err
	}
	var err error
	if u.CIDRs, err = identity.ParseCIDRs(f.cidr); err != nil {
		return u, flagErr("cidr", err)
	}
	if u.Protocols, err = identity.ParseProtocols(f.protocols); err != nil {
		return u, flagErr("protocols", err)
	}
	if f.expires != "" {
		if u.Expires, err = parseExpires(f.expires, now); err != nil {
			return u, err
		}
	}
	return u, nil
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
	u, err := f.user(pos[0], time.Now())
	if err != nil {
		return err
	}
	keys, err := readKeyFile(f.keyFile, io.in)
	if err != nil {
		return err
	}
	pw, err := newPassword(f.pwStdin, f.genPw, io.in, u)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = hashPassword(ctx, pw.clear); err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	if u, err = a.addUser(ctx, u, keys); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "user %s created in %s (%s, %d key(s), password %s)\n", u.Login, u.Org, u.Status, len(keys), passwordState(u))
	pw.reveal(a.out, u.Login)
	return nil
}

// addUser creates the user, then attaches the keys; if a key is refused the
// user is deleted again, so that nothing is half written.
func (a *admin) addUser(ctx context.Context, u identity.User, keys []identity.Key) (identity.User, error) {
	if err := a.checkKeysFree(ctx, u.Login, keys); err != nil {
		return u, err
	}
	u, err := a.ids.AddUser(ctx, u)
	if err != nil {
		return u, fmt.Errorf("user add: %w", err)
	}
	if err := a.addKeys(ctx, u.Login, keys); err != nil {
		if derr := a.ids.DeleteUser(context.WithoutCancel(ctx), u.Login); derr != nil {
			return u, fmt.Errorf("user add %s: %w (and the half-made user could not be removed: %v)", u.Login, err, derr)
		}
		return u, fmt.Errorf("user add %s: %w", u.Login, err)
	}
	return u, nil
}

func passwordState(u identity.User) string {
	if u.PasswordHash != "" {
		return "set"
	}
	return "none"
}

// parseExpires reads the last day an account works, "2027-01-31" (it
// works until the end of that day, UTC), or an RFC 3339 time.
func parseExpires(s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err == nil {
		t = t.AddDate(0, 0, 1)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		return t, fmt.Errorf("--expires: %q is not a date (want 2027-01-31)", clipArg(s))
	}
	if !t.After(now) {
		return t, fmt.Errorf("--expires: %s is in the past", s)
	}
	return t.UTC(), nil
}

// clipArg shortens user input echoed in an error.
func clipArg(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// userJSON is a user as list and show print it; never the hash.
type userJSON struct {
	Login     string   `json:"login"`
	Name      string   `json:"name"`
	Email     string   `json:"email"`
	Org       string   `json:"org"`
	Role      string   `json:"role"`
	Status    string   `json:"status"`
	Password  string   `json:"password"` // "set" or "none"
	Expires   string   `json:"expires,omitempty"`
	CIDRs     []string `json:"cidrs"`
	Protocols []string `json:"protocols"`
	// Unreadable names stored restrictions that do not parse ("network",
	// "protocol"): the account is refused until they are set anew.
	Unreadable []string `json:"unreadable,omitempty"`
	Created    string   `json:"created"`
	LastLogin  string   `json:"last_login,omitempty"`
}

// userShowJSON is what show adds: the number of keys and the effective
// groups (direct and through organisation or role).
type userShowJSON struct {
	userJSON
	Keys   int      `json:"keys"`
	Groups []string `json:"groups"`
	// Source is who manages the account: "pier" (its administrators) or
	// "ldap" (the directory sync, from the entry SourceDN, which the
	// directory last said was SourceState: present, disabled or gone).
	Source      string `json:"source"`
	SourceDN    string `json:"source_dn,omitempty"`
	SourceState string `json:"source_state,omitempty"`
}

// sourceText says where an account comes from, for show.
func sourceText(j userShowJSON) string {
	if j.Source == "pier" {
		return "pier (made by an administrator)"
	}
	return fmt.Sprintf("%s, entry %s (%s in the directory)", j.Source, untrusted.Text(j.SourceDN), j.SourceState)
}

func toUserJSON(u identity.User) userJSON {
	j := userJSON{Login: u.Login, Name: u.Name, Email: u.Email, Org: u.Org, Role: u.Role,
		Status: u.Status.String(), Password: passwordState(u), Created: timeText(u.Created),
		CIDRs: []string{}, Protocols: []string{}, Unreadable: u.Unreadable}
	if !u.Expires.IsZero() {
		j.Expires = timeText(u.Expires)
	}
	if !u.LastLogin.IsZero() {
		j.LastLogin = timeText(u.LastLogin)
	}
	for _, c := range u.CIDRs {
		j.CIDRs = append(j.CIDRs, c.String())
	}
	for _, p := range u.Protocols {
		j.Protocols = append(j.Protocols, string(p))
	}
	return j
}

// restriction shows a network or protocol restriction for show.
func restriction(j userShowJSON, name string, values []string) string {
	if slices.Contains(j.Unreadable, name) {
		return "unreadable in the database: every login and action is refused"
	}
	return orText(strings.Join(values, ", "), "any")
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func userList(ctx context.Context, args []string, io stdio) error {
	var org string
	var asJSON bool
	a, _, err := openCommand(ctx, io, "user list", "[--org SLUG] [--json]", 0, args, func(fs *flag.FlagSet) {
		fs.StringVar(&org, "org", "", "only the users of this organisation")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if org != "" {
		if _, err := a.ids.GetOrg(ctx, org); err != nil {
			return flagErr("org", err)
		}
	}
	users, err := a.ids.ListUsers(ctx, org)
	if err != nil {
		return err
	}
	if asJSON {
		out := []userJSON{}
		for _, u := range users {
			out = append(out, toUserJSON(u))
		}
		return printJSON(a.out, out)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tORG\tROLE\tSTATUS\tPASSWORD\tNAME\tEMAIL")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Login, u.Org, dash(u.Role), u.Status, passwordState(u), dash(u.Name), dash(u.Email))
	}
	return tw.Flush()
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
	j, err := a.showUser(ctx, pos[0])
	if err != nil {
		return err
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
		{"created", j.Created}, {"last login", orText(j.LastLogin, "never")}, {"source", sourceText(j)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

// showUser gathers a user with their key count and effective groups.
func (a *admin) showUser(ctx context.Context, login string) (userShowJSON, error) {
	u, err := a.ids.GetUser(ctx, login)
	if err != nil {
		return userShowJSON{}, fmt.Errorf("user show: %w", err)
	}
	keys, err := a.ids.ListKeys(ctx, login)
	if err != nil {
		return userShowJSON{}, err
	}
	f, _, err := a.ids.Facts(ctx, login)
	if err != nil {
		return userShowJSON{}, err
	}
	j := userShowJSON{userJSON: toUserJSON(u), Keys: len(keys), Groups: append([]string{}, f.Groups...), Source: "pier"}
	if u.Source != "" {
		j.Source, j.SourceDN, j.SourceState = u.Source, u.SourceDN, string(u.SourceState)
	}
	return j, nil
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
		u, err := a.ids.UpdateUser(ctx, pos[0], func(u *identity.User) error { return transition(u, verb, expires, time.Now()) })
		if err != nil {
			return fmt.Errorf("user %s: %w", verb, err)
		}
		fmt.Fprintf(a.out, "user %s is %s\n", u.Login, u.Status)
		return nil
	}
}

// transition applies suspend, activate or approve to u, refusing a change
// that does not fit its status.
func transition(u *identity.User, verb, expires string, now time.Time) error {
	from := u.Status
	bad := func(want string) error {
		return &identity.FieldError{Field: "status", Msg: fmt.Sprintf("%s is %s; %s takes %s", u.Login, from, verb, want)}
	}
	switch verb {
	case "suspend":
		if from == authz.StatusSuspended {
			return bad("active, pending or expired accounts")
		}
		u.Status = authz.StatusSuspended
	case "approve":
		if from != authz.StatusPending {
			return bad("pending accounts")
		}
		u.Status = authz.StatusActive
	case "activate":
		if from != authz.StatusSuspended && from != authz.StatusExpired {
			return bad("suspended or expired accounts (a pending one needs approve)")
		}
		return activate(u, expires, now)
	}
	return nil
}

// activate reopens an account; one past its expiry needs a new --expires.
func activate(u *identity.User, expires string, now time.Time) error {
	switch expires {
	case "":
		if !u.Expires.IsZero() && !now.Before(u.Expires) {
			return &identity.FieldError{Field: "expires", Msg: fmt.Sprintf("%s expired at %s: give --expires DATE or --expires never", u.Login, timeText(u.Expires))}
		}
	case "never":
		u.Expires = time.Time{}
	default:
		t, err := parseExpires(expires, now)
		if err != nil {
			return err
		}
		u.Expires = t
	}
	u.Status = authz.StatusActive
	return nil
}

func userDelete(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user delete", "LOGIN", 1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ids.DeleteUser(ctx, pos[0]); err != nil {
		return fmt.Errorf("user delete: %w", err)
	}
	fmt.Fprintf(a.out, "user %s deleted\n", identity.CanonicalLogin(pos[0]))
	return nil
}
