package authz

import (
	"slices"
	"strings"
)

// DecideDelegation decides whether an organisation administrator may make
// grant g: a grant an organisation's administrator makes never gives more
// than the organisation itself holds. org describes the organisation as a
// member of it would be described, without a login or a role (Org,
// OrgAncestors, and Groups: the groups the organisation belongs to as a
// whole); of grants, only those to the organisation itself (org subjects)
// or to such groups count. Every permission of g must be held through one
// grant g stays within: a path at or below that grant's, no larger size
// limit, all its deny patterns, and, if it has allow patterns, only some
// of them. Whom g is for is the caller's check (a subject within the
// administrator's organisations). The decision is pure and says which
// grants allow each permission, or which permission nothing allows.
func DecideDelegation(org Facts, grants []Grant, g Grant) Decision {
	if g.Perms&Full == 0 {
		return Decision{Reason: "denied: the grant gives nothing"}
	}
	org.Login, org.Role = "", ""
	var held []*Grant
	for i := range grants {
		h := &grants[i]
		if h.Perms&Full != 0 && (h.Subject.Kind == OrgSubject || h.Subject.Kind == GroupSubject) && h.Subject.Matches(&org) && g.staysWithin(h) {
			held = append(held, h)
		}
	}
	sortGrants(held)
	var by []string
	var used []*Grant
	for i := range permCount {
		bit := Perm(1) << i
		if g.Perms&bit == 0 {
			continue
		}
		j := slices.IndexFunc(held, func(h *Grant) bool { return h.Perms&bit != 0 })
		if j < 0 {
			return Decision{Visible: true, Reason: "denied: " + org.Org + " holds no grant giving " + bitName(bit) + " on " + g.Path.String() +
				" that this grant stays within (same or deeper path, no larger size limit, every deny pattern, only its allow patterns)"}
		}
		by = append(by, bitName(bit)+" by "+held[j].String())
		used = append(used, held[j])
	}
	return Decision{Allowed: true, Visible: true, Grants: ids(used),
		Reason: "allowed: within what " + org.Org + " holds: " + strings.Join(by, ", ")}
}

// staysWithin reports whether g gives no more, on any file, than h does.
func (g *Grant) staysWithin(h *Grant) bool {
	switch {
	case !g.Path.Within(h.Path):
		return false
	case h.MaxSize > 0 && (g.MaxSize <= 0 || g.MaxSize > h.MaxSize):
		return false
	}
	for _, d := range h.Deny {
		if !slices.Contains(g.Deny, d) {
			return false
		}
	}
	if len(h.Allow) == 0 {
		return true
	}
	if len(g.Allow) == 0 {
		return false
	}
	for _, a := range g.Allow {
		if !slices.Contains(h.Allow, a) {
			return false
		}
	}
	return true
}
