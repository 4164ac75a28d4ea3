package authz

import (
	"slices"
	"strings"
	"time"

	"pier/vpath"
)

// DecideRename decides a rename or move of the entry at from to the name
// to. moved describes the entry (Dir, Size, OwnUpload; it exists); dst
// describes what the rename replaces at to: Exists, and OwnUpload when it
// is the requester's own upload (a drop box may replace its own upload,
// as a client that retries an upload under a temporary name does). The
// rename is allowed when
//
//   - rename-source is allowed on from (rename or delete, or create for the
//     requester's own upload),
//   - rename-target is allowed on to (create, overwrite when replacing, mkdir
//     for a folder; a size limit at to applies to moved.Size), and
//   - the entry does not become readable at to while it is not readable at
//     from (a rename must not expose content; own uploads excepted). Rights
//     are judged on the entry's own path, also for a folder.
//
// The decision is Visible when from is; Grants joins both sides' grants.
func DecideRename(f Facts, grants []Grant, from, to vpath.Path, now time.Time, moved, dst Target) Decision {
	if ok, why := f.Usable(now); !ok {
		return Decision{Reason: "denied: " + why}
	}
	src := Decide(f, grants, ActRenameSource, from, now,
		Target{Dir: moved.Dir, Exists: true, Size: moved.Size, OwnUpload: moved.OwnUpload})
	dd := Decide(f, grants, ActRenameTarget, to, now,
		Target{Dir: moved.Dir, Exists: dst.Exists, Size: moved.Size, OwnUpload: dst.Exists && dst.OwnUpload})
	d := Decision{Visible: src.Visible}
	switch {
	case !src.Allowed:
		d.Grants = src.Grants
		d.Reason = "denied: cannot rename from " + from.String() + ": " + strings.TrimPrefix(src.Reason, "denied: ")
	case !dd.Allowed:
		d.Grants = dd.Grants
		d.Reason = "denied: cannot rename to " + to.String() + ": " + strings.TrimPrefix(dd.Reason, "denied: ")
	case !moved.OwnUpload && readable(&f, grants, to, moved.Dir) && !readable(&f, grants, from, moved.Dir):
		d.Grants = joinIDs(src.Grants, dd.Grants)
		d.Reason = "denied: " + to.String() + " would be readable but " + from.String() + " is not: a rename must not expose content"
	default:
		d.Allowed = true
		d.Grants = joinIDs(src.Grants, dd.Grants)
		d.Reason = "allowed: from " + from.String() + " " + strings.TrimPrefix(src.Reason, "allowed ") +
			"; to " + to.String() + " " + strings.TrimPrefix(dd.Reason, "allowed ")
	}
	return d
}

// readable reports whether some grant gives read on the entry at p.
func readable(f *Facts, grants []Grant, p vpath.Path, folder bool) bool {
	var s scan
	s.run(f, grants, p, folder || p.IsRoot(), Target{Dir: folder, Exists: true}, PermRead)
	return s.perms.Has(PermRead)
}

// joinIDs merges two ascending ID lists.
func joinIDs(a, b []int64) []int64 {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
