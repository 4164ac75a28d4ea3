// Package vpath parses the paths of pier's virtual file namespace.
//
// Every path that enters pier from a client (SFTP, WebDAV, the CLI) becomes a
// Path through Parse, and only through Parse. A Path is absolute, clean and
// normalised: it never holds "." or ".." elements, empty elements, NUL or
// control characters, backslashes, invalid UTF-8 or over-long names. Names are
// normalised to Unicode NFC, so a name sent in NFD (as macOS clients do) and
// the same name in NFC denote one entry. Case is significant.
//
// Names that would show a person something other than what they are are
// refused too: bidirectional controls (U+202A–U+202E, U+2066–U+2069,
// U+200E, U+200F, U+061C) make "invoice\u202Etxt.exe" display as
// "invoiceexe.txt", and zero-width characters (U+200B–U+200D, U+2060,
// U+FEFF) make two names that look alike denote different files.
package vpath

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on names and paths, in bytes after normalisation.
const (
	MaxNameLen  = 255
	MaxPathLen  = 4096
	MaxPathDeep = 64
)

// ErrInvalid is the sentinel wrapped by every parse error.
var ErrInvalid = errors.New("invalid path")

// Error describes why a path was refused. The reason never echoes the whole
// input, which may be long or carry control characters.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "invalid path: " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *Error) Unwrap() error { return ErrInvalid }

func invalid(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// Path is a parsed path. The zero value is the root "/".
type Path struct {
	s string // "" for the root, else "/a/b"
}

// Root is the root of the namespace.
func Root() Path { return Path{} }

// Parse turns a client-supplied path into a Path. A relative path is taken
// relative to the root; repeated and trailing slashes are dropped. "." and
// ".." elements are refused, not resolved: front ends resolve them against
// their working directory (see Resolve) before parsing. NUL, control,
// bidirectional control and zero-width characters, backslashes and invalid
// UTF-8 are refused; the error names what was found.
func Parse(s string) (Path, error) { return parse(s, true) }

// Stored parses a path the store itself wrote (a catalog row, a lock):
// as Parse, but names with bidirectional control or zero-width
// characters, refused at the edge only since they were found to disguise
// names, stay readable: the folder holding such an entry still lists,
// and can be moved or removed as a whole.
func Stored(s string) (Path, error) { return parse(s, false) }

func parse(s string, strict bool) (Path, error) {
	if len(s) > MaxPathLen*4 {
		return Path{}, invalid("longer than %d bytes", MaxPathLen)
	}
	if !utf8.ValidString(s) {
		return Path{}, invalid("not valid UTF-8")
	}
	for _, r := range s {
		switch {
		case r == 0:
			return Path{}, invalid("contains NUL")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return Path{}, invalid("contains a control character")
		case r == '\\':
			return Path{}, invalid("contains a backslash")
		case r == 0xfffd:
			return Path{}, invalid("contains the replacement character")
		case strict && unicode.Is(unicode.Bidi_Control, r):
			return Path{}, invalid("contains a bidirectional control character (%U)", r)
		case strict && isZeroWidth(r):
			return Path{}, invalid("contains a zero-width character (%U)", r)
		}
	}
	s = norm.NFC.String(s)
	var b strings.Builder
	depth := 0
	for elem := range strings.SplitSeq(s, "/") {
		if elem == "" {
			continue
		}
		if err := checkName(elem); err != nil {
			return Path{}, err
		}
		depth++
		if depth > MaxPathDeep {
			return Path{}, invalid("deeper than %d levels", MaxPathDeep)
		}
		b.WriteByte('/')
		b.WriteString(elem)
	}
	if b.Len() > MaxPathLen {
		return Path{}, invalid("longer than %d bytes", MaxPathLen)
	}
	return Path{s: b.String()}, nil
}

// isZeroWidth reports the characters that display as nothing: zero-width
// space, non-joiner and joiner, word joiner and the byte order mark.
func isZeroWidth(r rune) bool {
	return r >= 0x200b && r <= 0x200d || r == 0x2060 || r == 0xfeff
}

// MustParse is Parse for constants in tests and code; it panics on error.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func checkName(name string) error {
	switch {
	case name == ".", name == "..":
		return invalid("contains a %q element", name)
	case len(name) > MaxNameLen:
		return invalid("a name is longer than %d bytes", MaxNameLen)
	}
	return nil
}

// Resolve joins a client path to a working directory the way a shell would,
// resolving "." and ".." lexically and never above the root, then parses
// the result. Front ends use it for protocols that allow relative paths.
func Resolve(cwd Path, s string) (Path, error) {
	if !strings.HasPrefix(s, "/") {
		s = cwd.String() + "/" + s
	}
	var out []string
	for elem := range strings.SplitSeq(s, "/") {
		switch elem {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, elem)
		}
	}
	return Parse("/" + strings.Join(out, "/"))
}

// String returns the path as "/" or "/a/b".
func (p Path) String() string {
	if p.s == "" {
		return "/"
	}
	return p.s
}

// IsRoot reports whether p is the root.
func (p Path) IsRoot() bool { return p.s == "" }

// Name returns the last element, or "" for the root.
func (p Path) Name() string {
	return p.s[strings.LastIndexByte(p.s, '/')+1:]
}

// Parent returns the directory holding p; the root's parent is the root.
func (p Path) Parent() Path {
	if p.s == "" {
		return p
	}
	return Path{s: p.s[:strings.LastIndexByte(p.s, '/')]}
}

// Child returns p/name after checking name as Parse would.
func (p Path) Child(name string) (Path, error) {
	c, err := Parse(p.s + "/" + name)
	if err != nil {
		return Path{}, err
	}
	if c.Parent() != p {
		return Path{}, invalid("name contains a slash")
	}
	return c, nil
}

// Elems returns the elements of p; none for the root.
func (p Path) Elems() []string {
	if p.s == "" {
		return nil
	}
	return strings.Split(p.s[1:], "/")
}

// Depth returns the number of elements.
func (p Path) Depth() int { return strings.Count(p.s, "/") }

// Within reports whether p is dir or lies below it.
func (p Path) Within(dir Path) bool {
	if dir.s == "" || p.s == dir.s {
		return true
	}
	return strings.HasPrefix(p.s, dir.s) && p.s[len(dir.s)] == '/'
}

// Rebase moves p from below old to below new: Rebase("/a/b/c", "/a", "/x")
// is "/x/b/c". p must be Within old.
func (p Path) Rebase(old, new Path) Path {
	return Path{s: new.s + p.s[len(old.s):]}
}
