package clienttest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"pier/internal/testenv"
)

// rclone with its default flags: copy of a folder to deliver (it lists
// the destination first, then stats each file and sets its time), sync to
// fetch, check without --download to compare by hash (md5sum over SSH;
// oc:checksums in WebDAV listings), copyto and moveto for single files.
type rclone struct {
	remote func(t *testing.T, w *world, login string) string // ":sftp,…:" or ":webdav,…:"
	dav    bool
	// remotes keeps each login's remote: rclone moves server-side only
	// between remotes that read the same.
	remotes map[*world]map[string]string
}

func rcloneSFTP() *client {
	rc := &rclone{remote: func(t *testing.T, w *world, login string) string {
		return fmt.Sprintf(":sftp,host=127.0.0.1,port=%s,user=%s,key_file=%s,known_hosts_file=%s:",
			port(w.sftpAddr), login, w.keys[login], w.knownHosts(t, w.sftpAddr))
	}}
	return rc.client("rclone (SFTP)", "SFTP")
}

func rcloneDAV() *client {
	rc := &rclone{dav: true, remote: func(t *testing.T, w *world, login string) string {
		return fmt.Sprintf(":webdav,url='%s',vendor=nextcloud,user=%s,pass='%s':", w.davURL, login, obscured(t))
	}}
	return rc.client("rclone (WebDAV)", "WebDAV (vendor nextcloud)")
}

func (rc *rclone) client(name, proto string) *client {
	c := &client{name: name, proto: proto, partner: "acme-edi", staff: "anna", tempSuffix: ".partial",
		setsTime: true, keepsTime: true, rename: true, needs: []string{"list", "stat"}, run: rc.ops}
	c.flows = map[string]func(x *cell, w *world, c *client, f *fixture, g gaps){
		"drop": rc.drop, "fetch": rc.fetch, "staff": rc.staff,
	}
	return c
}

var rcloneObscured struct {
	pw  string
	err error
}

// obscured is the password as rclone's configuration wants it.
func obscured(t *testing.T) string {
	if rcloneObscured.pw == "" && rcloneObscured.err == nil {
		out, err := testenv.Run(t, time.Minute, t.TempDir(), nil, "", testenv.Program(t, "rclone"), "obscure", password)
		rcloneObscured.pw, rcloneObscured.err = strings.TrimSpace(out), err
	}
	if rcloneObscured.err != nil {
		t.Fatal(rcloneObscured.err)
	}
	return rcloneObscured.pw
}

// path names a remote path for rclone: WebDAV paths are relative to the
// URL's /dav.
func (rc *rclone) path(t *testing.T, w *world, login, p string) string {
	if rc.dav {
		p = strings.TrimPrefix(p, "/")
	}
	if rc.remotes == nil {
		rc.remotes = map[*world]map[string]string{}
	}
	if rc.remotes[w] == nil {
		rc.remotes[w] = map[string]string{}
	}
	r, ok := rc.remotes[w][login]
	if !ok {
		r = rc.remote(t, w, login)
		rc.remotes[w][login] = r
	}
	return r + p
}

func (rc *rclone) do(t *testing.T, w *world, args ...string) (string, error) {
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	os.WriteFile(conf, nil, 0o600)
	all := []string{"--config", conf}
	if rc.dav {
		all = append(all, "--ca-cert", w.caFile) // the certificate pier logged
	}
	out, err := testenv.Run(t, 3*time.Minute, t.TempDir(), nil, "", testenv.Program(t, "rclone"), append(all, args...)...)
	if err == nil && strings.Contains(out, " ERROR : ") {
		// A retry that succeeded hides what went wrong the first time
		// (a hash it could not read, a "corrupted" upload it deleted).
		err = errors.New("rclone succeeded after logging errors")
	}
	return out, err
}

// ops does single steps: copyto, moveto and lsf.
func (rc *rclone) ops(t *testing.T, w *world, login string, ops []op) (string, error) {
	var out strings.Builder
	for _, o := range ops {
		var args []string
		switch o.kind {
		case "put":
			args = []string{"copyto", o.a, rc.path(t, w, login, o.b)}
		case "get":
			args = []string{"copyto", rc.path(t, w, login, o.a), o.b}
		case "rename":
			args = []string{"moveto", rc.path(t, w, login, o.a), rc.path(t, w, login, o.b)}
		case "ls":
			args = []string{"lsf", rc.path(t, w, login, o.a)}
		default:
			return out.String(), errNotSupported
		}
		s, err := rc.do(t, w, args...)
		out.WriteString(s)
		if err != nil {
			return out.String(), err
		}
	}
	return out.String(), nil
}

// drop is rclone copy of a folder holding the file into the drop box.
func (rc *rclone) drop(x *cell, w *world, c *client, f *fixture, g gaps) {
	dir := filepath.Join(f.dir, "drop")
	_, body := localFile(x.t, dir, f.slug+"-drop.edi", dropTime)
	if out, err := rc.do(x.t, w, "copy", dir, rc.path(x.t, w, c.partner, inbound)); err != nil {
		failed(x, g, c.needs, "rclone copy", out, err)
	}
	checkFile(x.t, w, inbound+"/"+f.slug+"-drop.edi", body, dropTime)
}

var (
	checkOK      = regexp.MustCompile(`\b0 differences found`)
	checkMatched = regexp.MustCompile(`\b[1-9][0-9]* matching files`)
)

// checked runs rclone check (by hash, no download) and requires every
// file compared by hash.
func (rc *rclone) checked(t *testing.T, w *world, args ...string) {
	t.Helper()
	out, err := rc.do(t, w, append([]string{"check"}, args...)...)
	if err != nil || !checkOK.MatchString(out) || !checkMatched.MatchString(out) || strings.Contains(out, "could not be checked") {
		t.Errorf("rclone check %v: %v\n%s", args, err, out)
	}
}

// fetch is rclone sync of outbound, then check by hash.
func (rc *rclone) fetch(x *cell, w *world, c *client, f *fixture, g gaps) {
	local := filepath.Join(f.dir, "fetched")
	remote := rc.path(x.t, w, c.partner, outbound)
	if out, err := rc.do(x.t, w, "sync", remote, local); err != nil {
		x.t.Fatalf("rclone sync: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(local, "order 1.edi")); err != nil || string(b) != string(orderBody) {
		x.t.Errorf("synced %q (%v)", b, err)
	}
	rc.checked(x.t, w, remote, local)
}

// staff reads a partner's file, delivers a reply under a temporary name,
// renames it, and checks it by hash.
func (rc *rclone) staff(x *cell, w *world, c *client, f *fixture, g gaps) {
	read := filepath.Join(f.dir, "staff-read.edi")
	dir := filepath.Join(f.dir, "staff")
	local, body := localFile(x.t, dir, f.slug+"-reply.edi", time.Time{})
	reply := outbound + "/" + f.slug + "-reply.edi"
	out, err := rc.ops(x.t, w, c.staff, []op{{"get", f.seed, read}, {"put", local, reply + ".partial"}, {"rename", reply + ".partial", reply}})
	if err != nil {
		x.t.Fatalf("staff: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(read); err != nil || string(b) != string(f.body) {
		x.t.Errorf("staff read %q (%v)", b, err)
	}
	checkFile(x.t, w, reply, body, time.Time{}, reply+".partial")
	rc.checked(x.t, w, dir, rc.path(x.t, w, c.staff, outbound), "--one-way", "--include", f.slug+"-reply.edi")
}
