package clienttest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pier/internal/testenv"
)

// The WebDAV clients, over TLS with pier's self-signed certificate given
// to each as the one to trust.
func davClients() []*client {
	return []*client{
		rcloneDAV(),
		{name: "webdav (npm)", proto: "WebDAV", partner: "acme-edi", staff: "anna", tempSuffix: ".part", rename: true,
			needs: []string{"stat"}, run: runNpmWebDAV},
		{name: "curl (WebDAV)", proto: "WebDAV", partner: "acme-edi", staff: "anna", tempSuffix: ".part", rename: true,
			run: runCurlDAV},
	}
}

// runNpmWebDAV: the npm webdav client's putFileContents (which refuses to
// replace nothing and reports what the server said), getFileContents,
// moveFile and getDirectoryContents; staff also lock and unlock (its
// UNLOCK sends the token without angle brackets).
func runNpmWebDAV(t *testing.T, w *world, login string, ops []op) (string, error) {
	var steps []op
	for _, o := range ops {
		switch {
		case o.kind == "put" && login == "anna":
			steps = append(steps, o, op{"lock", o.b, ""}, op{"unlock", o.b, ""})
		case o.kind == "put" && strings.HasPrefix(o.b, inbound) && !strings.HasSuffix(o.b, ".exe"):
			steps = append(steps, o, op{"exists", o.b, ""})
		default:
			steps = append(steps, o)
		}
	}
	env := []string{"PIER_URL=" + w.davURL, "PIER_USER=" + login, "PIER_PASSWORD=" + password, "PIER_CA=" + w.caFile}
	return testenv.Run(t, 2*time.Minute, t.TempDir(), env, opLines(steps), testenv.Program(t, "node"), nodeScript(t, "dav_flow.mjs"))
}

// runCurlDAV: curl as scripts use it for WebDAV: -T to put, MOVE with a
// Destination, PROPFIND to list; --cacert with pier's certificate.
func runCurlDAV(t *testing.T, w *world, login string, ops []op) (string, error) {
	var out strings.Builder
	for _, o := range ops {
		args := []string{"-sS", "--fail-with-body", "--cacert", w.caFile, "-u", login + ":" + password}
		switch o.kind {
		case "put":
			args = append(args, "-T", o.a, w.davURL+urlPath(o.b))
		case "get":
			args = append(args, "-o", o.b, w.davURL+urlPath(o.a))
		case "rename":
			args = append(args, "-X", "MOVE", "-H", "Destination: "+w.davURL+urlPath(o.b), w.davURL+urlPath(o.a))
		case "ls":
			args = append(args, "-X", "PROPFIND", "-H", "Depth: 1", w.davURL+urlPath(o.a)+"/")
		default:
			return out.String(), errNotSupported
		}
		s, err := testenv.Run(t, 2*time.Minute, t.TempDir(), nil, "", testenv.Program(t, "curl"), args...)
		fmt.Fprintln(&out, s)
		if err != nil {
			return out.String(), err
		}
	}
	return out.String(), nil
}
