package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"pier/admin"
	"text/tabwriter"
)

const grantUsage = `Usage: pier grant COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add --to SUBJECT --path /P --perms LIST [--allow PATTERN]... [--deny PATTERN]... [--max-size 50MB]
        SUBJECT: user:LOGIN, group:NAME, org:SLUG[+sub] or role:ROLE@SLUG[+sub]
        LIST:    list, read, create, overwrite, delete, rename, mkdir, or the
                 presets dropbox, readonly, readwrite, full; comma-separated
        sizes:   B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (of 1024)
  list [--json]      list every grant
  remove ID          remove a grant
`

func grantCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "grant", grantUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": grantAdd, "list": grantList, "remove": grantRemove,
	})
}

// grantFlags are the flags of "grant add".
type grantFlags struct {
	to, path, perms, maxSize string
	allow, deny              listFlag
}

func (f *grantFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.to, "to", "", "who: user:LOGIN, group:NAME, org:SLUG[+sub] or role:ROLE@SLUG[+sub] (required)")
	fs.StringVar(&f.path, "path", "", "the folder the grant covers, with everything below it (required)")
	fs.StringVar(&f.perms, "perms", "", "permissions, comma-separated: list,read,create,... (required)")
	fs.Var(&f.allow, "allow", "only files whose name matches this pattern, '*.edi' (repeatable)")
	fs.Var(&f.deny, "deny", "not files whose name matches this pattern, '*.exe' (repeatable)")
	fs.StringVar(&f.maxSize, "max-size", "", "largest upload, 50MB or 1GiB")
}

func grantAdd(ctx context.Context, args []string, io stdio) error {
	var f grantFlags
	cfg, _, err := parseAdmin("grant add", "--to SUBJECT --path /P --perms LIST [flags]", 0, args, f.register)
	if err != nil {
		return err
	}
	for name, v := range map[string]string{"to": f.to, "path": f.path, "perms": f.perms} {
		if v == "" {
			return usageError{"grant add: --" + name + " is required"}
		}
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	g, err := a.ops.AddGrant(ctx, a.actor(ctx), admin.GrantInput{To: f.to, Path: f.path, Perms: f.perms, Allow: f.allow, Deny: f.deny, MaxSize: f.maxSize})
	if err != nil {
		return fields(err, "to", "path", "perms", "allow", "deny", "max-size")
	}
	fmt.Fprintln(a.out, g.Description) // "grant 7 (group:staff on /acme: list,read)"
	return nil
}

func grantList(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, _, err := openCommand(ctx, io, "grant list", "[--json]", 0, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	out, err := a.ops.ListGrants(ctx, a.actor(ctx))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(a.out, out)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTO\tPATH\tPERMS\tCONDITIONS")
	for _, g := range out {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", g.ID, g.To, g.Path, g.Perms, conditions(g))
	}
	return tw.Flush()
}

func conditions(g admin.GrantView) string {
	var c []string
	if len(g.Allow) > 0 {
		c = append(c, "allow "+strings.Join(g.Allow, " "))
	}
	if len(g.Deny) > 0 {
		c = append(c, "deny "+strings.Join(g.Deny, " "))
	}
	if g.MaxSize > 0 {
		c = append(c, fmt.Sprintf("max %d bytes", g.MaxSize))
	}
	return orText(strings.Join(c, "; "), "-")
}

func grantRemove(ctx context.Context, args []string, io stdio) error {
	cfg, pos, err := parseAdmin("grant remove", "ID", 1, args, nil)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("grant remove: ID %q is not a grant number (see pier grant list)", clipArg(pos[0]))
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ops.RemoveGrant(ctx, a.actor(ctx), id); err != nil {
		return fmt.Errorf("grant remove: %w", err)
	}
	fmt.Fprintf(a.out, "grant %d removed\n", id)
	return nil
}
