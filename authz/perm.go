package authz

import (
	"errors"
	"fmt"
	"strings"
)

// Perm is a set of permissions. The zero value is the empty set. The bits
// are ordered as the product brief lists them; String prints them in that
// order and ParsePerms reads String's output back.
type Perm uint16

// The single permissions.
const (
	PermList      Perm = 1 << iota // read a folder's entries
	PermRead                       // download a file
	PermCreate                     // upload a file that does not exist yet
	PermOverwrite                  // replace an existing file
	PermDelete                     // delete a file or an empty folder
	PermRename                     // rename or move an entry away from its name
	PermMkdir                      // create a folder

	permCount = iota
)

// Presets, also accepted by ParsePerms under their lower-case names.
const (
	// PermNone is the empty set, "none".
	PermNone Perm = 0
	// DropBox is "dropbox": upload new files, nothing else.
	DropBox = PermCreate
	// ReadOnly is "readonly": list and read.
	ReadOnly = PermList | PermRead
	// ReadWrite is "readwrite": list, read, create, overwrite and mkdir,
	// but neither delete nor rename.
	ReadWrite = PermList | PermRead | PermCreate | PermOverwrite | PermMkdir
	// Full is "full": every permission.
	Full = Perm(1)<<permCount - 1
)

// ErrUnknownPerm is wrapped by ParsePerms errors.
var ErrUnknownPerm = errors.New("authz: unknown permission")

// bitName names one single permission.
func bitName(b Perm) string {
	switch b {
	case PermList:
		return "list"
	case PermRead:
		return "read"
	case PermCreate:
		return "create"
	case PermOverwrite:
		return "overwrite"
	case PermDelete:
		return "delete"
	case PermRename:
		return "rename"
	case PermMkdir:
		return "mkdir"
	}
	return ""
}

// lookupPerm resolves one word of a permission list: a single permission
// or a preset.
func lookupPerm(w string) (Perm, bool) {
	switch w {
	case "none":
		return PermNone, true
	case "dropbox":
		return DropBox, true
	case "readonly":
		return ReadOnly, true
	case "readwrite":
		return ReadWrite, true
	case "full":
		return Full, true
	}
	for i := range permCount {
		if b := Perm(1) << i; bitName(b) == w {
			return b, true
		}
	}
	return 0, false
}

// ParsePerms reads a comma-separated list of permission and preset names,
// such as "list,read,create" or "readonly,create". Case and spaces around
// names are ignored; "none" is the empty set. An empty list, an empty name or
// an unknown name is an error that names the offending word.
func ParsePerms(s string) (Perm, error) {
	if strings.TrimSpace(s) == "" {
		return 0, fmt.Errorf("%w: empty list (use \"none\" for no permission)", ErrUnknownPerm)
	}
	var p Perm
	for w := range strings.SplitSeq(s, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			return 0, fmt.Errorf("%w: empty name in %q", ErrUnknownPerm, clip(s))
		}
		b, ok := lookupPerm(w)
		if !ok {
			return 0, fmt.Errorf("%w %q (want list, read, create, overwrite, delete, rename, mkdir, none, dropbox, readonly, readwrite or full)", ErrUnknownPerm, clip(w))
		}
		p |= b
	}
	return p, nil
}

// String lists the permissions in canonical order, comma-separated, or
// returns "none". Bits outside Full, which no parser produces, are shown as
// "unknown(0x..)".
func (p Perm) String() string {
	if p == 0 {
		return "none"
	}
	var b strings.Builder
	for i := range permCount {
		if bit := Perm(1) << i; p&bit != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(bitName(bit))
		}
	}
	if extra := p &^ Full; extra != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "unknown(%#x)", uint16(extra))
	}
	return b.String()
}

// Has reports whether p holds every permission in q.
func (p Perm) Has(q Perm) bool { return p&q == q }

// Any reports whether p holds at least one permission of q.
func (p Perm) Any(q Perm) bool { return p&q != 0 }

// alternatives prints p as a choice, "delete or rename", for reasons.
func (p Perm) alternatives() string {
	if p == Full {
		return "any right"
	}
	return strings.ReplaceAll(p.String(), ",", " or ")
}

// clip shortens user input echoed in errors.
func clip(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
