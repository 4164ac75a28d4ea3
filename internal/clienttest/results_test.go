package clienttest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The flows, in the table's order.
var flows = []struct{ key, title string }{
	{"drop", "partner drop (with mtime)"},
	{"temp", "drop via temporary name"},
	{"fetch", "partner fetch"},
	{"staff", "staff read/write/rename"},
	{"refused", "refusals reported"},
}

type status int

const (
	passed status = iota + 1
	notApplicable
	skipped
	broken
)

type outcome struct {
	status status
	note   string // why skipped or not applicable
}

// results collects the outcome of every client, flow and backend.
type results struct {
	mu      sync.Mutex
	rows    []string                                 // clients, in the order they ran
	proto   map[string]string                        // client -> protocol column
	cells   map[string]map[string]map[string]outcome // client -> flow -> backend -> outcome
	seenRun map[string]bool                          // backends that ran
}

func newResults() *results {
	return &results{proto: map[string]string{}, cells: map[string]map[string]map[string]outcome{}, seenRun: map[string]bool{}}
}

// cell is one flow of one client on one backend while it runs.
type cell struct {
	t    *testing.T
	note string
	na   bool
}

// skip ends the flow as skipped: the server lacks what it needs.
func (c *cell) skip(why string) {
	c.t.Helper()
	c.note = why
	c.t.Skip("skipped, missing server behaviour: " + why)
}

// notApplicable ends the flow: the client has no way to do it.
func (c *cell) notApplicable(why string) {
	c.t.Helper()
	c.note, c.na = why, true
	c.t.Skip("not applicable: " + why)
}

// run runs one flow as a subtest and records its outcome.
func (r *results) run(t *testing.T, client, proto, backend, flow string, fn func(c *cell)) {
	r.mu.Lock()
	if !slices.Contains(r.rows, client) {
		r.rows = append(r.rows, client)
	}
	r.proto[client] = proto
	r.seenRun[backend] = true
	r.mu.Unlock()
	t.Run(flow, func(t *testing.T) {
		c := &cell{t: t}
		t.Cleanup(func() {
			o := outcome{status: passed, note: c.note}
			switch {
			case t.Failed():
				o.status = broken
			case c.na:
				o = outcome{notApplicable, c.note}
			case t.Skipped():
				o = outcome{skipped, c.note}
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.cells[client] == nil {
				r.cells[client] = map[string]map[string]outcome{}
			}
			if r.cells[client][flow] == nil {
				r.cells[client][flow] = map[string]outcome{}
			}
			r.cells[client][flow][backend] = o
		})
		fn(c)
	})
}

// table renders the results as the README's markdown table; reasons for
// skipped flows become numbered notes below it.
func (r *results) table() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	var notes []string
	noteRef := func(n string) string {
		i := slices.Index(notes, n)
		if i < 0 {
			notes = append(notes, n)
			i = len(notes) - 1
		}
		return fmt.Sprintf("[%d]", i+1)
	}
	b.WriteString("| client | protocol |")
	for _, f := range flows {
		b.WriteString(" " + f.title + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(flows)) + "\n")
	for _, client := range r.rows {
		fmt.Fprintf(&b, "| %s | %s |", client, r.proto[client])
		for _, f := range flows {
			b.WriteString(" " + r.render(r.cells[client][f.key], noteRef) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n✓ passed on SQLite + disk and PostgreSQL + MinIO; n/a: the client cannot do it.\n")
	for i, n := range notes {
		fmt.Fprintf(&b, "[%d] skipped: pier lacks %s.\n", i+1, n)
	}
	return b.String()
}

// render is one cell: the worst outcome over the backends, with the
// backends it concerns when they differ.
func (r *results) render(by map[string]outcome, note func(string) string) string {
	var backends []string
	for be := range r.seenRun {
		backends = append(backends, be)
	}
	slices.Sort(backends)
	worst, on := outcome{}, []string{}
	for _, be := range backends {
		o, ok := by[be]
		if !ok {
			continue
		}
		switch {
		case o.status > worst.status:
			worst, on = o, []string{be}
		case o.status == worst.status:
			on = append(on, be)
		}
	}
	where := ""
	if len(on) < len(backends) && worst.status != passed {
		where = " (" + strings.Join(on, ", ") + ")"
	}
	switch worst.status {
	case passed:
		var about []string
		if worst.note != "" {
			about = append(about, worst.note)
		}
		if len(on) < len(backends) {
			about = append(about, strings.Join(on, ", ")+" only")
		}
		if len(about) > 0 {
			return "✓ (" + strings.Join(about, "; ") + ")"
		}
		return "✓"
	case notApplicable:
		return "n/a: " + worst.note
	case skipped:
		return "skipped " + note(worst.note) + where
	case broken:
		return "✗ FAILED" + where
	}
	return "not run"
}

const (
	tableBegin = "<!-- client table: written by internal/clienttest; PIER_CLIENT_TABLE=update rewrites it -->"
	tableEnd   = "<!-- end of client table -->"
	readmePath = "../../README.md"
)

// publish writes the table where PIER_CLIENT_TABLE says ("update": into
// the README, else to that file), or, after a whole run, checks that the
// README shows what the suite found.
func (r *results) publish(t *testing.T, complete bool) {
	table := r.table()
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(readme, []byte(tableBegin)), bytes.Index(readme, []byte(tableEnd))
	if i < 0 || j < i {
		t.Fatalf("README.md has no client table between %q and %q", tableBegin, tableEnd)
	}
	current := string(readme[i+len(tableBegin)+1 : j])
	switch dest := os.Getenv("PIER_CLIENT_TABLE"); {
	case dest == "update":
		if !complete {
			t.Fatal("PIER_CLIENT_TABLE=update needs a whole run of TestClients on both backends")
		}
		out := append(append(append([]byte{}, readme[:i+len(tableBegin)+1]...), table...), readme[j:]...)
		if err := os.WriteFile(readmePath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README.md's client table updated:\n%s", table)
	case dest != "":
		if err := os.WriteFile(dest, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	case complete && current != table:
		t.Errorf("README.md's client table differs from what the suite found; run "+
			"PIER_CLIENT_TABLE=update scripts/test -run TestClients ./internal/clienttest/ and commit it.\nREADME:\n%s\nfound:\n%s", current, table)
	}
}

// wholeRun reports whether go test was asked to run every subtest, so
// that the table is complete.
func wholeRun() bool {
	f := flag.Lookup("test.run")
	return f == nil || !strings.Contains(f.Value.String(), "/")
}
