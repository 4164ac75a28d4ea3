package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"pier/admin"
)

func userImport(ctx context.Context, args []string, io stdio) error {
	var dryRun, asJSON bool
	cfg, pos, err := parseAdmin("user import", "FILE.csv [--dry-run] [--json]", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&dryRun, "dry-run", false, "check every row and report, but write nothing")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	records, err := admin.ReadImport(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := a.ops.ImportUsers(ctx, a.actor(ctx), records, dryRun)
	if err != nil {
		return err
	}
	if asJSON {
		err = printJSON(a.out, rep)
	} else {
		printImport(a.out, rep)
	}
	if err == nil && rep.Failed > 0 {
		err = fmt.Errorf("user import: %d of %d rows failed", rep.Failed, len(rep.Rows))
	}
	return err
}

// printImport writes an import's report for people: one line per row,
// then the summary.
func printImport(w io.Writer, rep *admin.ImportReport) {
	for _, r := range rep.Rows {
		switch r.Result {
		case "failed":
			fmt.Fprintf(w, "row %d: %s: %s\n", r.Row, r.Field, r.Error)
		case "updated":
			fmt.Fprintf(w, "row %d: %s updated (%s)\n", r.Row, r.Login, strings.Join(r.Changes, ", "))
		default:
			fmt.Fprintf(w, "row %d: %s %s (%s)\n", r.Row, r.Login, r.Result, r.Status)
		}
	}
	fmt.Fprintf(w, "%d created, %d updated, %d unchanged, %d failed\n", rep.Created, rep.Updated, rep.Unchanged, rep.Failed)
	if rep.DryRun {
		fmt.Fprintln(w, "dry run: nothing was written")
	}
	if len(rep.Pending) > 0 {
		fmt.Fprintf(w, "%d new user(s) have no key and stay pending without a password (%s):\n"+
			"  give each a password with: pier user passwd LOGIN --generate\n"+
			"  then let them in with:     pier user approve LOGIN\n", len(rep.Pending), strings.Join(rep.Pending, ", "))
	}
}
