package node_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/admin"
	"pier/audit"
	"pier/node"
	"pier/sessions"
	"pier/vpath"
)

// TestEndSessions: an administrator lists the live sessions through the
// REST API and ends them: an SFTP connection is cut, a WebDAV upload
// stops and publishes nothing, and the audit trail says who did it.
func TestEndSessions(t *testing.T) {
	cfg := testConfig(t)
	cfg.SFTPAddr, cfg.DAVAddr = freeAddr(t), freeAddr(t)
	logs := &logBuffer{}
	ctx := context.Background()
	n, err := node.Open(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	cli := admin.CLI("cli:test")
	for _, o := range []string{"ops", "acme"} {
		if _, err := n.Admin.AddOrg(ctx, cli, admin.OrgInput{Slug: o}); err != nil {
			t.Fatal(err)
		}
	}
	_, pw, err := n.Admin.AddUser(ctx, cli, admin.UserInput{Login: "edi", Org: "acme", GeneratePassword: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Admin.AddUser(ctx, cli, admin.UserInput{Login: "root", Org: "ops", GeneratePassword: true}); err != nil {
		t.Fatal(err)
	}
	if err := n.Admin.SetAdminRole(ctx, cli, "root", admin.RoleSuper, ""); err != nil {
		t.Fatal(err)
	}
	_, token, err := n.Admin.AddToken(ctx, cli, admin.TokenInput{Login: "root", Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Admin.AddGrant(ctx, cli, admin.GrantInput{To: "user:edi", Path: "/acme", Perms: "full"}); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { n.Serve(sctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	api := func(method, path string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+cfg.AdminAddr+"/api/v1"+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	live := func() []sessions.Session {
		t.Helper()
		code, b := api("GET", "/sessions")
		var p struct{ Items []sessions.Session }
		if code != 200 || json.Unmarshal(b, &p) != nil {
			t.Fatalf("GET /sessions: %d %s", code, b)
		}
		return p.Items
	}
	waitFor := func(what string, ok func([]sessions.Session) bool) []sessions.Session {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if l := live(); ok(l) {
				return l
			} else if time.Now().After(deadline) {
				t.Fatalf("%s: sessions %+v\n%s", what, l, logs)
			}
		}
	}
	waitListening(t, cfg.SFTPAddr)
	waitListening(t, cfg.DAVAddr)

	// SFTP: a connection is listed, and cut when ended.
	conn, err := ssh.Dial("tcp", cfg.SFTPAddr, &ssh.ClientConfig{User: "edi", Auth: []ssh.AuthMethod{ssh.Password(pw)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := waitFor("the SFTP session is listed", func(l []sessions.Session) bool { return len(l) == 1 })
	if s := l[0]; s.Login != "edi" || s.Org != "acme" || s.Protocol != "sftp" || s.From != "127.0.0.1" {
		t.Fatalf("listed: %+v", s)
	}
	if code, b := api("DELETE", "/sessions/"+l[0].ID); code != http.StatusNoContent {
		t.Fatalf("DELETE /sessions/%s: %d %s", l[0].ID, code, b)
	}
	cut := make(chan error, 1)
	go func() { cut <- conn.Wait() }()
	select {
	case <-cut:
	case <-time.After(5 * time.Second):
		t.Fatal("the SFTP connection is still open 5 s after it was ended")
	}
	waitFor("the ended SFTP session leaves the list", func(l []sessions.Session) bool { return len(l) == 0 })
	if code, _ := api("DELETE", "/sessions/"+l[0].ID); code != http.StatusNotFound {
		t.Fatalf("ending an ended session: %d, want 404", code)
	}

	// WebDAV: an upload in progress stops, and publishes nothing.
	pr, pw2 := io.Pipe()
	req, _ := http.NewRequest("PUT", "https://"+cfg.DAVAddr+"/dav/acme/big.edi", pr)
	req.SetBasicAuth("edi", pw)
	req.ContentLength = 64 << 20
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	answered := make(chan int, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	go func() {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1024 {
			if _, err := pw2.Write(chunk); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		pw2.Close()
	}()
	l = waitFor("the WebDAV upload is listed", func(l []sessions.Session) bool { return len(l) == 1 })
	if s := l[0]; s.Login != "edi" || s.Protocol != "webdav" || s.Detail != "PUT /acme/big.edi" {
		t.Fatalf("listed: %+v", s)
	}
	if code, b := api("DELETE", "/sessions/"+l[0].ID); code != http.StatusNoContent {
		t.Fatalf("DELETE /sessions/%s: %d %s", l[0].ID, code, b)
	}
	select {
	case code := <-answered:
		if code >= 200 && code < 300 {
			t.Fatalf("the ended upload answered %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upload went on 10 s after it was ended")
	}
	pr.CloseWithError(fmt.Errorf("test over"))
	if _, err := n.FS.Stat(ctx, vpath.MustParse("/acme/big.edi")); err == nil {
		t.Fatal("the ended upload was published")
	}

	// The audit trail names who ended what.
	found, err := n.Admin.SearchAudit(ctx, cli, audit.Query{Actor: "root", After: -1})
	if err != nil {
		t.Fatal(err)
	}
	ends := 0
	for _, f := range found {
		if f.Record.Op == "session.end" && f.Record.Subject == "user edi" {
			ends++
		}
	}
	if ends != 2 {
		t.Errorf("%d session.end records by root, want 2: %+v", ends, found)
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 200 {
		if c, err := (&net.Dialer{Timeout: time.Second}).Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never listened", addr)
}
