package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pier/internal/testenv"
)

// TestAPIScript runs scripts/api-example — curl and the REST API alone —
// against a running pier serve, then checks with the CLI that it built
// the README's example exactly as the CLI does (TestModelFromCLI's
// checks), on both backends.
func TestAPIScript(t *testing.T) {
	testenv.Need(t, "PATH") // always set; keeps the skip logic uniform
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("PIER_TEST_REQUIRE") == "1" {
			t.Fatal("curl is not installed (scripts/test installs it)")
		}
		t.Skip("curl is not installed")
	}
	t.Run("sqlite+disk", func(t *testing.T) { testAPIScript(t, nil) })
	t.Run("postgres+s3", func(t *testing.T) {
		testAPIScript(t, []string{"PIER_DB=" + testenv.PostgresURL(t), "PIER_STORAGE=" + testenv.S3URL(t)})
	})
}

func testAPIScript(t *testing.T, env []string) {
	a := newAdm(t, env)
	a.ok("org", "add", "ops", "--kind", "internal")
	a.ok("user", "add", "root", "--org", "ops", "--generate-password")
	a.ok("user", "admin", "root", "--role", "super")
	token := strings.TrimSpace(a.ok("user", "token", "add", "root", "example"))
	if i := strings.LastIndex(token, "pier_"); i >= 0 {
		token = strings.Fields(token[i:])[0]
	} else {
		t.Fatalf("token add printed %q", token)
	}

	addr := freeAddr(t)
	cmd := exec.Command(pierBin, "serve", "--admin-addr", addr, "--sftp-addr", "off", "--dav-addr", "off")
	cmd.Dir, cmd.Env = a.dir, append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	for i := 0; ; i++ {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if i == 200 {
			t.Fatalf("pier serve never became ready:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	keyFile, _ := sshKey(t, "acme-edi")
	script, err := filepath.Abs("../../scripts/api-example")
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command("bash", script, keyFile)
	run.Env = append(os.Environ(), "PIER_API=http://"+addr+"/api/v1", "PIER_TOKEN="+token)
	var out, errb bytes.Buffer
	run.Stdout, run.Stderr = &out, &errb
	if err := run.Run(); err != nil {
		t.Fatalf("scripts/api-example: %v\nstdout:\n%s\nstderr:\n%s\nserver:\n%s", err, out.String(), errb.String(), logs.String())
	}
	for _, want := range []string{`"dry_run":true`, `"created":2`, `"allowed":true`, `"allowed":false`, `"op":"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the script's output lacks %s:\n%s", want, out.String())
		}
	}

	// The CLI sees what the API made, and decides on it as on its own.
	if _, stderr, code := a.run("ORDERS", "files", "put", "-", "/acme/outbound/order.edi"); code != 0 {
		t.Fatalf("put: %s", stderr)
	}
	var grants []struct {
		ID   int64
		To   string
		Path string
	}
	if err := json.Unmarshal([]byte(a.ok("grant", "list", "--json")), &grants); err != nil {
		t.Fatal(err)
	}
	name := func(to, path string) string {
		for _, g := range grants {
			if g.To == to && g.Path == path {
				return fmt.Sprintf("grant %d (", g.ID)
			}
		}
		t.Fatalf("no grant to %s on %s in %+v", to, path, grants)
		return ""
	}
	if len(grants) != 5 {
		t.Errorf("%d grants, want the example's 5 (the script removes its sixth): %+v", len(grants), grants)
	}
	checkModel(t, a, model{
		inbound: name("user:acme-edi", "/acme/inbound"), outbound: name("user:acme-edi", "/acme/outbound"),
		staffAcme: name("group:staff", "/acme"), staffGlobex: name("group:staff", "/globex"), annaOut: name("user:anna", "/acme/outbound"),
	})
	show := a.ok("user", "show", "anna")
	if !strings.Contains(show, "anna@example.com") {
		t.Errorf("the If-Match change did not land:\n%s", show)
	}
	if !strings.Contains(a.ok("user", "show", "ben"), "active") {
		t.Errorf("the imported user was not approved")
	}
}
