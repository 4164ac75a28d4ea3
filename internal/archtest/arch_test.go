package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// packages returns, for every package directory of the module, its import
// paths (non-test files) and whether some file has a package doc comment.
func packages(t *testing.T) map[string]struct {
	imports []string
	doc     bool
} {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]struct {
		imports []string
		doc     bool
	}{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "pier-data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		pkg := out[rel]
		pkg.doc = pkg.doc || f.Doc != nil
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			pkg.imports = append(pkg.imports, path)
		}
		out[rel] = pkg
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryPackageIsDocumented(t *testing.T) {
	for dir, p := range packages(t) {
		if !p.doc {
			t.Errorf("package %s has no doc comment", dir)
		}
	}
}

// TestLayers enforces who may import what (STYLE.md guideline 13).
func TestLayers(t *testing.T) {
	forbidden := []struct {
		dir      string // package directory prefix
		imports  []string
		sameRoot bool
	}{
		// The decision is pure: no protocols, no storage, no SQL.
		{"authz", []string{"github.com/pkg/sftp", "golang.org/x/net/webdav", "golang.org/x/crypto/ssh", "database/sql", "pier/db", "pier/storage", "github.com/minio", "github.com/jackc", "modernc.org", "net/http", "os"}, false},
		// Front ends reach storage only through the authorising file system.
		{"sftpd", []string{"database/sql", "pier/db", "pier/storage/sqlcatalog", "pier/storage/s3blob", "pier/storage/diskblob", "github.com/minio", "github.com/jackc", "modernc.org"}, false},
		{"davd", []string{"database/sql", "pier/db", "pier/storage/sqlcatalog", "pier/storage/s3blob", "pier/storage/diskblob", "github.com/minio", "github.com/jackc", "modernc.org"}, false},
		// Paths know nothing of the rest of pier.
		{"vpath", []string{"pier/"}, false},
		// Only the node wires metrics: the packages doing the work report
		// through interfaces of their own.
		{"sftpd", []string{"pier/metrics", "github.com/prometheus"}, false},
		{"davd", []string{"pier/metrics", "github.com/prometheus"}, false},
		{"storage", []string{"pier/metrics", "github.com/prometheus"}, false},
		{"db", []string{"pier/metrics", "github.com/prometheus"}, false},
		{"authfs", []string{"pier/metrics", "github.com/prometheus"}, false},
		{"authz", []string{"pier/metrics", "github.com/prometheus"}, false},
		{"membudget", []string{"pier/"}, false},
		// The storage core does not know its backends or any protocol.
		{"storage", []string{"pier/storage/sqlcatalog", "pier/storage/s3blob", "pier/storage/diskblob", "pier/db", "github.com/pkg/sftp", "golang.org/x/net/webdav"}, true},
	}
	pkgs := packages(t)
	for _, rule := range forbidden {
		for dir, p := range pkgs {
			if dir != rule.dir && !(strings.HasPrefix(dir, rule.dir+string(os.PathSeparator)) && !rule.sameRoot) {
				continue
			}
			for _, im := range p.imports {
				for _, bad := range rule.imports {
					if im == bad || strings.HasPrefix(im, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(im, bad)) {
						t.Errorf("%s imports %s, which its layer must not", dir, im)
					}
				}
			}
		}
	}
}

// TestNoNativeDeserialisation keeps out what breached GoAnywhere (and
// what would run code a user file triggers): Go's native serialisation,
// plugins, and commands outside the test environment.
func TestNoNativeDeserialisation(t *testing.T) {
	for dir, p := range packages(t) {
		for _, im := range p.imports {
			switch {
			case im == "encoding/gob", im == "plugin":
				t.Errorf("%s imports %s: pier reads no native serialisation and loads no plugins", dir, im)
			case im == "os/exec" && dir != filepath.Join("internal", "testenv") && dir != filepath.Join("internal", "bench"):
				// The test environment and the benchmark harness drive real
				// clients; nothing pier serves runs a command.
				t.Errorf("%s imports os/exec: nothing pier serves runs commands", dir)
			}
		}
	}
}

// pure lists the only imports of the packages that must stay pure: the
// decision (no I/O, no protocols, no clock of its own) and credentials
// (crypto/rand is their only source of randomness).
var pure = map[string][]string{
	"authz": {"cmp", "errors", "fmt", "io/fs", "iter", "net/netip", "path", "slices", "strconv", "strings", "time",
		"unicode", "unicode/utf8", "golang.org/x/text/unicode/norm", "pier/vpath"},
	"credential": {"context", "crypto/ecdsa", "crypto/ed25519", "crypto/rand", "crypto/rsa", "crypto/subtle",
		"encoding/base64", "encoding/binary", "errors", "fmt", "runtime", "slices", "strconv", "strings",
		"unicode", "unicode/utf8", "golang.org/x/crypto/argon2", "golang.org/x/crypto/ssh",
		"golang.org/x/text/unicode/norm", "pier/credential/blocklist"},
}

func TestPurePackages(t *testing.T) {
	pkgs := packages(t)
	for dir, allowed := range pure {
		p, ok := pkgs[dir]
		if !ok {
			t.Errorf("pure package %s not found", dir)
		}
		for _, im := range p.imports {
			if !slices.Contains(allowed, im) {
				t.Errorf("%s imports %s: it must stay pure", dir, im)
			}
		}
	}
}
