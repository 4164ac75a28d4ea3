package authz

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"

	"pier/vpath"
)

// Grant gives a subject permissions on a folder and everything below it.
type Grant struct {
	// ID identifies the grant in reasons and audit records; IDs are unique.
	ID int64
	// Subject is who the grant is for.
	Subject Subject
	// Path is the folder the grant applies to, with everything below it.
	Path vpath.Path
	// Perms are the permissions given. A grant without any gives nothing,
	// not even visibility.
	Perms Perm
	// Allow, if not empty, limits the grant to files whose name matches one
	// of these patterns (path.Match syntax, case-insensitive).
	Allow []string
	// Deny excludes files whose name matches one of these patterns. Deny is
	// tried before Allow.
	Deny []string
	// MaxSize, if positive, limits create and overwrite to uploads of at
	// most this many bytes.
	MaxSize int64
}

// ErrBadGrant is wrapped by Grant.Validate errors.
var ErrBadGrant = errors.New("authz: bad grant")

// Validate reports what is wrong with a grant an administrator is about to
// store: an invalid subject, unknown permission bits, a malformed pattern or
// a negative size. Decide never fails on a bad grant; it fails closed.
func (g *Grant) Validate() error {
	if _, err := ParseSubject(g.Subject.String()); err != nil || g.Subject.Kind == NoSubject {
		return fmt.Errorf("%w %d: subject %s", ErrBadGrant, g.ID, g.Subject)
	}
	if g.Perms&^Full != 0 {
		return fmt.Errorf("%w %d: unknown permission bits %#x", ErrBadGrant, g.ID, uint16(g.Perms&^Full))
	}
	for _, p := range slices.Concat(g.Allow, g.Deny) {
		if err := ValidatePattern(p); err != nil {
			return fmt.Errorf("%w %d: %w", ErrBadGrant, g.ID, err)
		}
	}
	if g.MaxSize < 0 {
		return fmt.Errorf("%w %d: negative maximum size", ErrBadGrant, g.ID)
	}
	return nil
}

// ErrBadPattern is wrapped by ValidatePattern errors.
var ErrBadPattern = errors.New("authz: bad file name pattern")

// ValidatePattern checks a file name pattern: path.Match syntax, not empty,
// no "/" (patterns apply to the name, not to the path).
func ValidatePattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty", ErrBadPattern)
	case strings.Contains(p, "/"):
		return fmt.Errorf("%w %q: contains \"/\" (patterns match file names)", ErrBadPattern, clip(p))
	}
	if _, err := path.Match(foldName(p), ""); err != nil {
		return fmt.Errorf("%w %q: %w", ErrBadPattern, clip(p), err)
	}
	return nil
}

// judgedName is the name a file's name patterns judge: the name itself, or
// for a temporary upload name ("order.edi.filepart") the name under the
// suffix ("order.edi"), so that a grant allowing only *.edi lets clients
// upload under a temporary name and rename. rclone's temporary names put a
// random tag before ".partial" ("order.edi.3fa9c1e2.partial"); it goes too.
// A rename to the final name is judged on the final name.
func judgedName(name string) string {
	lower := strings.ToLower(name)
	// The suffixes upload clients give a file while it is being written:
	// WinSCP's ".filepart", ".part" and ".partial" (scripts, rclone, curl),
	// ".tmp", ".writing" (Spring Integration), ".inprogress" (Apache Camel).
	for _, suf := range [...]string{".filepart", ".part", ".partial", ".tmp", ".writing", ".inprogress"} {
		if len(lower) > len(suf) && strings.HasSuffix(lower, suf) {
			base := name[:len(name)-len(suf)]
			if suf == ".partial" {
				if i := strings.LastIndexByte(base, '.'); i > 0 && len(base)-i-1 == 8 && isAlnum(base[i+1:]) {
					base = base[:i]
				}
			}
			return base
		}
	}
	return name
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// foldName is the one case folding applied to names and patterns alike.
func foldName(s string) string { return norm.NFC.String(strings.ToLower(s)) }

// hasPatterns reports whether the grant restricts file names.
func (g *Grant) hasPatterns() bool { return len(g.Allow) > 0 || len(g.Deny) > 0 }

// admits reports whether the grant gives its rights on a file with the
// folded name, and if not, why. Deny patterns come first, in order; a
// malformed deny pattern matches and a malformed allow pattern does not.
func (g *Grant) admits(folded string) (bool, string) {
	for _, p := range g.Deny {
		if ok, err := path.Match(foldName(p), folded); ok || err != nil || strings.Contains(p, "/") {
			return false, fmt.Sprintf("deny pattern %q", p)
		}
	}
	if len(g.Allow) == 0 {
		return true, ""
	}
	for _, p := range g.Allow {
		if ok, err := path.Match(foldName(p), folded); ok && err == nil && !strings.Contains(p, "/") {
			return true, ""
		}
	}
	return false, fmt.Sprintf("no allow pattern (%s)", strings.Join(g.Allow, " "))
}

// String describes the grant for reasons and logs:
// "grant 7 (group:staff on /acme: list,read; allow *.edi; max 10485760 bytes)".
func (g *Grant) String() string {
	var b strings.Builder
	b.WriteString("grant ")
	b.WriteString(strconv.FormatInt(g.ID, 10))
	b.WriteString(" (")
	b.WriteString(g.Subject.String())
	b.WriteString(" on ")
	b.WriteString(g.Path.String())
	b.WriteString(": ")
	b.WriteString(g.Perms.String())
	b.WriteString(g.conditions())
	b.WriteByte(')')
	return b.String()
}

// conditions describes the grant's patterns and size limit, "; allow *.edi".
func (g *Grant) conditions() string {
	var b strings.Builder
	if len(g.Allow) > 0 {
		b.WriteString("; allow ")
		b.WriteString(strings.Join(g.Allow, " "))
	}
	if len(g.Deny) > 0 {
		b.WriteString("; deny ")
		b.WriteString(strings.Join(g.Deny, " "))
	}
	if g.MaxSize > 0 {
		b.WriteString("; max ")
		b.WriteString(strconv.FormatInt(g.MaxSize, 10))
		b.WriteString(" bytes")
	}
	return b.String()
}
