package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"pier/authz"
	"pier/vpath"
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

// grant builds the grant the flags describe, checking every field.
func (f *grantFlags) grant() (authz.Grant, error) {
	for name, v := range map[string]string{"to": f.to, "path": f.path, "perms": f.perms} {
		if v == "" {
			return authz.Grant{}, usageError{"grant add: --" + name + " is required"}
		}
	}
	var g authz.Grant
	var err error
	if g.Subject, err = authz.ParseSubject(f.to); err != nil {
		return g, flagErr("to", err)
	}
	if g.Path, err = vpath.Parse(f.path); err != nil {
		return g, flagErr("path", err)
	}
	if g.Perms, err = authz.ParsePerms(f.perms); err != nil {
		return g, flagErr("perms", err)
	}
	if g.Perms == authz.PermNone {
		return g, errors.New("--perms: a grant needs at least one permission")
	}
	for _, p := range f.allow {
		if err := authz.ValidatePattern(p); err != nil {
			return g, flagErr("allow", err)
		}
	}
	for _, p := range f.deny {
		if err := authz.ValidatePattern(p); err != nil {
			return g, flagErr("deny", err)
		}
	}
	g.Allow, g.Deny = f.allow, f.deny
	if f.maxSize != "" {
		if g.MaxSize, err = parseSize(f.maxSize); err != nil {
			return g, flagErr("max-size", err)
		}
	}
	return g, nil
}

func grantAdd(ctx context.Context, args []string, io stdio) error {
	var f grantFlags
	cfg, _, err := parseAdmin("grant add", "--to SUBJECT --path /P --perms LIST [flags]", 0, args, f.register)
	if err != nil {
		return err
	}
	g, err := f.grant()
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	if g, err = a.ids.AddGrant(ctx, g, "admin"); err != nil {
		return fmt.Errorf("grant add: %w", err)
	}
	fmt.Fprintln(a.out, g.String()) // "grant 7 (group:staff on /acme: list,read)"
	return nil
}

// sizeUnits are the units --max-size accepts, by their lower-case name.
var sizeUnits = map[string]int64{
	"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize reads a positive size: "50MB", "1.5 GiB", "1048576".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size (want e.g. 50MB or 1GiB)", clipArg(s))
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KB, MB, GB, KiB, MiB or GiB)", clipArg(s), clipArg(t[i:]))
	}
	size := n * float64(mult)
	switch {
	case size < 1:
		return 0, fmt.Errorf("%q: must be at least 1 byte (leave --max-size out for no limit)", clipArg(s))
	case size > math.MaxInt64/2:
		return 0, fmt.Errorf("%q is too large", clipArg(s))
	}
	return int64(size), nil
}

// grantJSON is a grant as `grant list --json` prints it.
type grantJSON struct {
	ID          int64    `json:"id"`
	To          string   `json:"to"`
	Path        string   `json:"path"`
	Perms       string   `json:"perms"`
	Allow       []string `json:"allow"`
	Deny        []string `json:"deny"`
	MaxSize     int64    `json:"max_size,omitempty"`
	Description string   `json:"description"`
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
	grants, err := a.ids.ListGrants(ctx)
	if err != nil {
		return err
	}
	out := []grantJSON{}
	for _, g := range grants {
		out = append(out, grantJSON{ID: g.ID, To: g.Subject.String(), Path: g.Path.String(), Perms: g.Perms.String(),
			Allow: append([]string{}, g.Allow...), Deny: append([]string{}, g.Deny...), MaxSize: g.MaxSize, Description: g.String()})
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

func conditions(g grantJSON) string {
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
	if err := a.ids.RemoveGrant(ctx, id); err != nil {
		return fmt.Errorf("grant remove: %w", err)
	}
	fmt.Fprintf(a.out, "grant %d removed\n", id)
	return nil
}
