package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"pier/authz"
	"pier/storage"
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
		if r.size, err = parseSize(f.size); err != nil {
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

// explain loads the user's facts and the catalog's view of the paths and
// decides.
func (a *admin) explain(ctx context.Context, r request, f explainFlags) (authz.Decision, error) {
	facts, grants, err := a.facts(ctx, r.login, r.protocol)
	if err != nil {
		return authz.Decision{}, err
	}
	now := time.Now()
	t, err := a.target(ctx, r.paths[0], f.exists, f.dir)
	if err != nil {
		return authz.Decision{}, err
	}
	t.Size = r.size
	if !r.rename {
		return authz.Decide(facts, grants, r.action, r.paths[0], now, t), nil
	}
	to, err := a.target(ctx, r.paths[1], f.exists, false)
	if err != nil {
		return authz.Decision{}, err
	}
	return authz.DecideRename(facts, grants, r.paths[0], r.paths[1], now, t, to.Exists), nil
}

// facts loads what authz needs about a user, for protocol (or, when that is
// empty and the account is limited to some protocols, the first of them).
func (a *admin) facts(ctx context.Context, login string, protocol authz.Protocol) (authz.Facts, []authz.Grant, error) {
	f, grants, err := a.ids.Facts(ctx, login)
	if err != nil {
		return f, nil, fmt.Errorf("access: %w", err)
	}
	f.Protocol = protocol
	if protocol == "" && len(f.Protocols) > 0 {
		f.Protocol = f.Protocols[0]
	}
	return f, grants, nil
}

// target describes the entry at p as the catalog has it; for a path that
// is not there, the flags say whether it exists and is a folder.
func (a *admin) target(ctx context.Context, p vpath.Path, exists, dir bool) (authz.Target, error) {
	e, err := a.node.FS.Stat(ctx, p)
	switch {
	case err == nil:
		return authz.Target{Exists: true, Dir: e.IsDir()}, nil
	case errors.Is(err, storage.ErrNotExist):
		return authz.Target{Exists: exists, Dir: dir}, nil
	}
	return authz.Target{}, err
}

// viewJSON is `access view --json`.
type viewJSON struct {
	Login   string          `json:"login"`
	Usable  bool            `json:"usable"`
	Reason  string          `json:"reason,omitempty"`
	Entries []viewEntryJSON `json:"entries"`
}

type viewEntryJSON struct {
	Path   string   `json:"path"`
	Perms  string   `json:"perms"`
	Grants []int64  `json:"grants"`
	Limits []string `json:"limits"`
	Text   string   `json:"text"`
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
	facts, grants, err := a.facts(ctx, pos[0], proto)
	if err != nil {
		return err
	}
	now := time.Now()
	v := viewJSON{Login: facts.Login, Entries: []viewEntryJSON{}}
	v.Usable, v.Reason = facts.Usable(now)
	for _, e := range authz.View(facts, grants, now) {
		v.Entries = append(v.Entries, viewEntryJSON{Path: e.Path.String(), Perms: e.Perms.String(),
			Grants: e.Grants, Limits: append([]string{}, e.Limits...), Text: e.String()})
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
