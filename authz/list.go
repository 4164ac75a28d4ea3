package authz

import (
	"slices"
	"strings"
	"time"

	"pier/vpath"
)

// Lister filters one folder's listing for one requester. Build it with
// Filter; the zero value shows nothing.
type Lister struct {
	full   bool     // a grant gives list on the folder: show what may be stat'ed
	drop   []*Grant // else grants on dir or above giving create: a drop box shows own uploads
	cover  []*Grant // grants on dir or above giving list or read, to judge files
	exact  []*Grant // grants naming a child exactly, giving list or read
	leadTo []string // names of child folders on the way to granted paths, sorted
}

// Filter prepares the listing of folder dir for the requester described by
// f. When a grant gives list on dir, the listing shows every child folder
// and the files the requester may stat (list or read on them, patterns
// admitting the name); else, in a drop box (a grant gives create on dir),
// only the requester's own recent uploads that a create grant admits; and
// the child folders on the way to granted paths below dir. A child is
// shown only if Decide would allow stat on it, so a listing never reveals
// more than stat would. The Lister refers to grants: leave them unchanged
// while it is in use.
func Filter(f Facts, grants []Grant, dir vpath.Path, now time.Time) Lister {
	var l Lister
	if ok, _ := f.Usable(now); !ok {
		return l
	}
	depth := dir.Depth()
	for i := range grants {
		g := &grants[i]
		if g.Perms&Full == 0 || !g.Subject.Matches(&f) {
			continue
		}
		switch {
		case dir.Within(g.Path):
			l.full = l.full || g.Perms.Has(PermList)
			if g.Perms.Any(PermList | PermRead) {
				l.cover = append(l.cover, g)
			}
			if g.Perms.Has(PermCreate) {
				l.drop = append(l.drop, g)
			}
		case g.Path.Within(dir):
			l.leadTo = append(l.leadTo, g.Path.Elems()[depth])
			if g.Path.Depth() == depth+1 && g.Perms.Any(PermList|PermRead) {
				l.exact = append(l.exact, g)
			}
		}
	}
	slices.Sort(l.leadTo)
	l.leadTo = slices.Compact(l.leadTo)
	return l
}

// Full reports whether the listing shows everything the requester may
// stat (a grant gives list), not a drop box's own uploads alone.
func (l Lister) Full() bool { return l.full }

// Show reports whether the child of the folder called name, a folder if
// isDir, appears in the listing; own says it is the requester's own recent
// upload (Target.OwnUpload).
func (l Lister) Show(name string, isDir, own bool) bool {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return false
	}
	if isDir {
		if l.full {
			return true
		}
		_, found := slices.BinarySearch(l.leadTo, name)
		return found
	}
	folded := ""
	admits := func(g *Grant) bool {
		if !g.hasPatterns() {
			return true
		}
		if folded == "" {
			folded = foldName(judgedName(name))
		}
		ok, _ := g.admits(folded)
		return ok
	}
	if !l.full {
		return own && slices.ContainsFunc(l.drop, admits)
	}
	for _, g := range l.cover {
		if admits(g) {
			return true
		}
	}
	for _, g := range l.exact {
		if g.Path.Name() == name && admits(g) {
			return true
		}
	}
	return false
}
