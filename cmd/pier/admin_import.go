package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// importResult is the outcome of one row, as `user import --json` prints it.
type importResult struct {
	Row     int      `json:"row"` // as a spreadsheet numbers it: the header is row 1
	Login   string   `json:"login,omitempty"`
	Result  string   `json:"result"` // created, updated, unchanged or failed
	Status  string   `json:"status,omitempty"`
	Changes []string `json:"changes,omitempty"`
	Field   string   `json:"field,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// importReport is the outcome of a whole import.
type importReport struct {
	DryRun    bool           `json:"dry_run"`
	Rows      []importResult `json:"rows"`
	Created   int            `json:"created"`
	Updated   int            `json:"updated"`
	Unchanged int            `json:"unchanged"`
	Failed    int            `json:"failed"`
	// Pending are created users without a key: they have no credential yet.
	Pending []string `json:"pending"`
}

func userImport(ctx context.Context, args []string, io stdio) error {
	var dryRun, asJSON bool
	cfg, pos, err := parseAdmin("user import", "FILE.csv [--dry-run] [--json]", 1, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&dryRun, "dry-run", false, "check every row and report, but write nothing")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	records, err := readImportFile(pos[0])
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := a.importUsers(ctx, records, dryRun)
	if err != nil {
		return err
	}
	if asJSON {
		err = printJSON(a.out, rep)
	} else {
		rep.print(a.out)
	}
	if err == nil && rep.Failed > 0 {
		err = fmt.Errorf("user import: %d of %d rows failed", rep.Failed, len(rep.Rows))
	}
	return err
}

// importRecord is one data row: its number and its values by column.
type importRecord struct {
	row    int
	values map[string]string
	err    error // the row has the wrong number of fields
}

// readImportFile reads the whole file first: a file that is not valid CSV,
// or whose header is wrong, imports nothing.
func readImportFile(path string) ([]importRecord, error) {
	f, err := os.Open(path) // #nosec G304 G703 -- the administrator's command-line path
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file: want a header row %s", path, strings.Join(importRequired, ","))
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cols, err := importColumns(header)
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	var out []importRecord
	for row := 2; ; row++ {
		fields, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w (nothing imported)", path, err)
		}
		rec := importRecord{row: row, values: map[string]string{}}
		if len(fields) != len(cols) {
			rec.err = rowErr("columns", "%d fields, the header has %d", len(fields), len(cols))
		}
		for i, v := range fields {
			if i < len(cols) {
				rec.values[cols[i]] = v
			}
		}
		out = append(out, rec)
	}
}

// importColumns checks the header row and returns the column names.
func importColumns(header []string) ([]string, error) {
	cols := make([]string, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch {
		case h == "password":
			return nil, errors.New(`column "password" is refused: passwords are never imported in clear; import the users without it and give each one with pier user passwd LOGIN --generate`)
		case !slices.Contains(importRequired, h) && !slices.Contains(importOptional, h):
			return nil, fmt.Errorf("unknown column %q (columns: %s; optional: %s)", clipArg(h), strings.Join(importRequired, ","), strings.Join(importOptional, ","))
		case slices.Contains(cols[:i], h):
			return nil, fmt.Errorf("column %q appears twice", h)
		}
		cols[i] = h
	}
	for _, want := range importRequired {
		if !slices.Contains(cols, want) {
			return nil, fmt.Errorf("column %q is missing (want %s)", want, strings.Join(importRequired, ","))
		}
	}
	return cols, nil
}

// importUsers checks every row and imports the valid ones (none with
// dryRun); invalid rows are reported and skipped.
func (a *admin) importUsers(ctx context.Context, records []importRecord, dryRun bool) (*importReport, error) {
	st, err := a.importState(ctx)
	if err != nil {
		return nil, err
	}
	rep := &importReport{DryRun: dryRun, Rows: []importResult{}, Pending: []string{}}
	for _, rec := range records {
		res := importResult{Row: rec.row, Login: strings.TrimSpace(rec.values["login"])}
		var p *plan
		err := rec.err
		if err == nil {
			p, err = a.checkRow(ctx, st, rec.row, rec.values)
		}
		if err == nil && !dryRun {
			err = a.apply(ctx, p)
		}
		rep.add(res, p, err)
	}
	return rep, nil
}

// add records one row's outcome.
func (rep *importReport) add(res importResult, p *plan, err error) {
	if err != nil {
		re := asRowError("user", err)
		res.Result, res.Field, res.Error = "failed", re.field, re.msg
		rep.Failed++
		rep.Rows = append(rep.Rows, res)
		return
	}
	res.Login, res.Result, res.Status, res.Changes = p.user.Login, p.result, p.user.Status.String(), p.changes
	switch p.result {
	case "created":
		rep.Created++
		if p.key == nil {
			rep.Pending = append(rep.Pending, p.user.Login)
		}
	case "updated":
		rep.Updated++
	default:
		rep.Unchanged++
	}
	rep.Rows = append(rep.Rows, res)
}

// print writes the report for people: one line per row, then the summary.
func (rep *importReport) print(w io.Writer) {
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
