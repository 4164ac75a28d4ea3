package authz

import (
	"errors"
	"fmt"

	"pier/vpath"
)

// Action is what a front end is about to do. Front ends map every protocol
// method to one Action from an allow-list; the zero value, ActNone, and any
// value not listed here are denied.
type Action uint8

// The actions. The permissions each needs are in the table of rule.
const (
	ActNone         Action = iota // not an action: always denied
	ActStat                       // see that an entry exists and its metadata
	ActList                       // read a folder's entries
	ActRead                       // download a file
	ActCreate                     // upload a file that does not exist
	ActOverwrite                  // upload over an existing file
	ActDelete                     // delete a file or an empty folder
	ActMkdir                      // create a folder
	ActRenameSource               // take an entry away from its old name
	ActRenameTarget               // give an entry its new name
	ActSetTime                    // set an entry's modification time

	actCount = iota
)

// ErrUnknownAction is wrapped by ParseAction errors.
var ErrUnknownAction = errors.New("authz: unknown action")

// ParseAction reads an action's String, as the CLI's explain takes it.
func ParseAction(s string) (Action, error) {
	for a := ActStat; a < actCount; a++ {
		if a.String() == s {
			return a, nil
		}
	}
	return ActNone, fmt.Errorf("%w %q (want stat, list, read, create, overwrite, delete, mkdir, rename-source, rename-target or settime)", ErrUnknownAction, clip(s))
}

// String returns the action's name, "create".
func (a Action) String() string { return a.rule().name }

// kind says whether an action concerns files, folders, or whichever the
// target is.
type kind uint8

const (
	onTarget kind = iota // as Target.Dir says
	onFile               // a file; denied when Target.Dir is set
	onFolder             // a folder, whatever Target.Dir says
)

// rule is one row of the permission table: of each column's permissions,
// any one suffices.
type rule struct {
	name     string
	on       kind
	absent   Perm // a file that does not exist (yet)
	present  Perm // a file that exists
	folder   Perm // a folder
	own      Perm // also enough for the requester's own upload (Target.OwnUpload)
	traverse bool // also allowed on a folder above a granted path
	upload   bool // stores content: Decision.MaxSize applies
}

// rule is THE table of what each action needs. Keep it in step with the
// table in the package documentation.
func (a Action) rule() rule {
	const (
		list, read, create, overwrite = PermList, PermRead, PermCreate, PermOverwrite
		del, rename, mkdir            = PermDelete, PermRename, PermMkdir
	)
	switch a {
	case ActStat:
		return rule{name: "stat", absent: list | read, present: list | read, folder: Full, own: create, traverse: true}
	case ActList:
		return rule{name: "list", on: onFolder, folder: list | create, traverse: true}
	case ActRead:
		return rule{name: "read", on: onFile, absent: read, present: read}
	case ActCreate:
		return rule{name: "create", on: onFile, absent: create, present: overwrite, own: create, upload: true}
	case ActOverwrite:
		return rule{name: "overwrite", on: onFile, absent: overwrite, present: overwrite, own: create, upload: true}
	case ActDelete:
		return rule{name: "delete", absent: del, present: del, folder: del}
	case ActMkdir:
		return rule{name: "mkdir", on: onFolder, folder: mkdir}
	case ActRenameSource:
		return rule{name: "rename-source", absent: rename | del, present: rename | del, folder: rename | del, own: create}
	case ActRenameTarget:
		return rule{name: "rename-target", absent: create, present: overwrite, folder: mkdir, own: create}
	case ActSetTime:
		return rule{name: "settime", absent: overwrite, present: overwrite, folder: mkdir | overwrite, own: create}
	}
	return rule{name: fmt.Sprintf("action(%d)", uint8(a))}
}

// known reports whether a is a real action.
func (a Action) known() bool { return a > ActNone && a < actCount }

// isFolder says whether the action concerns a folder at p. The root is
// always a folder.
func (r *rule) isFolder(p vpath.Path, t Target) bool {
	return r.on == onFolder || t.Dir || p.IsRoot()
}

// need returns the permissions of which any one allows the action on an
// entry of the given kind; none when the action does not apply to it (the
// folder column of a file action is empty).
func (r *rule) need(folder bool, t Target) Perm {
	var n Perm
	switch {
	case folder:
		return r.folder
	case t.Exists:
		n = r.present
	default:
		n = r.absent
	}
	if t.OwnUpload {
		n |= r.own
	}
	return n
}
