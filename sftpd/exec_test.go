package sftpd_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"pier/vpath"
)

// runCommand runs one exec request and returns its standard output,
// standard error and exit status.
func (e *env) runCommand(t *testing.T, user, cmd string) (string, string, int) {
	t.Helper()
	conn, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.FixedHostKey(e.hostPub), HostKeyAlgorithms: []string{e.hostPub.Type()}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	err = sess.Run(cmd)
	var exit *ssh.ExitError
	status := 0
	if errors.As(err, &exit) {
		status = exit.ExitStatus()
	} else if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return stdout.String(), stderr.String(), status
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// TestHashCommands: sync tools compare files by running md5sum, sha1sum
// or sha256sum over SSH. pier answers them from the catalog for files the
// user may read, and explains that it runs nothing else.
func TestHashCommands(t *testing.T) {
	e := start(t, false)
	c := e.client(t, "anna")
	data := []byte("UNB+UNOC:3+HQ+ACME'UNH+1+ORDERS'")
	put(t, c, "/acme/staff/fi le$%<>111.edi", data)
	m, s1, s256 := md5.Sum(data), sha1.Sum(data), sha256.Sum256(data)
	quoted := `/acme/staff/fi\ le\$\%\<\>111.edi` // as rclone escapes it
	for _, k := range []struct{ cmd, sum string }{
		{"md5sum " + quoted, hexOf(m[:])}, {"sha1sum " + quoted, hexOf(s1[:])}, {"sha256sum " + quoted, hexOf(s256[:])},
		{"md5sum '/acme/staff/fi le$%<>111.edi'", hexOf(m[:])},
	} {
		out, errOut, status := e.runCommand(t, "anna", k.cmd)
		if status != 0 || out != k.sum+"  /acme/staff/fi le$%<>111.edi\n" {
			t.Errorf("%s: status %d, %q %q", k.cmd, status, out, errOut)
		}
	}
	// rclone's probe: the command on empty input.
	if out, _, status := e.runCommand(t, "anna", "md5sum"); status != 0 || out != "d41d8cd98f00b204e9800998ecf8427e  -\n" {
		t.Errorf("md5sum of nothing: %d %q", status, out)
	}
	// For files the user may read, and their own recent uploads (rclone
	// checks a delivery by its hash); a drop box hides the rest.
	put(t, e.client(t, "acme-edi"), "/acme/inbound/drop.edi", data)
	if out, _, status := e.runCommand(t, "acme-edi", "md5sum /acme/inbound/drop.edi"); status != 0 || out != hexOf(m[:])+"  /acme/inbound/drop.edi\n" {
		t.Errorf("md5sum of one's own upload: %d %q", status, out)
	}
	put(t, c, "/acme/inbound/staff.edi", data)
	for _, k := range []struct{ user, cmd, want string }{
		{"acme-edi", "md5sum /acme/inbound/staff.edi", "md5sum: /acme/inbound/staff.edi: No such file or directory\n"},
		{"acme-edi", "md5sum /acme/outbound/nothing.edi", "md5sum: /acme/outbound/nothing.edi: No such file or directory\n"},
		{"acme-edi", "sha256sum /acme/staff/x.edi", "sha256sum: /acme/staff/x.edi: No such file or directory\n"},
		{"anna", "sha1sum /acme/staff", "sha1sum: /acme/staff: Is a directory\n"},
		{"anna", "sha1sum /acme/../../etc/passwd", "sha1sum: /acme/../../etc/passwd: No such file or directory\n"},
	} {
		out, errOut, status := e.runCommand(t, k.user, k.cmd)
		if status != 1 || out != "" || errOut != k.want {
			t.Errorf("%s %s: status %d, %q %q; want %q", k.user, k.cmd, status, out, errOut, k.want)
		}
	}
	// MD5 was computed once and recorded.
	if st, _ := e.store.Stat(t.Context(), vpath.MustParse("/acme/staff/fi le$%<>111.edi")); st.MD5 != hexOf(m[:]) {
		t.Errorf("MD5 not recorded: %+v", st)
	}
	// Anything else: one line on standard error, exit status 1.
	for _, cmd := range []string{"ls /", "scp -t /acme/staff", "md5sum /a; id", "echo ${ShellId}%ComSpec%"} {
		out, errOut, status := e.runCommand(t, "anna", cmd)
		if status != 1 || out != "" || !strings.HasPrefix(errOut, "pier: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: status %d, %q %q", cmd, status, out, errOut)
		}
	}
}
