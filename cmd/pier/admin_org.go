package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"pier/identity"
	"pier/storage"
	"pier/vpath"
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
	var parent, name, kind string
	var compat bool
	cfg, pos, err := parseAdmin("org add", "SLUG [--parent SLUG] [--name N] [--kind K] [--ssh-compat]", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&compat, "ssh-compat", false, "let its users log in through the SFTP compatibility listener")
		fs.StringVar(&parent, "parent", "", "slug of the parent organisation")
		fs.StringVar(&name, "name", "", "display name (default: the slug)")
		fs.StringVar(&kind, "kind", "", "internal, partner or customer (default: the parent's kind, else partner)")
	})
	if err != nil {
		return err
	}
	o := identity.Org{Slug: pos[0], Name: name, Parent: parent, SSHCompat: compat}
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
	// SSHCompat: marked for the SFTP compatibility listener.
	SSHCompat bool `json:"ssh_compat"`
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
	if err := a.ids.SetOrgSSHCompat(ctx, pos[0], on); err != nil {
		return fmt.Errorf("org ssh-compat: %w", err)
	}
	fmt.Fprintf(a.out, "organisation %s: ssh compatibility listener %s\n", pos[0], pos[1])
	return nil
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
			out = append(out, orgJSON{Slug: o.Slug, Name: o.Name, Kind: string(o.Kind), Parent: o.Parent, Status: o.Status, Depth: depth,
				SSHCompat: o.SSHCompat})
			walk(o.Slug, depth+1)
		}
	}
	walk("", 0)
	return out
}
