package clienttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pier/storage"
	"pier/vpath"
)

// op is one step a client takes: put LOCAL REMOTE, get REMOTE LOCAL,
// rename FROM TO, mtime REMOTE UNIXTIME, ls DIR.
type op struct{ kind, a, b string }

// client is one real client: how it runs steps, what it can do, and
// its own way of doing a flow where it has one (rclone copies folders).
type client struct {
	name, proto string
	partner     string // the partner login it runs as: acme-edi, or legacy on the compatibility listener
	staff       string // the staff login; "" for none (the compatibility listener is the partners')
	tempSuffix  string // the temporary name it uploads under
	setsTime    bool   // it can give an upload its modification time
	keepsTime   bool   // its put already keeps the local file's time (-p, rclone)
	rename      bool
	noList      bool // it cannot list a folder (scp)
	// needs are the drop-box behaviours its default drop relies on.
	needs []string
	// setup prepares the client once per backend (compiling, installing).
	setup func(t *testing.T, w *world)
	// run takes the steps as login; the output is what the client printed.
	run func(t *testing.T, w *world, login string, ops []op) (string, error)
	// flows replaces generic flows (by key) with the client's own.
	flows map[string]func(x *cell, w *world, c *client, f *fixture, g gaps)
}

// fixture is what one client's flows work on, named after the client.
type fixture struct {
	slug string
	dir  string // local scratch folder
	seed string // a file the partner dropped earlier, for staff to read
	body []byte // its content
}

var dropTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

func unixText(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// clearError is what a refusal must print: something a person reads as
// "not allowed" or "not there".
var clearError = regexp.MustCompile(`(?i)permission denied|access denied|forbidden|no such file|not found|does not exist|\b40[34]\b`)

// TestClients runs every client through every flow on both backends and
// writes or checks the README's table of the results.
func TestClients(t *testing.T) {
	r := newResults()
	start := time.Now()
	for _, prod := range []bool{false, true} {
		t.Run(backendName(prod), func(t *testing.T) {
			w := newWorld(t, prod, nil)
			g := w.gaps(t)
			for _, c := range allClients() {
				t.Run(c.name, func(t *testing.T) {
					if c.setup != nil {
						c.setup(t, w)
					}
					runFlows(t, r, w, g, c)
				})
			}
		})
	}
	t.Logf("client suite: %v", time.Since(start).Round(time.Second))
	r.publish(t, wholeRun() && len(r.seenRun) == 2)
}

func allClients() []*client {
	return append(sshClients(), davClients()...)
}

func runFlows(t *testing.T, r *results, w *world, g gaps, c *client) {
	ctx := context.Background()
	f := &fixture{slug: slugOf(c.name), dir: t.TempDir(), body: []byte("UNB+UNOC:3+ACME+HQ+seed'\n")}
	f.seed = inbound + "/" + f.slug + "-seed.edi"
	up, err := w.store.Create(ctx, vpath.MustParse(f.seed), storage.CreateOptions{By: c.partner})
	if err != nil {
		t.Fatal(err)
	}
	up.Write(f.body)
	if _, err := up.Close(); err != nil {
		t.Fatal(err)
	}
	generic := map[string]func(x *cell, w *world, c *client, f *fixture, g gaps){
		"drop": flowDrop, "temp": flowTemp, "fetch": flowFetch, "staff": flowStaff, "refused": flowRefused,
	}
	for _, fl := range flows {
		r.run(t, c.name, c.proto, w.backend, fl.key, func(x *cell) {
			if own := c.flows[fl.key]; own != nil {
				own(x, w, c, f, g)
				return
			}
			generic[fl.key](x, w, c, f, g)
		})
	}
}

func slugOf(name string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// failed ends a flow whose client failed: skipped when pier lacks a
// behaviour the flow needs (issue 9), failed otherwise.
func failed(x *cell, g gaps, needs []string, what, out string, err error) {
	x.t.Helper()
	x.t.Logf("%s: %v\n%s", what, err, out)
	if why := g.explain(needs...); why != "" {
		x.skip(why)
	}
	x.t.Fatalf("%s failed: %v", what, err)
}

// checkFile checks that the store holds p with body, dated at when (zero:
// any time), and nothing at the names in gone.
func checkFile(t *testing.T, w *world, p string, body []byte, when time.Time, gone ...string) {
	t.Helper()
	e, err := w.stat(p)
	if err != nil {
		t.Fatalf("%s is not in the store: %v", p, err)
	}
	if b, err := w.content(p); err != nil || !bytes.Equal(b, body) {
		t.Errorf("%s holds %q (%v), want %q", p, b, err, body)
	}
	if !when.IsZero() && !e.ModTime.Equal(when) {
		t.Errorf("%s is dated %v, want %v", p, e.ModTime.UTC(), when)
	}
	for _, g := range gone {
		if _, err := w.stat(g); err == nil {
			t.Errorf("%s is still there", g)
		}
	}
}

func flowDrop(x *cell, w *world, c *client, f *fixture, g gaps) {
	remote := inbound + "/" + f.slug + "-drop.edi"
	local, body := localFile(x.t, f.dir, "drop/"+f.slug+"-drop.edi", dropTime)
	ops := []op{{"put", local, remote}}
	if c.setsTime && !c.keepsTime {
		ops = append(ops, op{"mtime", remote, unixText(dropTime)})
	}
	if out, err := c.run(x.t, w, c.partner, ops); err != nil {
		failed(x, g, c.needs, "drop", out, err)
	}
	checkFile(x.t, w, remote, body, timeIf(c.setsTime))
}

func timeIf(b bool) time.Time {
	if b {
		return dropTime
	}
	return time.Time{}
}

func flowTemp(x *cell, w *world, c *client, f *fixture, g gaps) {
	if !c.rename {
		x.notApplicable("no rename")
	}
	remote := inbound + "/" + f.slug + "-temp.edi"
	temp := remote + c.tempSuffix
	local, body := localFile(x.t, f.dir, "temp/"+f.slug+"-temp.edi", dropTime)
	ops := []op{{"put", local, temp}, {"rename", temp, remote}}
	if c.setsTime && !c.keepsTime {
		ops = append(ops, op{"mtime", remote, unixText(dropTime)})
	}
	if out, err := c.run(x.t, w, c.partner, ops); err != nil {
		failed(x, g, append([]string{"temp"}, c.needs...), "drop via "+c.tempSuffix, out, err)
	}
	checkFile(x.t, w, remote, body, timeIf(c.setsTime), temp)
}

func flowFetch(x *cell, w *world, c *client, f *fixture, _ gaps) {
	local := filepath.Join(f.dir, "fetched.edi")
	ops := []op{{"ls", outbound, ""}, {"get", order, local}}
	if c.noList {
		ops = ops[1:]
	}
	out, err := c.run(x.t, w, c.partner, ops)
	if err != nil {
		x.t.Fatalf("fetch: %v\n%s", err, out)
	}
	if !c.noList && !strings.Contains(out, "order 1.edi") {
		x.t.Errorf("the listing of %s lacks order 1.edi:\n%s", outbound, out)
	}
	if b, err := os.ReadFile(local); err != nil || !bytes.Equal(b, orderBody) {
		x.t.Errorf("fetched %q (%v)", b, err)
	}
}

func flowStaff(x *cell, w *world, c *client, f *fixture, _ gaps) {
	if c.staff == "" {
		x.notApplicable("partners' listener")
	}
	read := filepath.Join(f.dir, "staff-read.edi")
	local, body := localFile(x.t, f.dir, "staff/"+f.slug+"-reply.edi", time.Time{})
	reply := outbound + "/" + f.slug + "-reply.edi"
	ops := []op{{"get", f.seed, read}}
	temp := reply + ".part"
	if c.rename {
		ops = append(ops, op{"put", local, temp}, op{"rename", temp, reply})
	} else {
		ops = append(ops, op{"put", local, reply})
	}
	out, err := c.run(x.t, w, c.staff, ops)
	if err != nil {
		x.t.Fatalf("staff: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(read); err != nil || !bytes.Equal(b, f.body) {
		x.t.Errorf("staff read %q (%v), want %q", b, err, f.body)
	}
	checkFile(x.t, w, reply, body, time.Time{}, temp)
	if !c.rename {
		x.note = "no rename"
	}
}

// flowRefused: reading a drop box, writing to another organisation and
// a name the grant does not allow are refused, and the client says so.
func flowRefused(x *cell, w *world, c *client, f *fixture, _ gaps) {
	local, _ := localFile(x.t, f.dir, "refused/x.edi", time.Time{})
	for _, try := range []struct {
		what string
		o    op
		gone string
	}{
		{"read a drop box", op{"get", f.seed, filepath.Join(f.dir, "stolen.edi")}, ""},
		{"write to another organisation", op{"put", local, "/globex/inbound/" + f.slug + ".edi"}, "/globex/inbound/" + f.slug + ".edi"},
		{"a name the grant does not allow", op{"put", local, inbound + "/" + f.slug + "-setup.exe"}, inbound + "/" + f.slug + "-setup.exe"},
	} {
		out, err := c.run(x.t, w, c.partner, []op{try.o})
		x.t.Logf("%s: %v\n%s", try.what, err, out)
		switch {
		case err == nil:
			x.t.Errorf("%s: the client reported success:\n%s", try.what, out)
		case !clearError.MatchString(out):
			x.t.Errorf("%s: refused without a clear error:\n%s", try.what, out)
		}
		if try.gone != "" {
			if _, err := w.stat(try.gone); err == nil {
				x.t.Errorf("%s: %s was written", try.what, try.gone)
			}
		}
	}
}

// opLines renders steps for the scripted clients: one a line, tabs
// between fields.
func opLines(ops []op) string {
	var b strings.Builder
	for _, o := range ops {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", o.kind, o.a, o.b)
	}
	return b.String()
}
