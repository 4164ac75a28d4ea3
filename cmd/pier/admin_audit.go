package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"pier/audit"
)

const auditUsage = `Usage: pier audit COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  verify [--key PUBLIC]   check the whole log: records, tree hashes, signed
                          checkpoints; name the first bad record (exit 1)
  prove SEQ               print record SEQ with its inclusion proof against a
                          signed checkpoint; check it anywhere with pierproof
  search [--user L] [--org SLUG] [--path P] [--action A] [--since T] [--until T]
         [--after SEQ] [--limit N] [--json]
                          records, oldest first (T: 2026-12-01 or RFC 3339)
  key                     print the public key that checks the log
  checkpoint              move waiting records into the log and sign it now

Every command first moves the records waiting in the inbox into the log, as
a running node does every second.
`

func auditCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "audit", auditUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"verify": auditVerify, "prove": auditProve, "search": auditSearch, "key": auditKey, "checkpoint": auditCheckpoint,
	})
}

// openAudit opens the store and brings the log up to date.
func openAudit(ctx context.Context, a *opened) (*audit.Log, error) {
	l := a.node.Audit
	for {
		n, err := l.Sequence(ctx)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func auditVerify(ctx context.Context, args []string, io stdio) error {
	var key string
	cfg, _, err := parseAdmin("audit verify", "[--key PUBLIC]", 0, args, func(fs *flag.FlagSet) {
		fs.StringVar(&key, "key", "", "the public key to check the checkpoints with (default: this node's)")
	})
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, cfg, io)
	if err != nil {
		return err
	}
	defer a.Close()
	l, err := openAudit(ctx, a)
	if err != nil {
		return err
	}
	if key != "" {
		k, err := audit.PublicKeys(key)
		if err != nil {
			return flagErr("key", err)
		}
		l = l.WithKeys(k)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("audit log NOT intact: %s", rep.Bad)
	}
	fmt.Fprintf(a.out, "audit log intact: %d records (%d pruned), %d signed checkpoints\n", rep.Records, rep.Pruned, rep.Checkpoints)
	return nil
}

func auditProve(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "audit prove", "SEQ", 1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	seq, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || seq < 0 {
		return usageError{fmt.Sprintf("audit prove: %q is not a record number", clipArg(pos[0]))}
	}
	l, err := openAudit(ctx, a)
	if err != nil {
		return err
	}
	p, err := l.Prove(ctx, seq)
	if err != nil {
		return err
	}
	fmt.Fprint(a.out, p.Format())
	return nil
}

func auditKey(ctx context.Context, args []string, io stdio) error {
	a, _, err := openCommand(ctx, io, "audit key", "", 0, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintln(a.out, a.node.Audit.PublicKey())
	return nil
}

func auditCheckpoint(ctx context.Context, args []string, io stdio) error {
	a, _, err := openCommand(ctx, io, "audit checkpoint", "", 0, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := openAudit(ctx, a); err != nil {
		return err
	}
	n, err := a.node.Audit.Latest(ctx)
	if err != nil {
		return err
	}
	fmt.Fprint(a.out, n)
	return nil
}

type searchFlags struct {
	user, org, path, action, since, until string
	after                                 int64
	limit                                 int
	json                                  bool
}

func (f *searchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.user, "user", "", "records by this login (or cli:OSUSER)")
	fs.StringVar(&f.org, "org", "", "records by users of these organisations or about their folders (comma-separated slugs)")
	fs.StringVar(&f.path, "path", "", "records about this path or anything below it")
	fs.StringVar(&f.action, "action", "", "login, session-start, session-end, upload, download, delete, rename, copy, mkdir, lock, unlock, denied or admin")
	fs.StringVar(&f.since, "since", "", "records from this time (2026-12-01 or RFC 3339)")
	fs.StringVar(&f.until, "until", "", "records before this time")
	fs.Int64Var(&f.after, "after", -1, "records after this sequence number (to page)")
	fs.IntVar(&f.limit, "limit", 1000, "at most this many records")
	fs.BoolVar(&f.json, "json", false, "print JSON")
}

func parseWhen(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s: %q is not a date (2026-12-01) or RFC 3339 time", flagName, clipArg(s))
}

func auditSearch(ctx context.Context, args []string, io stdio) error {
	var f searchFlags
	a, _, err := openCommand(ctx, io, "audit search", "[--user L] [--org SLUG] [--path P] [--action A] [--since T] [--until T] [--json]", 0, args, f.register)
	if err != nil {
		return err
	}
	defer a.Close()
	q := audit.Query{Actor: f.user, Path: f.path, Action: f.action, After: f.after, Limit: f.limit}
	if f.org != "" {
		q.Orgs = strings.Split(f.org, ",")
	}
	if q.Since, err = parseWhen("since", f.since); err != nil {
		return err
	}
	if q.Until, err = parseWhen("until", f.until); err != nil {
		return err
	}
	l, err := openAudit(ctx, a)
	if err != nil {
		return err
	}
	found, err := l.Search(ctx, q)
	if err != nil {
		return err
	}
	if f.json {
		type row struct {
			Seq    int64        `json:"seq"`
			Pruned bool         `json:"pruned,omitempty"`
			Record audit.Record `json:"record"`
		}
		rows := []row{}
		for _, r := range found {
			rows = append(rows, row{r.Seq, r.Pruned, r.Record})
		}
		return printJSON(a.out, rows)
	}
	for _, r := range found {
		if r.Pruned {
			fmt.Fprintf(a.out, "%d\t(pruned)\n", r.Seq)
			continue
		}
		rec := r.Record
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s", r.Seq, rec.Time.UTC().Format(time.RFC3339), rec.Actor, rec.Action, rec.Outcome)
		for _, part := range []string{rec.Op, rec.Subject, rec.Path, rec.To, rec.Reason} {
			if part != "" {
				line += "\t" + part
			}
		}
		fmt.Fprintln(a.out, line)
	}
	return nil
}
