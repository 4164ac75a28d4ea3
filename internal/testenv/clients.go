package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real clients the tests drive are installed by scripts/test: Debian
// packages with apt-get, the Node.js ones with npm into a cache. Without
// one, a test fails under PIER_TEST_REQUIRE=1 and skips otherwise.

// missing ends the test for a client that is not installed.
func missing(t testing.TB, what string) {
	t.Helper()
	msg := what + " is not installed: scripts/test installs it"
	if os.Getenv("PIER_TEST_REQUIRE") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Program returns the path of a client program on PATH.
func Program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name)
	}
	return p
}

// Run runs a client program with a deadline and returns what it wrote
// to standard output and standard error together. env adds to the
// environment; stdin may be empty.
func Run(t testing.TB, timeout time.Duration, dir string, env []string, stdin string, prog string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", filepath.Base(prog), timeout, err)
	}
	return string(out), err
}

// Python returns Debian's python3 with paramiko (python3-paramiko). It is
// /usr/bin/python3 on purpose: a python3 earlier on PATH (pyenv, a
// virtualenv) does not see Debian's modules.
func Python(t testing.TB) string {
	t.Helper()
	if why := paramikoMissing(); why != "" {
		missing(t, "python3-paramiko ("+why+")")
	}
	return python
}

const python = "/usr/bin/python3"

// paramikoMissing says why Debian's python3 cannot import paramiko; it
// asks once per test binary.
var paramikoMissing = sync.OnceValue(func() string {
	out, err := exec.Command(python, "-c", "import paramiko").CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)) + " " + err.Error()
	}
	return ""
})

// JSch returns the jar of Debian's JSch (libjsch-java, 0.1.54 in Debian
// 12) and the JDK's javac and java (default-jdk-headless).
func JSch(t testing.TB) (jar, javac, java string) {
	t.Helper()
	jar = "/usr/share/java/jsch.jar"
	if _, err := os.Stat(jar); err != nil {
		missing(t, "libjsch-java ("+jar+")")
	}
	return jar, Program(t, "javac"), Program(t, "java")
}

// NodeModules returns the node_modules folder that scripts/test installs
// with `npm ci` from lockDir's package.json and package-lock.json: the one
// named in PIER_NPM_DIR, or the cache folder keyed by the lock's hash.
func NodeModules(t testing.TB, lockDir string) string {
	t.Helper()
	dir := os.Getenv("PIER_NPM_DIR")
	if dir == "" {
		lock, err := os.ReadFile(filepath.Join(lockDir, "package-lock.json"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(lock)
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "pier", "npm", hex.EncodeToString(sum[:6]))
	}
	mods := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(mods, ".package-lock.json")); err != nil {
		missing(t, "the npm clients of "+lockDir+" (in "+dir+")")
	}
	return mods
}
