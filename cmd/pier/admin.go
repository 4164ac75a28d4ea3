package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"pier/admin"
	"pier/audit"
	"pier/config"
	"pier/identity"
	"pier/node"
)

// The admin commands (org, user, group, grant, access) share this file's
// plumbing: flags anywhere on the line, the store flags, one opened store,
// JSON output and errors that name the flag or field at fault.

// stdio is what a command reads and writes.
type stdio struct {
	in  io.Reader
	out io.Writer
}

// subcommands dispatches "pier NOUN VERB ...": a missing VERB or --help
// prints usage, an unknown one is a usage error.
func subcommands(ctx context.Context, noun, usage string, args []string, io stdio, verbs map[string]func(context.Context, []string, stdio) error) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(io.out, usage)
		return nil
	}
	run, ok := verbs[args[0]]
	if !ok {
		return usageError{fmt.Sprintf("%s: unknown command %q (try: pier %s --help)", noun, args[0], noun)}
	}
	return run(ctx, args[1:], io)
}

// parseAdmin parses an admin command's flags, which may come before, between
// or after its nargs positional arguments (nargs < 0: any number). The
// store flags (--data, --db, --storage) are always registered.
func parseAdmin(name, synopsis string, nargs int, args []string, register func(*flag.FlagSet)) (config.Config, []string, error) {
	cfg := config.Default()
	cfg.FromEnv(os.Getenv)
	fs := flag.NewFlagSet("pier "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pier %s %s\n\n", name, synopsis)
		fs.PrintDefaults()
	}
	cfg.StoreFlags(fs)
	if register != nil {
		register(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return cfg, nil, err
			}
			return cfg, nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is an argument
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if nargs >= 0 && len(pos) != nargs {
		return cfg, nil, usageError{fmt.Sprintf("%s: want %d argument(s) (%s), got %d", name, nargs, synopsis, len(pos))}
	}
	return cfg, pos, nil
}

// opened is an opened store for one admin command.
type opened struct {
	node *node.Node
	ids  *identity.Store
	ops  *admin.Service
	stdio
}

// actor is the command line's administrator: a super administrator named
// after the operating system user.
func (a *opened) actor(ctx context.Context) admin.Actor { return admin.CLI(audit.ActorFrom(ctx)) }

// fields names the flag an admin operation's field error came through
// ("--cidr: …") when the command has that flag; other errors pass as
// they are.
func fields(err error, flags ...string) error {
	var fe *identity.FieldError
	if errors.As(err, &fe) {
		name := strings.ReplaceAll(fe.Field, "_", "-")
		if slices.Contains(flags, name) {
			return fmt.Errorf("--%s: %s", name, fe.Msg)
		}
	}
	return err
}

func openAdmin(ctx context.Context, cfg config.Config, io stdio) (*opened, error) {
	n, err := node.Open(ctx, cfg, logger())
	if err != nil {
		return nil, err
	}
	return &opened{node: n, ids: n.IDs, ops: n.Admin, stdio: io}, nil
}

func (a *opened) Close() error { return a.node.Close() }

// openCommand parses a command's arguments (as parseAdmin) and opens the
// store: what every admin command that needs no checks in between does.
func openCommand(ctx context.Context, io stdio, name, synopsis string, nargs int, args []string, register func(*flag.FlagSet)) (*opened, []string, error) {
	cfg, pos, err := parseAdmin(name, synopsis, nargs, args, register)
	if err != nil {
		return nil, nil, err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return nil, nil, err
	}
	return a, pos, nil
}

// clipArg shortens user input echoed in an error.
func clipArg(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// flagErr names the flag an invalid value came through: "--cidr: …". A
// package prefix ("authz: ") and the field an identity error names are
// replaced by the flag.
func flagErr(flag string, err error) error {
	if err == nil {
		return nil
	}
	var fe *identity.FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("--%s: %s", flag, fe.Msg)
	}
	return fmt.Errorf("--%s: %s", flag, trimAuthz(err))
}

// oneOf checks that exactly one of the named flags is set.
func oneOf(cmd string, set map[string]bool) error {
	var names, given []string
	for name, ok := range set {
		names = append(names, "--"+name)
		if ok {
			given = append(given, "--"+name)
		}
	}
	if len(given) == 1 {
		return nil
	}
	slices.Sort(names)
	slices.Sort(given)
	if len(given) == 0 {
		return usageError{fmt.Sprintf("%s: give one of %s", cmd, strings.Join(names, ", "))}
	}
	return usageError{fmt.Sprintf("%s: give only one of %s", cmd, strings.Join(given, ", "))}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }
