// Package authz is pier's authorisation decision: one pure, deterministic
// function from (facts about the requester, grants, action, path, time,
// target) to a Decision with a reason. It does no I/O, reads no clock and
// keeps no state; the caller loads Facts and Grants first (from SQL) and
// calls Decide at the one authorising file system that SFTP and WebDAV share.
//
// # Rights
//
// A Grant gives a Subject (a user, a group, an organisation optionally with
// its descendants, or a role within an organisation optionally with its
// descendants) a set of permissions (Perm) on a folder Path; the grant applies
// to that path and everything below it. Rights only add up: the rights on a
// path are the union of every grant whose subject matches and whose path
// contains it. A more specific grant never removes a right granted higher up,
// and the order of the grants never matters.
//
// # Subjects
//
//	user:alice          the user with login alice
//	group:staff         every user whose Facts.Groups holds staff
//	org:acme            users of organisation acme itself
//	org:acme+sub        users of acme and of every organisation below it
//	role:buyer@acme     users with job role buyer in acme itself
//	role:buyer@acme+sub users with job role buyer in acme or below it
//
// A role subject without "+sub" does not reach the organisation's
// descendants, exactly as an org subject without "+sub" does not.
//
// # Patterns and sizes
//
// A grant's Allow and Deny patterns (path.Match syntax, no "/") apply to the
// name of a FILE, case-insensitively: name and pattern are both lower-cased
// with strings.ToLower and normalised to NFC before matching. Within one
// grant, Deny patterns are tried first, in their order: if one matches, the
// grant gives nothing for that file. Then, if the grant has Allow patterns,
// one of them must match. A malformed pattern fails closed: as a Deny pattern
// it matches everything, as an Allow pattern nothing. Patterns never apply to
// folders: a grant with patterns still lets its subject stat, list, traverse,
// create and delete folders under it as its permissions say. Patterns restrict
// only their own grant; another grant may still give rights on the file.
//
// A grant with MaxSize > 0 gives create and overwrite only for uploads of at
// most MaxSize bytes (Target.Size, when known). Decision.MaxSize is the limit
// a streaming upload must enforce when the size is not known up front.
//
// # Visibility
//
// A path is Visible when some grant gives the requester any right on it (a
// grant on it or above it, whose patterns admit it when it is a file) or, for
// a folder, when some grant lies below it. A path that is not visible must be
// reported as not existing, so that not even existence leaks; Decision.Err
// applies that rule. Folders above granted paths can be stat'ed and listed,
// but such a listing shows only the entries on the way to granted paths (see
// Filter). A file whose name a grant's patterns reject is not visible through
// that grant.
//
// # Actions
//
// Every front-end operation maps to one Action; the permissions each needs
// are in one table (see Action). Of the listed permissions, any one suffices.
//
//	action         file (absent)  file (exists)  folder            own upload
//	stat           list|read      list|read      any right, or a   -
//	                                             grant below it
//	list           -              -              list, or a grant  -
//	                                             below it (filtered)
//	read           read           read           -                 -
//	create         create         overwrite      -                 -
//	overwrite      overwrite      overwrite      -                 -
//	delete         delete         delete         delete            -
//	mkdir          -              -              mkdir             -
//	rename-source  rename|delete  rename|delete  rename|delete     create
//	rename-target  create         overwrite      mkdir             -
//	settime        overwrite      overwrite      mkdir|overwrite   create
//
// Stat of a file needs list or read, so a drop box (create only) can stat its
// folder but learns nothing about the files in it, not even whether a name is
// taken (it is told "permission denied" either way). An "own upload" is a file
// the requester created in the current session, as tracked by the front end
// (Target.OwnUpload): a create-only drop box may set its times and rename it
// (clients that upload to a temporary name and rename it, like WinSCP), but
// never onto an existing name, which needs overwrite.
//
// A rename needs both names: DecideRename asks rename-source on the old name
// and rename-target on the new one, and refuses a move that would make
// readable at the new name a file that is not readable at the old one (a
// rename must not expose content); a folder is judged by the rights on the
// folder's own path.
//
// # Accounts
//
// Everything is refused, and nothing is visible, unless the account's Status
// is active, its expiry (if any) is still ahead, and the request's protocol is
// one the account may use.
package authz
