package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"pier/identity"
	"pier/storage"
	"pier/vpath"
)

const orgUsage = `Usage: pier org COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add  SLUG [--parent SLUG] [--name N] [--kind internal|partner|customer]
                  create an organisation and its folder /SLUG; the kind
                  defaults to the parent's, else partner
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
		"add": orgAdd, "move": orgMove, "list": orgList, "policy": orgPolicy,
	})
}

func orgAdd(ctx context.Context, args []string, io stdio) error {
	var parent, name, kind string
	cfg, pos, err := parseAdmin("org add", "SLUG [--parent SLUG] [--name N] [--kind K]", 1, args, func(fs *flag.FlagSet) {
		fs.StringVar(&parent, "parent", "", "slug of the parent organisation")
		fs.StringVar(&name, "name", "", "display name (default: the slug)")
		fs.StringVar(&kind, "kind", "", "internal, partner or customer (default: the parent's kind, else partner)")
	})
	if err != nil {
		return err
	}
	o := identity.Org{Slug: pos[0], Name: name, Parent: parent}
	if kind != "" {
		k, err := identity.ParseOrgKind(kind)
		if err != nil {
			return flagErr("kind", err)
		}
		o.Kind = k
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.addOrg(ctx, o)
}

// addOrg creates the organisation, then its folder; if the folder cannot be
// made the organisation is removed again, so nothing is half done.
func (a *admin) addOrg(ctx context.Context, o identity.Org) error {
	if o.Kind == "" && o.Parent != "" {
		p, err := a.ids.GetOrg(ctx, o.Parent)
		if err != nil {
			return flagErr("parent", err)
		}
		o.Kind = p.Kind
	}
	dir, err := vpath.Parse("/" + o.Slug)
	if err != nil {
		return fmt.Errorf("slug: %w", err)
	}
	if e, err := a.node.FS.Stat(ctx, dir); err == nil && !e.IsDir() {
		return fmt.Errorf("org add %s: %s exists and is not a folder", o.Slug, dir)
	} else if err != nil && !errors.Is(err, storage.ErrNotExist) {
		return err
	}
	o, err = a.ids.AddOrg(ctx, o)
	if err != nil {
		return fmt.Errorf("org add: %w", err)
	}
	if err := a.node.FS.MkdirAll(ctx, dir, "admin"); err != nil {
		return errors.Join(fmt.Errorf("org add %s: folder %s: %w", o.Slug, dir, err), a.ids.DeleteOrg(context.WithoutCancel(ctx), o.Slug))
	}
	fmt.Fprintf(a.out, "organisation %s (%s) created with folder %s\n", o.Slug, o.Kind, dir)
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
	if err := a.ids.SetOrgParent(ctx, pos[0], parent); err != nil {
		return flagErr("parent", err)
	}
	fmt.Fprintf(a.out, "organisation %s moved under %q\n", pos[0], parent)
	return nil
}

// orgJSON is an organisation as `org list --json` prints it, in tree order.
type orgJSON struct {
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Parent string `json:"parent,omitempty"`
	Status string `json:"status"`
	Depth  int    `json:"depth"`
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
	orgs, err := a.ids.ListOrgs(ctx)
	if err != nil {
		return err
	}
	tree := orgTree(orgs)
	if asJSON {
		return printJSON(a.out, tree)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	for _, o := range tree {
		fmt.Fprintf(tw, "%s%s\t%s\t%s\n", strings.Repeat("  ", o.Depth), o.Slug, o.Kind, o.Name)
	}
	return tw.Flush()
}

// orgTree orders organisations depth first, children by slug.
func orgTree(orgs []identity.Org) []orgJSON {
	children := map[string][]identity.Org{}
	known := map[string]bool{}
	for _, o := range orgs {
		known[o.Slug] = true
	}
	for _, o := range orgs { // ListOrgs sorts by slug
		p := o.Parent
		if !known[p] {
			p = ""
		}
		children[p] = append(children[p], o)
	}
	out := []orgJSON{}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, o := range children[parent] {
			if depth > 100 { // a corrupt, cyclic tree
				return
			}
			out = append(out, orgJSON{Slug: o.Slug, Name: o.Name, Kind: string(o.Kind), Parent: o.Parent, Status: o.Status, Depth: depth})
			walk(o.Slug, depth+1)
		}
	}
	walk("", 0)
	return out
}

func orgPolicy(ctx context.Context, args []string, io stdio) error {
	var mfaRule, mfaKeys, inactive, del string
	var asJSON bool
	a, pos, err := openCommand(ctx, io, "org policy", "SLUG [flags]", 1, args, func(fs *flag.FlagSet) {
		fs.StringVar(&mfaRule, "mfa", "", "whom a second factor is required of: off, admins (role admin), staff (internal organisations), all; inherit")
		fs.StringVar(&mfaKeys, "mfa-keys", "", "yes: a code after a key or certificate too; no; inherit")
		fs.StringVar(&inactive, "inactive-days", "", "suspend accounts with no login for this many days (-1: never); inherit")
		fs.StringVar(&del, "delete-inactive-days", "", "delete accounts this many days after their suspension for inactivity (-1: never); inherit")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	p, err := a.ids.OrgPolicy(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("org policy: %w", err)
	}
	if mfaRule != "" || mfaKeys != "" || inactive != "" || del != "" {
		if p, err = changePolicy(p, mfaRule, mfaKeys, inactive, del); err != nil {
			return err
		}
		if err := a.ids.SetOrgPolicy(ctx, pos[0], p); err != nil {
			return fmt.Errorf("org policy: %w", err)
		}
	}
	eff, err := a.ids.EffectivePolicy(ctx, pos[0], identity.Policy{})
	if err != nil {
		return err
	}
	rule := func(r identity.MFARule) string { return orText(string(r), "node default (--mfa)") }
	keys := func(s string) string { return orText(s, "node default (--mfa-keys)") }
	days := func(n int, flag string) string {
		if n == 0 {
			return "node default (" + flag + ")"
		}
		return daysText(n)
	}
	if asJSON {
		return printJSON(a.out, map[string]any{"org": pos[0], "own": p, "effective": eff})
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
