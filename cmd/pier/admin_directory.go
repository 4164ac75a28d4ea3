package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"pier/admin"
	"pier/audit"
	"pier/config"
	"pier/directory"
	"pier/internal/untrusted"
	"pier/node"
)

const directoryUsage = `Usage: pier directory COMMAND [--data DIR] [--db URL] [--storage URL] [--ldap-... | --ldap-config FILE]

  sync [--dry-run] [--force] [--json]
                        import users from LDAP / Active Directory: create, update,
                        suspend the ones that left (never delete); --dry-run shows
                        every change and writes nothing (see README)
`

func directoryCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "directory", directoryUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"sync": directorySync,
	})
}

func directorySync(ctx context.Context, args []string, io stdio) error {
	var dryRun, force, asJSON bool
	cfg := config.Default()
	cfg.FromEnv(os.Getenv)
	if err := cfg.DirectoryFromEnv(args, os.Getenv); err != nil {
		return err
	}
	fs := flag.NewFlagSet("pier directory sync", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pier directory sync [--dry-run] [--force] [--json] [--ldap-...]\n\n")
		fs.PrintDefaults()
	}
	cfg.StoreFlags(fs)
	cfg.DirectoryFlags(fs)
	fs.BoolVar(&dryRun, "dry-run", false, "show every change, write nothing")
	fs.BoolVar(&force, "force", false, "suspend more users than --ldap-max-suspend allows")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("directory sync: unexpected argument %q", clipArg(fs.Arg(0)))}
	}
	if !cfg.Directory.Enabled() {
		return usageError{"directory sync: no directory: give --ldap-url (or PIER_LDAP_URL, or --ldap-config FILE)"}
	}
	n, err := node.Open(ctx, cfg, logger())
	if err != nil {
		return err
	}
	defer n.Close()
	rep, err := n.Admin.SyncDirectory(ctx, admin.CLI(audit.ActorFrom(ctx)), directory.Options{DryRun: dryRun, Force: force})
	if rep != nil {
		if asJSON {
			if jerr := printJSON(io.out, rep); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			printSyncReport(io.out, rep)
		}
	}
	if err != nil {
		return fmt.Errorf("directory sync: %w", err)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("directory sync: %d of %d entries failed", rep.Failed, rep.Entries)
	}
	return nil
}

// printSyncReport writes one line per user, then the summary. Directory
// values are shown escaped: an entry may hold control characters.
func printSyncReport(w io.Writer, rep *directory.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range rep.Changes {
		who := untrusted.Text(c.Login)
		if who == "" {
			who = untrusted.Text(c.DN)
		}
		detail := c.Reason
		switch c.Result {
		case directory.Created, directory.Suspended:
			detail = strings.TrimSpace(c.Status + ": " + c.Reason)
		case directory.Updated:
			detail = strings.Join(c.Changes, ", ")
			if c.Reason != "" {
				detail += ": " + c.Reason
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Result, who, untrusted.Text(detail))
	}
	tw.Flush()
	fmt.Fprintf(w, "%s (%d directory entries, %s)\n", rep.Summary(), rep.Entries, rep.Took.Round(time.Millisecond))
	if rep.DryRun {
		fmt.Fprintln(w, "dry run: nothing was written")
	}
}
