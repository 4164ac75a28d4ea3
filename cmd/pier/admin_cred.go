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

	"pier/admin"
	"pier/credential"
	"pier/identity"
)

// reveal prints a generated password, the one time it is ever shown.
func reveal(w io.Writer, login, password string) {
	if password == "" {
		return
	}
	fmt.Fprintf(w, "password for %s: %s\n", login, password)
	fmt.Fprintln(w, "This password will not be shown again: hand it over now; pier stores only its hash.")
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

// readKeyFile reads an authorized_keys file ("-": standard input; "": no
// file) for the admin layer to parse.
func readKeyFile(path string, stdin io.Reader) (string, error) {
	if path == "" {
		return "", nil
	}
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--key: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return "", fmt.Errorf("key file %s: %w", path, err)
	}
	if _, err := admin.ParseKeys(string(b)); err != nil {
		var fe *identity.FieldError
		if errors.As(err, &fe) {
			return "", fmt.Errorf("key file %s: %s", path, fe.Msg)
		}
		return "", fmt.Errorf("key file %s: %w", path, err)
	}
	return string(b), nil
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
	var pw string
	if fromStdin {
		if pw, err = readPassword(io.in); err != nil {
			return err
		}
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	generated, err := a.ops.SetPassword(ctx, a.actor(ctx), pos[0], pw, generate)
	if err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	login := identity.CanonicalLogin(pos[0])
	fmt.Fprintf(a.out, "password of %s changed\n", login)
	reveal(a.out, login, generated)
	return nil
}

const keyUsage = `Usage: pier user key COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add    LOGIN FILE|-          add the keys of an authorized_keys file (- reads standard input)
  list   LOGIN [--json]        list a user's keys
  remove LOGIN FINGERPRINT     remove a key (SHA256:…, as list shows it)
`

func userKey(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "user key", keyUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": keyAdd, "list": keyList, "remove": keyRemove,
	})
}

func keyAdd(ctx context.Context, args []string, io stdio) error {
	cfg, pos, err := parseAdmin("user key add", "LOGIN FILE|-", 2, args, nil)
	if err != nil {
		return err
	}
	text, err := readKeyFile(pos[1], io.in)
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	before, err := a.ops.ListKeys(ctx, a.actor(ctx), pos[0])
	if err != nil {
		return fmt.Errorf("user key add: %w", err)
	}
	after, err := a.ops.AddKeys(ctx, a.actor(ctx), pos[0], text)
	if err != nil {
		return fmt.Errorf("user key add: %w", err)
	}
	for _, k := range after[len(before):] {
		fmt.Fprintf(a.out, "key %s (%s) added to %s\n", k.Fingerprint, k.Type, identity.CanonicalLogin(pos[0]))
	}
	return nil
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
	keys, err := a.ops.ListKeys(ctx, a.actor(ctx), pos[0])
	if err != nil {
		return fmt.Errorf("user key list: %w", err)
	}
	if asJSON {
		return printJSON(a.out, keys)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tTYPE\tCOMMENT\tCREATED\tEXPIRES\tLAST USED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, k.Type, dash(k.Comment), k.Created, orText(k.Expires, "never"), orText(k.LastUsed, "never"))
	}
	return tw.Flush()
}

func keyRemove(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user key remove", "LOGIN FINGERPRINT", 2, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ops.RemoveKey(ctx, a.actor(ctx), pos[0], pos[1]); err != nil {
		return fmt.Errorf("user key remove: %w", err)
	}
	fmt.Fprintf(a.out, "key %s removed from %s\n", pos[1], identity.CanonicalLogin(pos[0]))
	return nil
}

const tokenUsage = `Usage: pier user token COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add LOGIN NAME [--read-only] [--org SLUG] [--expires 90d]
                   make an API token for an administrator; it is printed once
  list [--json]    every token (never its secret)
  revoke ID        revoke a token for good
`

func userToken(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "user token", tokenUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": tokenAdd, "list": tokenList, "revoke": tokenRevoke,
	})
}

// parseAge reads a duration with days: "90d", "36h", "1h30m".
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err == nil && n > 0 && fmt.Sprint(n) == d {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration (want 90d or 36h)", clipArg(s))
	}
	return d, nil
}

func tokenAdd(ctx context.Context, args []string, io stdio) error {
	var readOnly bool
	var org, expires string
	a, pos, err := openCommand(ctx, io, "user token add", "LOGIN NAME [--read-only] [--org SLUG] [--expires 90d]", 2, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&readOnly, "read-only", false, "the token only reads")
		fs.StringVar(&org, "org", "", "narrow the token to this organisation subtree")
		fs.StringVar(&expires, "expires", "", "the token stops working after this long (90d, 36h)")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	in := admin.TokenInput{Login: pos[0], Name: pos[1], ReadOnly: readOnly, Org: org}
	if expires != "" {
		if in.Expires, err = parseAge(expires); err != nil {
			return fmt.Errorf("--expires: %w", err)
		}
	}
	t, text, err := a.ops.AddToken(ctx, a.actor(ctx), in)
	if err != nil {
		return fmt.Errorf("user token add: %w", fields(err, "org"))
	}
	fmt.Fprintf(a.out, "token %d (%s) for %s: %s\n", t.ID, t.Name, t.Login, text)
	fmt.Fprintln(a.out, "This token will not be shown again: pier stores only its hash.")
	return nil
}

func tokenList(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, _, err := openCommand(ctx, io, "user token list", "[--json]", 0, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	tokens, err := a.ops.ListTokens(ctx, a.actor(ctx))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(a.out, tokens)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLOGIN\tNAME\tSCOPE\tEXPIRES\tLAST USED\tREVOKED")
	for _, t := range tokens {
		scope := "write"
		if t.ReadOnly {
			scope = "read"
		}
		if t.Org != "" {
			scope += " " + t.Org
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Login, t.Name, scope, orText(t.Expires, "never"), orText(t.LastUsed, "never"), dash(t.Revoked))
	}
	return tw.Flush()
}

func tokenRevoke(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user token revoke", "ID", 1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	var id int64
	if _, err := fmt.Sscanf(pos[0], "%d", &id); err != nil || id <= 0 {
		return usageError{fmt.Sprintf("user token revoke: %q is not a token number", clipArg(pos[0]))}
	}
	if err := a.ops.RevokeToken(ctx, a.actor(ctx), id); err != nil {
		return fmt.Errorf("user token revoke: %w", err)
	}
	fmt.Fprintf(a.out, "token %d revoked\n", id)
	return nil
}
