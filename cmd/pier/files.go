package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"pier/admin"
	"text/tabwriter"
	"time"

	"pier/audit"
	"pier/config"
	"pier/node"
	"pier/storage"
	"pier/vpath"
)

const filesUsage = `Usage: pier files COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  ls    PATH            list a folder
  mkdir PATH            create a folder and its missing parents
  put   LOCAL|- PATH    upload a file (- reads standard input)
  get   PATH LOCAL|-    download a file (- writes standard output)
  mv    FROM TO         rename a file or folder
  rm    [-r] PATH       remove a file or (with -r) a folder and all it holds

These act as the administrator, with no authorisation check: keep the
data directory and database credentials for administrators only.
`

func files(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stdout, filesUsage)
		return nil
	}
	sub := args[0]
	recursive := false
	cfg, fs, err := parse("files "+sub, args[1:], func(c *config.Config, fs *flag.FlagSet) {
		c.StoreFlags(fs)
		if sub == "rm" {
			fs.BoolVar(&recursive, "r", false, "remove a folder and everything in it")
		}
	})
	if err != nil {
		return err
	}
	want := map[string]int{"ls": 1, "mkdir": 1, "put": 2, "get": 2, "mv": 2, "rm": 1}
	n, ok := want[sub]
	if !ok {
		return usageError{fmt.Sprintf("files: unknown command %q (try: ls, mkdir, put, get, mv, rm)", sub)}
	}
	if fs.NArg() != n {
		return usageError{fmt.Sprintf("files %s: want %d arguments, got %d", sub, n, fs.NArg())}
	}
	nd, err := node.Open(ctx, cfg, logger())
	if err != nil {
		return err
	}
	defer nd.Close()
	a := fs.Args()
	switch sub {
	case "ls":
		return filesLs(ctx, nd, a[0], stdout)
	case "mkdir":
		_, err := nd.Admin.MakeFolder(ctx, admin.CLI(audit.ActorFrom(ctx)), a[0])
		return err
	case "put":
		return filesPut(ctx, nd, a[0], a[1], stdin)
	case "get":
		return filesGet(ctx, nd, a[0], a[1], stdout)
	case "mv":
		from, err := vpath.Parse(a[0])
		if err != nil {
			return err
		}
		to, err := vpath.Parse(a[1])
		if err != nil {
			return err
		}
		return nd.FS.Move(ctx, from, to, storage.MoveOptions{Note: cliNote(ctx, audit.Rename, from.String(), to.String())})
	default: // rm
		p, err := vpath.Parse(a[0])
		if err != nil {
			return err
		}
		return nd.FS.Remove(ctx, p, storage.RemoveOptions{Recursive: recursive, Note: cliNote(ctx, audit.Delete, p.String(), "")})
	}
}

// cliRecord is the audit record of an administrator's file operation.
func cliRecord(ctx context.Context, action, path, to string) audit.Record {
	return audit.Record{Time: time.Now(), Actor: audit.ActorFrom(ctx), Action: action, Protocol: "cli", Path: path, To: to}
}

// cliNote records a change in its own transaction.
func cliNote(ctx context.Context, action, path, to string) storage.Note {
	return func(e storage.Entry) []byte {
		r := cliRecord(ctx, action, path, to)
		r.Size, r.SHA256 = e.Size, e.SHA256
		return audit.Encode(r)
	}
}

func filesLs(ctx context.Context, nd *node.Node, path string, stdout io.Writer) error {
	p, err := vpath.Parse(path)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	for e, err := range nd.FS.ReadDir(ctx, p) {
		if err != nil {
			return err
		}
		kind, name := "-", e.Name()
		if e.IsDir() {
			kind, name = "d", name+"/"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", kind, e.Size, e.ModTime.UTC().Format(time.RFC3339), short(e.SHA256), name)
	}
	return nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	if sha == "" {
		return "-"
	}
	return sha
}

func filesPut(ctx context.Context, nd *node.Node, local, path string, stdin io.Reader) error {
	p, err := vpath.Parse(path)
	if err != nil {
		return err
	}
	src := stdin
	if local != "-" {
		f, err := os.Open(local)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	u, err := nd.FS.Create(ctx, p, storage.CreateOptions{By: "admin", Note: cliNote(ctx, audit.Upload, p.String(), "")})
	if err != nil {
		return err
	}
	if _, err := io.Copy(u, src); err != nil {
		u.Abort()
		return fmt.Errorf("upload %s: %w", p, err)
	}
	if ctx.Err() != nil {
		u.Abort()
		return fmt.Errorf("upload %s: interrupted", p)
	}
	_, err = u.Close()
	return err
}

func filesGet(ctx context.Context, nd *node.Node, path, local string, stdout io.Writer) error {
	p, err := vpath.Parse(path)
	if err != nil {
		return err
	}
	f, err := nd.FS.Open(ctx, p)
	if err == nil {
		r := cliRecord(ctx, audit.Download, p.String(), "")
		r.Size, r.SHA256 = f.Size, f.SHA256
		if err = nd.Audit.Record(ctx, r); err != nil {
			f.Close()
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if local == "-" {
		_, err = io.Copy(stdout, f)
		return err
	}
	out, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, f); err != nil {
		out.Close()
		os.Remove(local)
		return err
	}
	if err := out.Close(); err != nil {
		return errors.Join(err, os.Remove(local))
	}
	return nil
}
