package authz

import (
	"cmp"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"pier/vpath"
)

// Target is what the decision may need to know about the entry at the path.
// The front end fills it from the catalog before deciding.
type Target struct {
	// Dir says the entry is (or, for mkdir, will be) a folder. List and
	// Mkdir always concern folders; Read, Create and Overwrite are refused
	// on folders. The root is always a folder.
	Dir bool
	// Exists says an entry is at the path now. It selects the "exists"
	// column of the table: Create over an existing file needs overwrite.
	Exists bool
	// Size is the number of bytes to be stored, when known: grants whose
	// MaxSize it exceeds give no create or overwrite. Zero means unknown (or
	// empty); the front end then enforces Decision.MaxSize while streaming.
	Size int64
	// OwnUpload says the file was created by the requester in the current
	// session, as the front end tracked it; it lets a drop box set the
	// times of its upload and rename it (see the package documentation).
	OwnUpload bool
}

// Decision is the outcome of Decide. The zero value denies and hides.
type Decision struct {
	// Allowed says the action may go ahead.
	Allowed bool
	// Visible says the requester has some right on the path, above it or
	// (for a folder) below it. When neither Allowed nor Visible, the
	// front end must answer "not found": see Err.
	Visible bool
	// Grants are the IDs of the grants the decision rests on, ascending:
	// those giving the needed permission when Allowed (or the granted
	// paths a folder leads to), else those that make the path Visible.
	Grants []int64
	// Reason explains the decision in one line for logs and for
	// "pier access explain", e.g. "allowed by grant 7 (group:staff on
	// /acme: list,read)".
	Reason string
	// MaxSize is the largest upload the allowing grants accept, in bytes,
	// for create and overwrite; 0 means no limit (or not an upload).
	MaxSize int64
}

// Err maps the decision to the error a front end returns: nil when allowed,
// fs.ErrPermission when the path is visible, else fs.ErrNotExist, so that
// a path without any right does not even exist for the requester.
func (d Decision) Err() error {
	switch {
	case d.Allowed:
		return nil
	case d.Visible:
		return fs.ErrPermission
	}
	return fs.ErrNotExist
}

// Decide decides whether the requester described by f may perform action a
// on path p at time now, given every grant that might apply (grants for
// other subjects are ignored, in any order) and what the front end knows
// about the target. It is pure: same inputs, same Decision.
func Decide(f Facts, grants []Grant, a Action, p vpath.Path, now time.Time, t Target) Decision {
	if !a.known() {
		return Decision{Reason: "denied: unknown " + a.String()}
	}
	if ok, why := f.Usable(now); !ok {
		return Decision{Reason: "denied: " + why}
	}
	r := a.rule()
	folder := r.isFolder(p, t)
	need := r.need(folder, t)
	var s scan
	s.run(&f, grants, p, folder, t, need)
	return s.decision(&r, p, folder, t, need)
}

// scan collects what the grants give on one path.
type scan struct {
	perms   Perm     // union of the rights of the grants covering the path
	allow   []*Grant // covering grants that give a needed permission
	visible []*Grant // covering grants whose patterns admit the path
	below   []*Grant // grants strictly below the path (folders only)
	drop    []*Grant // covering drop-box grants (create alone) that hide an existing file
	notes   []note   // covering grants that would give a needed permission but for a condition
}

// note says why a grant gave nothing.
type note struct {
	g   *Grant
	why string
}

// uploadPerms are the permissions a grant's MaxSize limits.
const uploadPerms = PermCreate | PermOverwrite

func (s *scan) run(f *Facts, grants []Grant, p vpath.Path, folder bool, t Target, need Perm) {
	size := t.Size
	var folded string
	for i := range grants {
		g := &grants[i]
		if g.Perms&Full == 0 {
			continue
		}
		// The path test first: it rules out most grants, and cheaply.
		if !p.Within(g.Path) {
			if folder && g.Path.Within(p) && g.Subject.Matches(f) {
				s.below = append(s.below, g)
			}
			continue
		}
		if !g.Subject.Matches(f) {
			continue
		}
		eff := g.Perms & Full
		if !folder && g.hasPatterns() {
			if folded == "" {
				folded = foldName(judgedName(p.Name()))
			}
			if ok, why := g.admits(folded); !ok {
				if eff&need != 0 {
					s.notes = append(s.notes, note{g, "does not admit the name: " + why})
				}
				continue
			}
		}
		// A drop box (create alone) shows no file that exists, but for the
		// requester's own upload: whether a name is taken is not its
		// business.
		// (A free name is visible to it only for what create gives.)
		if folder || eff != PermCreate || t.OwnUpload || !t.Exists && need&PermCreate != 0 {
			s.visible = append(s.visible, g)
		} else {
			s.drop = append(s.drop, g)
		}
		if !folder && size > 0 && g.MaxSize > 0 && size > g.MaxSize {
			if eff&need != 0 && eff&need&^uploadPerms == 0 {
				s.notes = append(s.notes, note{g, fmt.Sprintf("takes at most %d bytes, this upload has %d", g.MaxSize, size)})
			}
			eff &^= uploadPerms
		}
		s.perms |= eff
		if eff&need != 0 {
			s.allow = append(s.allow, g)
		}
	}
}

func (s *scan) decision(r *rule, p vpath.Path, folder bool, t Target, need Perm) Decision {
	d := Decision{Visible: len(s.visible) > 0 || len(s.below) > 0}
	switch {
	case s.perms&need != 0:
		sortGrants(s.allow)
		d.Allowed = true
		d.Grants = ids(s.allow)
		d.Reason = "allowed by " + describe(s.allow)
		if r.upload {
			d.MaxSize = maxSize(s.allow)
		}
	case r.traverse && folder && len(s.below) > 0:
		sortGrants(s.below)
		d.Allowed = true
		d.Grants = ids(s.below)
		d.Reason = "allowed: " + p.String() + " leads to " + describe(s.below)
		if r.on == onFolder {
			d.Reason += "; only the entries on the way are listed"
		}
	default:
		d.Reason = s.denial(r, p, folder, t, need)
		d.Grants = ids(slices.Concat(s.visible, s.below))
	}
	return d
}

// denial explains a refusal: what was needed, which conditions kept grants
// from giving it, and whether the path is visible.
func (s *scan) denial(r *rule, p vpath.Path, folder bool, t Target, need Perm) string {
	var b strings.Builder
	switch {
	case need == 0:
		fmt.Fprintf(&b, "denied: %s does not apply to a folder (%s)", r.name, p)
	default:
		fmt.Fprintf(&b, "denied: no grant gives %s on %s", need.alternatives(), p)
		if !folder && t.Exists && r.present != r.absent {
			b.WriteString(" (it exists)")
		}
	}
	slices.SortFunc(s.notes, func(x, y note) int { return cmpGrant(x.g, y.g) })
	for _, n := range s.notes {
		fmt.Fprintf(&b, "; %s %s", n.g, n.why)
	}
	switch {
	case len(s.visible) > 0:
		sortGrants(s.visible)
		b.WriteString("; visible through " + describe(s.visible))
	case len(s.below) > 0:
		sortGrants(s.below)
		b.WriteString("; visible on the way to " + describe(s.below))
	case len(s.drop) > 0:
		sortGrants(s.drop)
		b.WriteString("; hidden: a drop box sees no file but the requester's own recent uploads (" + describe(s.drop) + ")")
	default:
		b.WriteString("; hidden: no grant reaches it")
	}
	return b.String()
}

// cmpGrant orders grants by ID, and grants sharing an ID (which a loader
// should never produce) by their description, so that the order of the
// input never shows in a Decision.
func cmpGrant(a, b *Grant) int {
	if c := cmp.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return strings.Compare(a.String(), b.String())
}

func sortGrants(gs []*Grant) { slices.SortFunc(gs, cmpGrant) }

// ids returns the grants' IDs ascending, without repeats; nil for none.
func ids(gs []*Grant) []int64 {
	if len(gs) == 0 {
		return nil
	}
	out := make([]int64, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// describeMax is how many grants a reason spells out.
const describeMax = 3

// describe lists sorted grants for a reason, the first few in full.
func describe(gs []*Grant) string {
	var b strings.Builder
	for i, g := range gs {
		if i == describeMax {
			b.WriteString(" and " + strconv.Itoa(len(gs)-i) + " more")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(g.String())
	}
	return b.String()
}

// maxSize is the largest upload any of the allowing grants accepts, 0 if
// one of them has no limit.
func maxSize(allow []*Grant) int64 {
	var m int64
	for _, g := range allow {
		if g.MaxSize <= 0 {
			return 0
		}
		m = max(m, g.MaxSize)
	}
	return m
}
