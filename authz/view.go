package authz

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"pier/vpath"
)

// ViewEntry is one granted path of a requester's view, as "pier access
// view" prints it.
type ViewEntry struct {
	// Path is a path some grant names.
	Path vpath.Path
	// Perms are the rights on Path and below it: the union of the grants on
	// Path and above. On files, Limits may narrow the rights of one grant.
	Perms Perm
	// Grants are the IDs of those grants, ascending.
	Grants []int64
	// Limits describe the patterns and size limits of those grants, one per
	// grant that has any: "grant 10 (create,read): allow *.edi; max 1024 bytes".
	Limits []string
}

// String prints the entry on one line:
// "/acme/inbound: create (grant 1); grant 10 (create): allow *.edi".
func (e ViewEntry) String() string {
	var b strings.Builder
	b.WriteString(e.Path.String())
	b.WriteString(": ")
	b.WriteString(e.Perms.String())
	b.WriteString(" (grant")
	if len(e.Grants) > 1 {
		b.WriteByte('s')
	}
	for i, id := range e.Grants {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte(')')
	for _, l := range e.Limits {
		b.WriteString("; ")
		b.WriteString(l)
	}
	return b.String()
}

// View lists, in path order, every path that a grant for the requester
// names, with the rights there. An account that Facts.Usable refuses has an
// empty view; the caller shows why.
func View(f Facts, grants []Grant, now time.Time) []ViewEntry {
	if ok, _ := f.Usable(now); !ok {
		return nil
	}
	var mine []*Grant
	for i := range grants {
		if g := &grants[i]; g.Perms&Full != 0 && g.Subject.Matches(&f) {
			mine = append(mine, g)
		}
	}
	sortGrants(mine)
	paths := make([]vpath.Path, 0, len(mine))
	for _, g := range mine {
		paths = append(paths, g.Path)
	}
	// Tree order: a folder's subfolders follow it, before its siblings.
	slices.SortFunc(paths, func(a, b vpath.Path) int { return slices.Compare(a.Elems(), b.Elems()) })
	paths = slices.Compact(paths)

	view := make([]ViewEntry, 0, len(paths))
	for _, p := range paths {
		e := ViewEntry{Path: p}
		for _, g := range mine {
			if !p.Within(g.Path) {
				continue
			}
			e.Perms |= g.Perms & Full
			e.Grants = append(e.Grants, g.ID)
			if c := g.conditions(); c != "" {
				e.Limits = append(e.Limits, "grant "+strconv.FormatInt(g.ID, 10)+
					" ("+(g.Perms&Full).String()+"): "+strings.TrimPrefix(c, "; "))
			}
		}
		e.Grants = slices.Compact(e.Grants)
		view = append(view, e)
	}
	return view
}
