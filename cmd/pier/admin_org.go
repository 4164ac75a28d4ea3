package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"pier/admin"
	"pier/identity"
)

const orgUsage = `Usage: pier org COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add  SLUG [--parent SLUG] [--name N] [--kind internal|partner|customer] [--ssh-compat]
                  create an organisation and its folder /SLUG; the kind
                  defaults to the parent's, else partner
  ssh-compat SLUG on|off
                  let the organisation's users (and those of the ones below
                  it) log in through the SFTP compatibility listener
  move SLUG --parent SLUG|""
                  put an organisation under another one (or at the top)
  list [--json]   print the organisation tree
  policy SLUG [--mfa off|admins|staff|all|inherit] [--mfa-keys yes|no|inherit]
       [--inactive-days N|inherit] [--delete-inactive-days N|inherit] [--json]
                  set an organisation's security policy (for it and the
                  organisations below that set none); without flags, show it
                  (days: -1 means never)
`

func orgCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "org", orgUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": orgAdd, "move": orgMove, "list": orgList, "ssh-compat": orgSSHCompat, "policy": orgPolicy,
	})
}

func orgAdd(ctx context.Context, args []string, io stdio) error {
	var in admin.OrgInput
	cfg, pos, err := parseAdmin("org add", "SLUG [--parent SLUG] [--name N] [--kind K] [--ssh-compat]", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&in.SSHCompat, "ssh-compat", false, "let its users log in through the SFTP compatibility listener")
		fs.StringVar(&in.Parent, "parent", "", "slug of the parent organisation")
		fs.StringVar(&in.Name, "name", "", "display name (default: the slug)")
		fs.StringVar(&in.Kind, "kind", "", "internal, partner or customer (default: the parent's kind, else partner)")
	})
	if err != nil {
		return err
	}
	in.Slug = pos[0]
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	o, err := a.ops.AddOrg(ctx, a.actor(ctx), in)
	if err != nil {
		return fmt.Errorf("org add: %w", fields(err, "parent", "kind"))
	}
	fmt.Fprintf(a.out, "organisation %s (%s) created with folder /%s\n", o.Slug, o.Kind, o.Slug)
	return nil
}

func orgMove(ctx context.Context, args []string, io stdio) error {
	parent := "\x00"
	cfg, pos, err := parseAdmin("org move", `SLUG --parent SLUG|""`, 1, args, func(fs *flag.FlagSet) {
		fs.StringVar(&parent, "parent", parent, `slug of the new parent; "" for the top level`)
	})
	if err != nil {
		return err
	}
	if parent == "\x00" {
		return usageError{`org move: --parent is required (--parent "" moves to the top level)`}
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ops.MoveOrg(ctx, a.actor(ctx), pos[0], parent); err != nil {
		return fields(err, "parent")
	}
	fmt.Fprintf(a.out, "organisation %s moved under %q\n", pos[0], parent)
	return nil
}

func orgList(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, _, err := openCommand(ctx, io, "org list", "[--json]", 0, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	tree, err := a.ops.ListOrgs(ctx, a.actor(ctx))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(a.out, tree)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	for _, o := range tree {
		mark := ""
		if o.SSHCompat {
			mark = "\tssh-compat"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s%s\n", strings.Repeat("  ", o.Depth), o.Slug, o.Kind, o.Name, mark)
	}
	return tw.Flush()
}

func orgSSHCompat(ctx context.Context, args []string, io stdio) error {
	cfg, pos, err := parseAdmin("org ssh-compat", "SLUG on|off", 2, args, nil)
	if err != nil {
		return err
	}
	on, err := parseOnOff("org ssh-compat", pos[1])
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ops.SetOrgSSHCompat(ctx, a.actor(ctx), pos[0], on); err != nil {
		return fmt.Errorf("org ssh-compat: %w", err)
	}
	fmt.Fprintf(a.out, "organisation %s: ssh compatibility listener %s\n", pos[0], pos[1])
	return nil
}

func orgPolicy(ctx context.Context, args []string, io stdio) error {
	var mfaRule, mfaKeys, inactive, del string
	var asJSON bool
	a, pos, err := openCommand(ctx, io, "org policy", "SLUG [flags]", 1, args, func(fs *flag.FlagSet) {
		fs.StringVar(&mfaRule, "mfa", "", "whom a second factor is required of: off, admins (administrator roles), staff (internal organisations and administrators), all; inherit")
		fs.StringVar(&mfaKeys, "mfa-keys", "", "yes: a code after a key or certificate too; no; inherit")
		fs.StringVar(&inactive, "inactive-days", "", "suspend accounts with no login for this many days (-1: never); inherit")
		fs.StringVar(&del, "delete-inactive-days", "", "delete accounts this many days after their suspension for inactivity (-1: never); inherit")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	v, err := a.ops.OrgPolicy(ctx, a.actor(ctx), pos[0], identity.Policy{})
	if err != nil {
		return fmt.Errorf("org policy: %w", err)
	}
	if mfaRule != "" || mfaKeys != "" || inactive != "" || del != "" {
		p, err := changePolicy(v.Own, mfaRule, mfaKeys, inactive, del)
		if err != nil {
			return err
		}
		if err := a.ops.SetOrgPolicy(ctx, a.actor(ctx), pos[0], p); err != nil {
			return fmt.Errorf("org policy: %w", fields(err, "mfa", "mfa-keys"))
		}
		if v, err = a.ops.OrgPolicy(ctx, a.actor(ctx), pos[0], identity.Policy{}); err != nil {
			return err
		}
	}
	p, eff := v.Own, v.Effective
	rule := func(r identity.MFARule) string { return orText(string(r), "node default (--mfa)") }
	keys := func(s string) string { return orText(s, "node default (--mfa-keys)") }
	days := func(n int, flag string) string {
		if n == 0 {
			return "node default (" + flag + ")"
		}
		return daysText(n)
	}
	if asJSON {
		return printJSON(a.out, v)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "policy of %s\town\teffective\n", pos[0])
	fmt.Fprintf(tw, "mfa:\t%s\t%s\n", orText(string(p.MFA), "inherit"), rule(eff.MFA))
	fmt.Fprintf(tw, "mfa-keys:\t%s\t%s\n", orText(p.MFAKeys, "inherit"), keys(eff.MFAKeys))
	fmt.Fprintf(tw, "inactive-days:\t%s\t%s\n", daysText(p.InactiveDays), days(eff.InactiveDays, "--inactive-days"))
	fmt.Fprintf(tw, "delete-inactive-days:\t%s\t%s\n", daysText(p.DeleteDays), days(eff.DeleteDays, "--delete-inactive-days"))
	return tw.Flush()
}

// changePolicy applies the flags given to an organisation's own policy;
// "inherit" clears a field.
func changePolicy(p identity.Policy, mfaRule, mfaKeys, inactive, del string) (identity.Policy, error) {
	if mfaRule != "" {
		r, err := identity.ParseMFARule(strings.TrimPrefix(mfaRule, "inherit"))
		if err != nil {
			return p, flagErr("mfa", err)
		}
		p.MFA = r
	}
	if mfaKeys != "" {
		p.MFAKeys = strings.TrimPrefix(mfaKeys, "inherit")
	}
	for _, f := range []struct {
		flag, v string
		dst     *int
	}{{"inactive-days", inactive, &p.InactiveDays}, {"delete-inactive-days", del, &p.DeleteDays}} {
		switch f.v {
		case "":
		case "inherit":
			*f.dst = 0
		default:
			n, err := strconv.Atoi(f.v)
			if err != nil || n == 0 || n < -1 {
				return p, fmt.Errorf("--%s: %q: want a number of days, -1 for never, or inherit", f.flag, clipArg(f.v))
			}
			*f.dst = n
		}
	}
	return p, nil
}
