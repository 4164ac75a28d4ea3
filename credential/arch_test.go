package credential

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPure keeps the package pure and small: its code imports no I/O,
// storage or protocol package (crypto/rand is its only source of
// randomness), and every file stays under 400 lines.
func TestPure(t *testing.T) {
	allowed := []string{
		"context", "crypto/ecdsa", "crypto/ed25519", "crypto/rand", "crypto/rsa", "crypto/subtle",
		"encoding/base64", "encoding/binary", "errors", "fmt", "runtime", "slices", "strconv", "strings",
		"unicode", "unicode/utf8",
		"golang.org/x/crypto/argon2", "golang.org/x/crypto/ssh", "golang.org/x/text/unicode/norm",
		"pier/credential/blocklist",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(src), "\n"); n > 400 {
			t.Errorf("%s has %d lines; keep files under 400", name, n)
		}
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !slices.Contains(allowed, p) {
				t.Errorf("%s imports %s: credential stays pure (no I/O, storage or protocols)", name, p)
			}
		}
	}
}
