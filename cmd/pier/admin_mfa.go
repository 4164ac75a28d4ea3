package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	qrcode "github.com/skip2/go-qrcode"

	"pier/identity"
	"pier/mfa"
)

const mfaUsage = `Usage: pier user mfa COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  enrol  LOGIN [--issuer NAME] [--no-qr]
                  make a TOTP secret and 10 recovery codes; prints the otpauth URI,
                  a QR code and the codes once (pier keeps the secret sealed with
                  --mfa-key and only hashes of the codes); replaces an enrolment
  remove LOGIN    remove the user's second factor and recovery codes
  status LOGIN    enrolled or not, recovery codes left
`

func userMFA(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "user mfa", mfaUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"enrol": mfaEnrol, "enroll": mfaEnrol, "remove": mfaRemove, "status": mfaStatus,
	})
}

func mfaEnrol(ctx context.Context, args []string, io stdio) error {
	var issuer, keyFile string
	var noQR bool
	cfg, pos, err := parseAdmin("user mfa enrol", "LOGIN [--issuer NAME] [--no-qr]", 1, args, func(fs *flag.FlagSet) {
		fs.StringVar(&issuer, "issuer", "pier", "issuer name the authenticator app shows")
		fs.BoolVar(&noQR, "no-qr", false, "print the URI only")
		fs.StringVar(&keyFile, "mfa-key", "", "file with the key that seals TOTP secrets (default DATA/mfa.key, made if missing)")
	})
	if err != nil {
		return err
	}
	if keyFile != "" {
		cfg.MFAKey = keyFile
	}
	sealer, err := mfa.LoadKey(cfg.MFAKeyFile(), true)
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	e, err := a.ops.EnrolMFA(ctx, a.actor(ctx), pos[0], issuer, sealer)
	if err != nil {
		return fmt.Errorf("user mfa enrol: %w", err)
	}
	fmt.Fprintf(a.out, "TOTP enrolled for %s. Scan the code or enter the URI in an authenticator app:\n\n%s\n\n", e.Login, e.URI)
	if !noQR {
		q, err := qrcode.New(e.URI, qrcode.Medium)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.out, q.ToSmallString(false))
	}
	fmt.Fprintln(a.out, "Recovery codes (each works once, in place of a code):")
	for _, c := range e.Recovery {
		fmt.Fprintln(a.out, "  "+c)
	}
	fmt.Fprintf(a.out, "\nNone of this will be shown again. Every node needs the key file %s.\n", cfg.MFAKeyFile())
	return nil
}

func mfaRemove(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user mfa remove", "LOGIN", 1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ops.RemoveMFA(ctx, a.actor(ctx), pos[0]); err != nil {
		return fmt.Errorf("user mfa remove: %w", err)
	}
	fmt.Fprintf(a.out, "second factor of %s removed\n", identity.CanonicalLogin(pos[0]))
	return nil
}

func mfaStatus(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, pos, err := openCommand(ctx, io, "user mfa status", "LOGIN [--json]", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	v, err := a.ops.MFAStatus(ctx, a.actor(ctx), pos[0])
	if err != nil {
		return fmt.Errorf("user mfa status: %w", err)
	}
	if asJSON {
		return printJSON(a.out, v)
	}
	if !v.Enrolled {
		fmt.Fprintf(a.out, "%s: no second factor\n", v.Login)
		return nil
	}
	fmt.Fprintf(a.out, "%s: TOTP since %s, %d recovery code(s) left\n", v.Login, v.Since, v.RecoveryCodes)
	return nil
}

const appPasswordUsage = /* #nosec G101 -- usage text, not a credential */ `Usage: pier user app-password COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add    LOGIN NAME    make an app password (for WebDAV, which cannot ask for a code);
                       printed once, stored as a hash
  list   LOGIN [--json]
  revoke LOGIN NAME    requests and transfers that use it end within seconds
`

func userAppPassword(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "user app-password", appPasswordUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": appPasswordAdd, "list": appPasswordList, "revoke": appPasswordRevoke,
	})
}

func appPasswordAdd(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user app-password add", "LOGIN NAME", 2, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	clear, err := a.ops.AddAppPassword(ctx, a.actor(ctx), pos[0], pos[1])
	if err != nil {
		return fmt.Errorf("user app-password add: %w", err)
	}
	fmt.Fprintf(a.out, "app password %q for %s: %s\n", pos[1], identity.CanonicalLogin(pos[0]), clear)
	fmt.Fprintln(a.out, "It will not be shown again; it works for WebDAV in place of the password.")
	return nil
}

func appPasswordList(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, pos, err := openCommand(ctx, io, "user app-password list", "LOGIN [--json]", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	aps, err := a.ops.ListAppPasswords(ctx, a.actor(ctx), pos[0])
	if err != nil {
		return fmt.Errorf("user app-password list: %w", err)
	}
	if asJSON {
		return printJSON(a.out, aps)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tLAST USED")
	for _, ap := range aps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ap.Name, ap.Created, orText(ap.LastUsed, "never"))
	}
	return tw.Flush()
}

func appPasswordRevoke(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user app-password revoke", "LOGIN NAME", 2, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ops.RevokeAppPassword(ctx, a.actor(ctx), pos[0], pos[1]); err != nil {
		return fmt.Errorf("user app-password revoke: %w", err)
	}
	fmt.Fprintf(a.out, "app password %q of %s revoked\n", pos[1], identity.CanonicalLogin(pos[0]))
	return nil
}

// userPrincipals shows or sets the SSH certificate principals that name a
// user besides the login.
func userPrincipals(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user principals", `LOGIN [PRINCIPAL,...|""]`, -1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{`user principals: want LOGIN and optionally a list of principals ("" for none)`}
	}
	var principals []string
	if len(pos) == 2 {
		var list []string
		for p := range strings.SplitSeq(pos[1], ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		v, err := a.ops.SetPrincipals(ctx, a.actor(ctx), pos[0], list)
		if err != nil {
			return fmt.Errorf("user principals: %w", err)
		}
		principals = v.Principals
	} else {
		d, err := a.ops.GetUser(ctx, a.actor(ctx), pos[0])
		if err != nil {
			return fmt.Errorf("user principals: %w", err)
		}
		principals = d.Principals
	}
	fmt.Fprintf(a.out, "certificate principals of %s: %s (and the login itself)\n", identity.CanonicalLogin(pos[0]), orNone(strings.Join(principals, ", ")))
	return nil
}
