package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	qrcode "github.com/skip2/go-qrcode"

	"pier/identity"
	"pier/mfa"
	"pier/secevent"
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
	var issuer string
	var noQR bool
	var keyFile string
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
	u, err := a.ids.GetUser(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("user mfa enrol: %w", err)
	}
	e, err := mfa.NewTOTP(issuer, u.Login)
	if err != nil {
		return err
	}
	codes, hashes := mfa.RecoveryCodes(10)
	if err := a.ids.SetTOTP(ctx, u.Login, sealer.Seal(u.ID, e.Secret), hashes); err != nil {
		return fmt.Errorf("user mfa enrol: %w", err)
	}
	a.node.Events.Record(ctx, secevent.Event{Kind: secevent.MFAEnrolled, Login: u.Login, Reason: "enrolled by an administrator"})
	fmt.Fprintf(a.out, "TOTP enrolled for %s. Scan the code or enter the URI in an authenticator app:\n\n%s\n\n", u.Login, e.URI)
	if !noQR {
		q, err := qrcode.New(e.URI, qrcode.Medium)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.out, q.ToSmallString(false))
	}
	fmt.Fprintln(a.out, "Recovery codes (each works once, in place of a code):")
	for _, c := range codes {
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
	if err := a.ids.RemoveTOTP(ctx, pos[0]); err != nil {
		return fmt.Errorf("user mfa remove: %w", err)
	}
	login := identity.CanonicalLogin(pos[0])
	a.node.Events.Record(ctx, secevent.Event{Kind: secevent.MFARemoved, Login: login, Reason: "removed by an administrator"})
	fmt.Fprintf(a.out, "second factor of %s removed\n", login)
	return nil
}

func mfaStatus(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "user mfa status", "LOGIN", 1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.ids.GetUser(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("user mfa status: %w", err)
	}
	t, err := a.ids.GetTOTP(ctx, u.ID)
	if errors.Is(err, identity.ErrNotFound) {
		fmt.Fprintf(a.out, "%s: no second factor\n", u.Login)
		return nil
	} else if err != nil {
		return err
	}
	left, err := a.ids.RecoveryCodesLeft(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "%s: TOTP since %s, %d recovery code(s) left\n", u.Login, timeText(t.Created), left)
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
	clear, hash := mfa.NewAppPassword()
	ap, err := a.ids.AddAppPassword(ctx, pos[0], pos[1], hash)
	if err != nil {
		return fmt.Errorf("user app-password add: %w", flagErr("name", err))
	}
	a.node.Events.Record(ctx, secevent.Event{Kind: secevent.AppPasswordAdded, Login: ap.Login, Detail: ap.Name})
	fmt.Fprintf(a.out, "app password %q for %s: %s\n", ap.Name, ap.Login, clear)
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
	aps, err := a.ids.AppPasswords(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("user app-password list: %w", err)
	}
	type apj struct {
		Name     string `json:"name"`
		Created  string `json:"created"`
		LastUsed string `json:"last_used,omitempty"`
	}
	out := []apj{}
	for _, ap := range aps {
		out = append(out, apj{ap.Name, timeText(ap.Created), timeText(ap.LastUsed)})
	}
	if asJSON {
		return printJSON(a.out, out)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tLAST USED")
	for _, ap := range out {
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
	if err := a.ids.RevokeAppPassword(ctx, pos[0], pos[1]); err != nil {
		return fmt.Errorf("user app-password revoke: %w", err)
	}
	login := identity.CanonicalLogin(pos[0])
	a.node.Events.Record(ctx, secevent.Event{Kind: secevent.AppPasswordGone, Login: login, Detail: pos[1]})
	fmt.Fprintf(a.out, "app password %q of %s revoked\n", pos[1], login)
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
	var u identity.User
	if len(pos) == 2 {
		var list []string
		for p := range strings.SplitSeq(pos[1], ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		u, err = a.ids.UpdateUser(ctx, pos[0], func(u *identity.User) error { u.Principals = list; return nil })
	} else {
		u, err = a.ids.GetUser(ctx, pos[0])
	}
	if err != nil {
		return fmt.Errorf("user principals: %w", err)
	}
	fmt.Fprintf(a.out, "certificate principals of %s: %s (and the login itself)\n", u.Login, orNone(strings.Join(u.Principals, ", ")))
	return nil
}
