package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"pier/admin"
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
`

func orgCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "org", orgUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": orgAdd, "move": orgMove, "list": orgList, "ssh-compat": orgSSHCompat,
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
