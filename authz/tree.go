package authz

import (
	"iter"
	"strconv"
	"strings"
	"time"

	"pier/vpath"
)

// TreeAction is an action on a folder together with everything below it.
type TreeAction uint8

// The folder actions. The zero value is denied.
const (
	TreeNone   TreeAction = iota // not an action: always denied
	TreeDelete                   // delete the folder with all it holds
	TreeMove                     // move the folder to another name
	TreeCopy                     // copy the folder with all it holds to another name
)

// String names the folder action, "delete".
func (a TreeAction) String() string {
	switch a {
	case TreeDelete:
		return "delete"
	case TreeMove:
		return "move"
	case TreeCopy:
		return "copy"
	}
	return "none"
}

// TreeEntry is one entry below the folder of a folder action.
type TreeEntry struct {
	Path vpath.Path
	Dir  bool
}

// DecideTree decides a folder action for everything below the folder from
// (the folder itself is decided by Decide or DecideRename): the action is
// allowed only if the requester may do its part on every entry below, so
// that an entry they cannot see or may not touch — a file a deny pattern
// hides, a folder only a narrower grant reaches — stops the whole action
// instead of being changed behind their back. Each entry needs
//
//	delete  delete on the entry
//	move    what DecideRename asks to move the entry to its place below to
//	copy    read on a file (stat on a folder) and create on a file (mkdir on
//	        a folder) at its place below to
//
// below yields the entries under from (for a move or copy, as they are
// before it). It is consumed only when the grants do not already decide
// every entry alike: without grants below the folder(s) and without name
// patterns on the grants covering them, one decision per kind of entry
// serves all. The result is a pure function of its inputs; on refusal,
// Reason names the first entry refused, for the log (the front end answers
// "permission denied" without naming it).
func DecideTree(f Facts, grants []Grant, a TreeAction, from, to vpath.Path, now time.Time, below iter.Seq[TreeEntry]) Decision {
	if ok, why := f.Usable(now); !ok {
		return Decision{Reason: "denied: " + why}
	}
	if a == TreeNone || a > TreeCopy {
		return Decision{Reason: "denied: unknown folder action"}
	}
	t := subtree{f: f, a: a, from: from, to: to, now: now}
	for i := range grants {
		if g := &grants[i]; g.Perms&Full != 0 && g.Subject.Matches(&f) {
			t.mine = append(t.mine, *g)
		}
	}
	denied := [2]bool{} // by kind: file, folder
	if t.uniform(from) && (a == TreeDelete || t.uniform(to)) {
		// Every entry below gets the decision of a child of its kind.
		for i, dir := range []bool{false, true} {
			denied[i] = !t.entry(TreeEntry{Path: t.probe(), Dir: dir}).Allowed
		}
		if !denied[0] && !denied[1] {
			return Decision{Allowed: true, Visible: true,
				Reason: "allowed: every entry below " + from.String() + " alike"}
		}
	} else {
		denied = [2]bool{true, true}
	}
	n := 0
	for e := range below {
		n++
		if !denied[kindIndex(e.Dir)] {
			continue
		}
		if d := t.entry(e); !d.Allowed {
			return Decision{Visible: true, Grants: d.Grants,
				Reason: "denied: the " + a.String() + " of " + from.String() + " reaches " + e.Path.String() +
					": " + strings.TrimPrefix(d.Reason, "denied: ")}
		}
	}
	return Decision{Allowed: true, Visible: true,
		Reason: "allowed: each of the " + strconv.Itoa(n) + " entries below " + from.String()}
}

func kindIndex(dir bool) int {
	if dir {
		return 1
	}
	return 0
}

// subtree holds a folder action's inputs, with only the requester's grants.
type subtree struct {
	f        Facts
	mine     []Grant
	a        TreeAction
	from, to vpath.Path
	now      time.Time
}

// uniform reports whether every entry below root is judged alike by the
// requester's grants: none lies strictly below root, and none covering it
// restricts names.
func (t *subtree) uniform(root vpath.Path) bool {
	for i := range t.mine {
		g := &t.mine[i]
		switch {
		case g.Path != root && g.Path.Within(root):
			return false
		case root.Within(g.Path) && g.hasPatterns():
			return false
		}
	}
	return true
}

// probe is a path standing for any entry directly below from. Its name
// never matters: uniform rules out every grant that would look at it.
func (t *subtree) probe() vpath.Path {
	p, err := t.from.Child("entry")
	if err != nil {
		return t.from
	}
	return p
}

// entry decides the action's part on one entry below from.
func (t *subtree) entry(e TreeEntry) Decision {
	if !e.Path.Within(t.from) || e.Path == t.from {
		return Decision{Reason: "denied: " + e.Path.String() + " is not below " + t.from.String()}
	}
	switch t.a {
	case TreeDelete:
		return Decide(t.f, t.mine, ActDelete, e.Path, t.now, Target{Dir: e.Dir, Exists: true})
	case TreeMove:
		return DecideRename(t.f, t.mine, e.Path, e.Path.Rebase(t.from, t.to), t.now, Target{Dir: e.Dir, Exists: true}, Target{})
	case TreeCopy:
		src := ActRead
		dst := ActCreate
		if e.Dir {
			src, dst = ActStat, ActMkdir
		}
		if d := Decide(t.f, t.mine, src, e.Path, t.now, Target{Dir: e.Dir, Exists: true}); !d.Allowed {
			return d
		}
		return Decide(t.f, t.mine, dst, e.Path.Rebase(t.from, t.to), t.now, Target{Dir: e.Dir})
	}
	return Decision{Reason: "denied: unknown folder action"}
}
