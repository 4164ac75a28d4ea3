package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"pier/admin"
	"pier/authfs"
	"pier/authz"
	"pier/vpath"
)

const accessUsage = `Usage: pier access COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  explain LOGIN ACTION PATH [--protocol sftp|webdav] [--size N] [--exists] [--dir]
  explain LOGIN rename FROM TO [--protocol P] [--size N] [--exists] [--dir]
          decide as the servers would and print "allow" or "deny" and the
          reason, naming the deciding grants. Exit status: 0 allowed,
          3 denied, 1 error. ACTION is stat, list, read, create, overwrite,
          delete, mkdir, rename-source, rename-target, settime or rename.
          The catalog says whether PATH exists and is a folder; --exists and
          --dir say so for a path that is not there (for rename, --exists
          means TO exists and --dir that FROM is a folder). --size is the
          upload's size (50MB). Without --protocol an account limited to some
          protocols is judged on the first of them.
  view LOGIN [--protocol P] [--json]
          list every path the user has rights on, one line per path
`

func accessCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "access", accessUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"explain": accessExplain, "view": accessView,
	})
}

// exitDenied is the exit status of an explain that denies.
const exitDenied = exitCode(3)

// explainFlags are the flags of "access explain".
type explainFlags struct {
	protocol, size string
	exists, dir    bool
}

func (f *explainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.protocol, "protocol", "", "the request's protocol: sftp or webdav")
	fs.StringVar(&f.size, "size", "", "size of the upload, 50MB (default unknown)")
	fs.BoolVar(&f.exists, "exists", false, "the path exists (when the catalog does not have it)")
	fs.BoolVar(&f.dir, "dir", false, "the path is a folder (when the catalog does not have it)")
}

// request is what explain decides on, parsed from the command line.
type request struct {
	login    string
	rename   bool
	action   authz.Action
	paths    []vpath.Path
	protocol authz.Protocol
	size     int64
}

func (f *explainFlags) request(pos []string) (request, error) {
	r := request{rename: len(pos) > 1 && pos[1] == "rename"}
	if want := map[bool]int{false: 3, true: 4}[r.rename]; len(pos) != want {
		return r, usageError{fmt.Sprintf("access explain: want LOGIN ACTION PATH or LOGIN rename FROM TO, got %d argument(s)", len(pos))}
	}
	r.login = pos[0]
	var err error
	if !r.rename {
		if r.action, err = authz.ParseAction(pos[1]); err != nil {
			return r, fmt.Errorf("ACTION: %s or rename", trimAuthz(err))
		}
	}
	for _, s := range pos[2:] {
		p, err := vpath.Parse(s)
		if err != nil {
			return r, fmt.Errorf("PATH: %w", err)
		}
		r.paths = append(r.paths, p)
	}
	if r.protocol, err = parseProtocol(f.protocol); err != nil {
		return r, err
	}
	if f.size != "" {
		if r.size, err = admin.ParseSize(f.size); err != nil {
			return r, flagErr("size", err)
		}
	}
	return r, nil
}

func trimAuthz(err error) string { return strings.TrimPrefix(err.Error(), "authz: ") }

func parseProtocol(s string) (authz.Protocol, error) {
	switch p := authz.Protocol(s); p {
	case "", authz.SFTP, authz.WebDAV:
		return p, nil
	}
	return "", fmt.Errorf("--protocol: %q: want sftp or webdav", clipArg(s))
}

func accessExplain(ctx context.Context, args []string, io stdio) error {
	var f explainFlags
	cfg, pos, err := parseAdmin("access explain", "LOGIN ACTION PATH | LOGIN rename FROM TO", -1, args, f.register)
	if err != nil {
		return err
	}
	r, err := f.request(pos)
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := a.explain(ctx, r, f)
	if err != nil {
		return err
	}
	verdict := "deny"
	if d.Allowed {
		verdict = "allow"
	}
	fmt.Fprintf(a.out, "%s\n%s\n", verdict, d.Reason)
	if !d.Allowed {
		return exitDenied
	}
	return nil
}

// explain asks the authorising file system, which decides with the very
// code the servers use.
func (a *opened) explain(ctx context.Context, r request, f explainFlags) (authz.Decision, error) {
	q := authfs.Question{Login: r.login, Protocol: r.protocol, Action: r.action, Rename: r.rename,
		Path: r.paths[0], Size: r.size, Exists: f.exists, Dir: f.dir}
	if r.rename {
		q.To = r.paths[1]
	}
	d, err := a.ops.Explain(ctx, a.actor(ctx), q)
	if err != nil {
		return d, fmt.Errorf("access: %w", err)
	}
	return d, nil
}

func accessView(ctx context.Context, args []string, io stdio) error {
	var protocol string
	var asJSON bool
	cfg, pos, err := parseAdmin("access view", "LOGIN [--protocol P] [--json]", 1, args, func(fs *flag.FlagSet) {
		fs.StringVar(&protocol, "protocol", "", "the protocol to judge the account on: sftp or webdav")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	proto, err := parseProtocol(protocol)
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	v, err := a.ops.View(ctx, a.actor(ctx), pos[0], proto)
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	if asJSON {
		return printJSON(a.out, v)
	}
	if !v.Usable {
		fmt.Fprintf(a.out, "no access: %s\n", v.Reason)
	}
	for _, e := range v.Entries {
		fmt.Fprintln(a.out, e.Text)
	}
	return nil
}
