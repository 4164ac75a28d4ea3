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
//	stat           list|read      list|read      any right, or a   create
//	                                             grant below it
//	list           -              -              list or create,   -
//	                                             or a grant below
//	                                             it (filtered)
//	read           read           read           -                 -
//	create         create         overwrite      -                 create
//	overwrite      overwrite      overwrite      -                 create
//	delete         delete         delete         delete            -
//	mkdir          -              -              mkdir             -
//	rename-source  rename|delete  rename|delete  rename|delete     create
//	rename-target  create         overwrite      mkdir             create
//	settime        overwrite      overwrite      mkdir|overwrite   create
//
// # Drop boxes
//
// A grant of create alone makes a drop box: its holder uploads, and learns
// nothing else. An existing file is not visible through such a grant —
// stat, read, overwrite, delete all answer as for a name that does not
// exist — unless it is the requester's own upload (Target.OwnUpload): a file
// whose current version they published recently, as the catalog records it
// (the front end decides how recent, by default within an hour). Their own
// uploads they may stat, list, date, upload again, rename, and rename
// another upload onto (clients that upload to a temporary name and rename
// it, like WinSCP, that retry, and that stat after an upload, like paramiko
// and rclone), but never read, and never rename onto anybody else's file,
// which needs overwrite. Listing a drop box shows
// the requester's own uploads only (Filter).
//
// # Temporary names
//
// File name patterns judge a name with a known temporary suffix by the name
// under it: ".filepart" (WinSCP), ".part", ".partial" (with rclone's random
// tag before it), ".tmp", ".writing" (Spring Integration) and ".inprogress"
// (Apache Camel). A grant that allows only *.edi thus lets a client upload
// "order.edi.filepart"; the rename to the final name is judged on the final
// name, so "order.edi.filepart" never becomes "order.exe".
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
