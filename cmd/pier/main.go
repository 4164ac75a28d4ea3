// Command pier is the pier file-exchange server and its admin tool.
//
//	pier serve     run a node (SFTP, WebDAV, admin endpoint)
//	pier migrate   apply database schema migrations
//	pier gc        collect unreferenced blobs now
//	pier files     list, put, get, move and remove files as the administrator
//	pier org       organisations: add, move, list
//	pier user      users: add, list, show, suspend, activate, approve, delete, passwd, key, import
//	pier group     groups: add, list, delete, member add|remove
//	pier grant     grants of folder rights: add, list, remove
//	pier access    explain a decision, view a user's rights
//	pier audit     verify the audit log, prove a record, search, show the key
//	pier directory sync users from LDAP / Active Directory
//	pier defender  list bans and scores, ban or unban an address
//	pier cert      revoke SSH user certificates
//	pier lifecycle run the inactivity job now
//
// Every command takes --data, --db and --storage (or PIER_DATA, PIER_DB,
// PIER_STORAGE); with none of them pier uses ./pier-data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"syscall"

	"pier/audit"
	"pier/config"
	"pier/db"
	"pier/node"
)

const usage = `pier: a secure file-exchange server (SFTP, WebDAV)

Usage:
  pier serve   [--data DIR] [--db URL] [--storage URL] [--sftp-addr A] [--dav-addr A] [--admin-addr A]
  pier migrate [--data DIR] [--db URL]
  pier gc      [--upload-age D] [--garbage-age D] [--sweep-age D]
  pier files   ls|mkdir|put|get|mv|rm ...
  pier org     add|move|list|policy ...
  pier user    add|list|show|suspend|activate|approve|delete|passwd|key|mfa|app-password|principals|import ...
  pier group   add|list|delete|member ...
  pier grant   add|list|remove ...
  pier access  explain|view ...
  pier audit   verify|prove|search|key|checkpoint ...
  pier directory sync [--dry-run] [--force] [--json] [--ldap-...]
  pier defender list|ban|unban ...
  pier cert    revoke|unrevoke|list ...
  pier lifecycle run ...

Run "pier COMMAND --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout)
	var ue usageError
	var ec exitCode
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ec): // the command has said why on stdout
		os.Exit(int(ec))
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "pier: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "pier: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitCode ends pier with that status and no further message: the command
// has already reported (pier access explain exits 3 on a denial).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	// Changes made from the command line are the operating system user's.
	ctx = audit.WithActor(ctx, cliActor())
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return usageError{"no command given"}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args)
	case "migrate":
		return migrate(ctx, args, stdout)
	case "gc":
		return gc(ctx, args, stdout)
	case "files":
		return files(ctx, args, stdin, stdout)
	case "org":
		return orgCmd(ctx, args, stdio{stdin, stdout})
	case "user":
		return userCmd(ctx, args, stdio{stdin, stdout})
	case "group":
		return groupCmd(ctx, args, stdio{stdin, stdout})
	case "grant":
		return grantCmd(ctx, args, stdio{stdin, stdout})
	case "access":
		return accessCmd(ctx, args, stdio{stdin, stdout})
	case "audit":
		return auditCmd(ctx, args, stdio{stdin, stdout})
	case "directory":
		return directoryCmd(ctx, args, stdio{stdin, stdout})
	case "defender":
		return defenderCmd(ctx, args, stdio{stdin, stdout})
	case "cert":
		return certCmd(ctx, args, stdio{stdin, stdout})
	case "lifecycle":
		return lifecycleCmd(ctx, args, stdio{stdin, stdout})
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q (try: serve, migrate, gc, files, org, user, group, grant, access, audit, directory, defender, cert, lifecycle)", cmd)}
}

// parse fills a config from defaults, the environment and flags.
func parse(name string, args []string, register func(*config.Config, *flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	cfg := config.Default()
	cfg.FromEnv(os.Getenv)
	if err := cfg.DirectoryFromEnv(args, os.Getenv); err != nil {
		return cfg, nil, err
	}
	fs := flag.NewFlagSet("pier "+name, flag.ContinueOnError)
	register(&cfg, fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, fs, err
		}
		return cfg, fs, usageError{err.Error()}
	}
	return cfg, fs, nil
}

// cliActor names who runs the command line in audit records: "cli:root".
func cliActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return "cli:" + name
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func serve(ctx context.Context, args []string) error {
	cfg, fs, err := parse("serve", args, (*config.Config).ServeFlags)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0))}
	}
	n, err := node.Open(ctx, cfg, logger())
	if err != nil {
		return err
	}
	defer n.Close()
	return n.Serve(ctx)
}

func migrate(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, _, err := parse("migrate", args, (*config.Config).StoreFlags)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	d, err := db.Open(ctx, cfg.DBURL()) // Open applies the migrations
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(stdout, "%s: schema at version %d\n", d.Where, db.SchemaVersion())
	return nil
}

func gc(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, _, err := parse("gc", args, func(c *config.Config, fs *flag.FlagSet) {
		c.StoreFlags(fs)
		c.GCFlags(fs)
	})
	if err != nil {
		return err
	}
	n, err := node.Open(ctx, cfg, logger())
	if err != nil {
		return err
	}
	defer n.Close()
	st, err := n.FS.GC(ctx, cfg.GC)
	fmt.Fprintf(stdout, "removed %d abandoned uploads, %d released blobs, %d unknown blobs\n",
		st.AbandonedUploads, st.Released, st.Unknown)
	return err
}
