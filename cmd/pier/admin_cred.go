package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"pier/credential"
	"pier/identity"
)

// password is a new password: typed by the administrator or generated.
type password struct {
	clear     string
	generated bool
}

// reveal prints a generated password, the one time it is ever shown.
func (p password) reveal(w io.Writer, login string) {
	if !p.generated {
		return
	}
	fmt.Fprintf(w, "password for %s: %s\n", login, p.clear)
	fmt.Fprintln(w, "This password will not be shown again: hand it over now; pier stores only its hash.")
}

// newPassword reads (fromStdin) or generates (generate) a password for u
// and checks it against the policy; with neither it returns no password.
func newPassword(fromStdin, generate bool, stdin io.Reader, u identity.User) (password, error) {
	switch {
	case generate:
		pw, err := credential.Generate()
		return password{clear: pw, generated: true}, err
	case !fromStdin:
		return password{}, nil
	}
	pw, err := readPassword(stdin)
	if err != nil {
		return password{}, err
	}
	if err := (credential.Policy{}).Check(pw, u.Login, u.Name, u.Email); err != nil {
		return password{}, err // "password must be at least 15 characters (got 9)"
	}
	return password{clear: pw}, nil
}

// readPassword reads the first line of r without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4*credential.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("password: reading standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("password: standard input has no password on its first line")
	}
	return line, nil
}

// hashPassword hashes a new password; no password gives no hash.
func hashPassword(ctx context.Context, pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	h, err := credential.NewHasher(credential.DefaultParams(), 1)
	if err != nil {
		return "", err
	}
	return h.Hash(ctx, pw)
}

// readKeyFile parses an authorized_keys file ("-": standard input; "": no
// file). Blank lines and # comments are skipped; any other line that is
// not an acceptable key fails the whole file, naming its line number.
func readKeyFile(path string, stdin io.Reader) ([]identity.Key, error) {
	if path == "" {
		return nil, nil
	}
	r := stdin
	if path != "-" {
		f, err := os.Open(path) // #nosec G304 G703 -- the administrator's command-line path
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		defer f.Close()
		r = f
	}
	keys, err := parseKeys(r)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return keys, nil
}

func parseKeys(r io.Reader) ([]identity.Key, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), credential.MaxAuthorizedLine+2)
	var keys []identity.Key
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := seen[k.Fingerprint]; dup {
			return nil, fmt.Errorf("line %d: the same key as line %d", n, first)
		}
		seen[k.Fingerprint] = n
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("after line %d keys: %w", len(keys), err)
	}
	if len(keys) == 0 {
		return nil, errors.New("no SSH public key in it")
	}
	return keys, nil
}

// parseKey reads one authorized_keys line.
func parseKey(line string) (identity.Key, error) {
	k, err := credential.ParseAuthorizedKey(line)
	if err != nil {
		return identity.Key{}, err
	}
	return identity.Key{Fingerprint: k.Fingerprint, Type: k.Type, PublicKey: k.AuthorizedKey, Comment: k.Comment}, nil
}

// checkKeysFree refuses keys that already belong to another user: a key
// names one identity.
func (a *admin) checkKeysFree(ctx context.Context, login string, keys []identity.Key) error {
	for _, k := range keys {
		owner, err := a.ids.KeyByFingerprint(ctx, k.Fingerprint)
		switch {
		case errors.Is(err, identity.ErrNotFound):
		case err != nil:
			return err
		case owner.Login != identity.CanonicalLogin(login):
			return fmt.Errorf("key: %s already belongs to user %s", k.Fingerprint, owner.Login)
		}
	}
	return nil
}

// addKeys attaches keys to a user; if one is refused, the ones just added
// are taken away again.
func (a *admin) addKeys(ctx context.Context, login string, keys []identity.Key) error {
	for i, k := range keys {
		if _, err := a.ids.AddKey(ctx, login, k); err != nil {
			for _, done := range keys[:i] {
				a.ids.RemoveKey(context.WithoutCancel(ctx), login, done.Fingerprint)
			}
			return fmt.Errorf("key %s: %w", k.Fingerprint, err)
		}
	}
	return nil
}

func userPasswd(ctx context.Context, args []string, io stdio) error {
	var generate, fromStdin bool
	cfg, pos, err := parseAdmin("user passwd", "LOGIN (--generate | --stdin)", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&generate, "generate", false, "generate a strong password and print it once")
		fs.BoolVar(&fromStdin, "stdin", false, "read the password from the first line of standard input")
	})
	if err != nil {
		return err
	}
	if err := oneOf("user passwd", map[string]bool{"generate": generate, "stdin": fromStdin}); err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.ids.GetUser(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	pw, err := newPassword(fromStdin, generate, io.in, u)
	if err != nil {
		return err
	}
	hash, err := hashPassword(ctx, pw.clear)
	if err != nil {
		return err
	}
	if _, err := a.ids.UpdateUser(ctx, u.Login, func(u *identity.User) error { u.PasswordHash = hash; return nil }); err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	fmt.Fprintf(a.out, "password of %s changed\n", u.Login)
	pw.reveal(a.out, u.Login)
	return nil
}

const keyUsage = `Usage: pier user key COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add    LOGIN FILE|- [--expires DATE] [--comment C]
                               add the keys of an authorized_keys file (- reads standard
                               input); an expired key is refused, and ends its sessions
  list   LOGIN [--json]        a user's keys: comment, created, expires, last used
  expire LOGIN FINGERPRINT DATE|never
                               set when a key stops working
  remove LOGIN FINGERPRINT     remove a key (SHA256:…, as list shows it)

Rotation: add the new key, let the client switch (both work), remove the old one.
`

func userKey(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "user key", keyUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": keyAdd, "list": keyList, "remove": keyRemove, "expire": keyExpire,
	})
}

func keyAdd(ctx context.Context, args []string, io stdio) error {
	var expires, comment string
	cfg, pos, err := parseAdmin("user key add", "LOGIN FILE|- [--expires DATE] [--comment C]", 2, args, func(fs *flag.FlagSet) {
		fs.StringVar(&expires, "expires", "", "last day (UTC) the keys work, 2027-01-31")
		fs.StringVar(&comment, "comment", "", "comment for the keys (default: the file's)")
	})
	if err != nil {
		return err
	}
	keys, err := readKeyFile(pos[1], io.in)
	if err != nil {
		return err
	}
	if len(comment) > 200 || strings.ContainsAny(comment, "\x00\r\n") {
		return usageError{"user key add: --comment: at most 200 characters on one line"}
	}
	for i := range keys {
		if expires != "" {
			if keys[i].Expires, err = parseExpires(expires, time.Now()); err != nil {
				return err
			}
		}
		if comment != "" {
			keys[i].Comment = comment
		}
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.ids.GetUser(ctx, pos[0]); err != nil {
		return fmt.Errorf("user key add: %w", err)
	}
	if err := a.checkKeysFree(ctx, pos[0], keys); err != nil {
		return err
	}
	if err := a.addKeys(ctx, pos[0], keys); err != nil {
		return err
	}
	for _, k := range keys {
		fmt.Fprintf(a.out, "key %s (%s) added to %s\n", k.Fingerprint, k.Type, identity.CanonicalLogin(pos[0]))
	}
	return nil
}

// keyJSON is a key as `user key list --json` prints it.
type keyJSON struct {
	Fingerprint string `json:"fingerprint"`
	Type        string `json:"type"`
	Comment     string `json:"comment"`
	Created     string `json:"created"`
	Expires     string `json:"expires,omitempty"`
	LastUsed    string `json:"last_used,omitempty"`
}

func keyList(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, pos, err := openCommand(ctx, io, "user key list", "LOGIN [--json]", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	keys, err := a.ids.ListKeys(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("user key list: %w", err)
	}
	out := []keyJSON{}
	for _, k := range keys {
		out = append(out, keyJSON{Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment,
			Created: timeText(k.Created), Expires: timeText(k.Expires), LastUsed: timeText(k.LastUsed)})
	}
	if asJSON {
		return printJSON(a.out, out)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tTYPE\tCOMMENT\tCREATED\tEXPIRES\tLAST USED")
	now := time.Now()
	for i, k := range out {
		exp := orText(k.Expires, "never")
		if e := keys[i].Expires; !e.IsZero() && !now.Before(e) {
			exp += " (expired)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, k.Type, dash(k.Comment), k.Created, exp, orText(k.LastUsed, "never"))
	}
	return tw.Flush()
}

func keyExpire(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user key expire", "LOGIN FINGERPRINT DATE|never", 3, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	var t time.Time
	if pos[2] != "never" {
		if t, err = parseExpires(pos[2], time.Now()); err != nil {
			return err
		}
	}
	if err := a.ids.SetKeyExpiry(ctx, pos[0], pos[1], t); err != nil {
		return fmt.Errorf("user key expire: %w", err)
	}
	fmt.Fprintf(a.out, "key %s of %s expires %s\n", pos[1], identity.CanonicalLogin(pos[0]), orText(timeText(t), "never"))
	return nil
}

func keyRemove(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user key remove", "LOGIN FINGERPRINT", 2, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ids.RemoveKey(ctx, pos[0], pos[1]); err != nil {
		return fmt.Errorf("user key remove: %w", err)
	}
	fmt.Fprintf(a.out, "key %s removed from %s\n", pos[1], identity.CanonicalLogin(pos[0]))
	return nil
}
