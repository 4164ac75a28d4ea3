package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"pier/admin"
	"pier/authz"
	"pier/identity"
)

const defenderUsage = `Usage: pier defender COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  list [--json]                     bans in force, sources with a score, accounts guessed at
  ban ADDRESS [--for 1h] [--reason R]
                                    ban an IPv4 address or IPv6 /64 on every node
  unban ADDRESS                     lift a ban and forget the source's score
`

func defenderCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "defender", defenderUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"list": defenderList, "ban": defenderBan, "unban": defenderUnban,
	})
}

func defenderList(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, _, err := openCommand(ctx, io, "defender list", "[--json]", 0, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	v, err := a.ops.Defender(ctx, a.actor(ctx), 50)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(a.out, v)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BANNED\tUNTIL\tBAN #\tREASON")
	for _, b := range v.Bans {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", b.Source, b.Until, b.Count, b.Reason)
	}
	fmt.Fprintln(tw, "\nSOURCE\tSCORE\tFAILURES\tLAST")
	for _, s := range v.Sources {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", s.Name, s.Score, s.Failures, s.Last)
	}
	fmt.Fprintln(tw, "\nACCOUNT\tFAILURES\tGUARDED\tLAST")
	for _, s := range v.Accounts {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%s\n", s.Name, s.Failures, s.Guarded, s.Last)
	}
	return tw.Flush()
}

func defenderBan(ctx context.Context, args []string, io stdio) error {
	var length time.Duration
	var reason string
	a, pos, err := openCommand(ctx, io, "defender ban", "ADDRESS [--for 1h] [--reason R]", 1, args, func(fs *flag.FlagSet) {
		fs.DurationVar(&length, "for", 0, "length of the ban (default: the next ban's usual length)")
		fs.StringVar(&reason, "reason", "", "why, for the log and the list")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if length < 0 {
		return usageError{"defender ban: --for must not be negative"}
	}
	b, err := a.ops.Ban(ctx, a.actor(ctx), pos[0], length, reason)
	if err != nil {
		return fmt.Errorf("defender ban: %w", err)
	}
	fmt.Fprintf(a.out, "%s banned until %s\n", b.Source, b.Until)
	return nil
}

func defenderUnban(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "defender unban", "ADDRESS", 1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	err = a.ops.Unban(ctx, a.actor(ctx), pos[0])
	if err != nil && !errors.Is(err, admin.ErrNotFound) {
		return fmt.Errorf("defender unban: %w", err)
	}
	if err != nil {
		fmt.Fprintf(a.out, "%s was not banned; its score is cleared\n", pos[0])
		return nil
	}
	fmt.Fprintf(a.out, "%s unbanned\n", pos[0])
	return nil
}

const certUsage = `Usage: pier cert COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  revoke   (--serial N | --key-id ID | --key FILE|SHA256:…) [--reason R]
                          refuse SSH user certificates: by serial, by key ID, or by
                          the certified key (or a CA's key: all it signed); sessions
                          that logged in with one end within seconds
  unrevoke (--serial N | --key-id ID | --key FILE|SHA256:…)
  list [--json]
`

func certCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "cert", certUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"revoke": certRevoke(true), "unrevoke": certRevoke(false), "list": certList,
	})
}

func certRevoke(revoke bool) func(context.Context, []string, stdio) error {
	verb := map[bool]string{true: "revoke", false: "unrevoke"}[revoke]
	return func(ctx context.Context, args []string, io stdio) error {
		var serial, keyID, key, reason string
		cfg, _, err := parseAdmin("cert "+verb, "(--serial N | --key-id ID | --key FILE|FINGERPRINT)", 0, args, func(fs *flag.FlagSet) {
			fs.StringVar(&serial, "serial", "", "certificate serial (decimal)")
			fs.StringVar(&keyID, "key-id", "", "certificate key ID (ssh-keygen -I)")
			fs.StringVar(&key, "key", "", "public key file, or fingerprint SHA256:…, of the certified key or of a CA")
			if revoke {
				fs.StringVar(&reason, "reason", "", "why")
			}
		})
		if err != nil {
			return err
		}
		if err := oneOf("cert "+verb, map[string]bool{"serial": serial != "", "key-id": keyID != "", "key": key != ""}); err != nil {
			return err
		}
		r, err := revocation(serial, keyID, key, io.in)
		if err != nil {
			return err
		}
		a, err := openAdmin(ctx, cfg, io)
		if err != nil {
			return err
		}
		defer a.Close()
		if revoke {
			err = a.ops.RevokeCert(ctx, a.actor(ctx), r, reason)
		} else {
			err = a.ops.UnrevokeCert(ctx, a.actor(ctx), r)
		}
		if err != nil {
			return fmt.Errorf("cert %s: %w", verb, err)
		}
		fmt.Fprintf(a.out, "certificates with %s %s: %sd\n", r.Kind, r.Value, verb)
		return nil
	}
}

// revocation builds the revocation the flags name; a key is read from a
// file unless it is given as a fingerprint.
func revocation(serial, keyID, key string, stdin io.Reader) (authz.Revocation, error) {
	switch {
	case serial != "":
		return identity.ParseRevocation(string(authz.RevokeSerial), serial)
	case keyID != "":
		return identity.ParseRevocation(string(authz.RevokeKeyID), keyID)
	}
	if !strings.HasPrefix(key, "SHA256:") {
		text, err := readKeyFile(key, stdin) // "-": standard input
		if err != nil {
			return authz.Revocation{}, err
		}
		keys, err := admin.ParseKeys(text)
		if err != nil {
			return authz.Revocation{}, flagErr("key", err)
		}
		key = keys[0].Fingerprint
	}
	r, err := identity.ParseRevocation(string(authz.RevokeKey), key)
	return r, flagErr("key", err)
}

func certList(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, _, err := openCommand(ctx, io, "cert list", "[--json]", 0, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	rs, err := a.ops.CertRevocations(ctx, a.actor(ctx))
	if err != nil {
		return err
	}
	type rj struct {
		Kind    string `json:"kind"`
		Value   string `json:"value"`
		Reason  string `json:"reason"`
		Created string `json:"created"`
	}
	out := []rj{}
	for _, r := range rs {
		out = append(out, rj{string(r.Kind), r.Value, r.Reason, admin.TimeText(r.Created)})
	}
	if asJSON {
		return printJSON(a.out, out)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVOKED BY\tVALUE\tSINCE\tREASON")
	for _, r := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Kind, r.Value, r.Created, dash(r.Reason))
	}
	return tw.Flush()
}

const lifecycleUsage = `Usage: pier lifecycle COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  run [--dry-run] [--inactive-days N] [--delete-inactive-days N]
        suspend accounts inactive for longer than their organisation's policy
        (else --inactive-days, default 90) allows, and delete those suspended
        for inactivity longer than --delete-inactive-days (default never) ago,
        now, unless a node is running the job
`

func lifecycleCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "lifecycle", lifecycleUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"run": lifecycleRun,
	})
}

func lifecycleRun(ctx context.Context, args []string, io stdio) error {
	var dryRun bool
	var days, deleteDays int
	cfg, _, err := parseAdmin("lifecycle run", "[--dry-run]", 0, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&dryRun, "dry-run", false, "report, change nothing")
		fs.IntVar(&days, "inactive-days", 90, "days without login before suspension, where the organisation sets none (-1: never)")
		fs.IntVar(&deleteDays, "delete-inactive-days", -1, "days after a suspension for inactivity before deletion, where the organisation sets none (-1: never)")
	})
	if err != nil {
		return err
	}
	if days == 0 || deleteDays == 0 {
		return usageError{"lifecycle run: days must be a number of days, or -1 for never"}
	}
	cfg.Policy.InactiveDays, cfg.Policy.DeleteDays = days, deleteDays
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.node.Lifecycle.Once(ctx, 0, dryRun)
	if err != nil {
		return fmt.Errorf("lifecycle run: %w", err)
	}
	if !r.Ran {
		return errors.New("lifecycle run: a node holds the job's lease (it runs the job now or ran it within its interval)")
	}
	would := map[bool]string{true: "would be ", false: ""}[dryRun]
	fmt.Fprintf(a.out, "%d account(s) %ssuspended for inactivity: %s\n", len(r.Suspended), would, orNone(strings.Join(r.Suspended, ", ")))
	fmt.Fprintf(a.out, "%d account(s) %sdeleted: %s\n", len(r.Deleted), would, orNone(strings.Join(r.Deleted, ", ")))
	return nil
}

// daysText shows days as pier's flags take them.
func daysText(n int) string {
	switch {
	case n < 0:
		return "never"
	case n == 0:
		return "inherited"
	}
	return strconv.Itoa(n) + " days"
}
