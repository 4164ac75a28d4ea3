package authz

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// Words that make the matrix read like a policy.
const (
	allow   = true
	deny    = false
	visible = true
	hidden  = false
	// rename and renameOver are not Actions: they ask DecideRename for a
	// whole rename, renameOver onto a name that is taken.
	rename     = Action(200)
	renameOver = Action(201)
)

type matrixCase struct {
	name    string
	who     string
	act     Action
	path    string
	to      string // rename: the new name
	target  Target // rename: the entry moved
	allowed bool
	visible bool
}

func TestPermissionMatrix(t *testing.T) {
	var (
		newFile   = Target{}
		oldFile   = Target{Exists: true}
		folder    = Target{Dir: true, Exists: true}
		newFolder = Target{Dir: true}
		ownUpload = Target{Exists: true, OwnUpload: true}
		sized     = func(n int64) Target { return Target{Size: n} }
	)
	const MiB = 1 << 20
	cases := []matrixCase{
		// acme-edi: a drop box on /acme/inbound.
		{"drop box: upload a new order", "acme-edi", ActCreate, "/acme/inbound/order1.edi", "", newFile, allow, visible},
		{"drop box: no overwrite of an existing file, whose name it does not learn", "acme-edi", ActOverwrite, "/acme/inbound/order1.edi", "", oldFile, deny, hidden},
		{"drop box: create over an existing file is an overwrite", "acme-edi", ActCreate, "/acme/inbound/order1.edi", "", oldFile, deny, hidden},
		{"drop box: upload its own upload again", "acme-edi", ActCreate, "/acme/inbound/order1.edi", "", ownUpload, allow, visible},
		{"drop box: lists (its own uploads only, see Filter)", "acme-edi", ActList, "/acme/inbound", "", folder, allow, visible},
		{"drop box: no reading what others dropped", "acme-edi", ActRead, "/acme/inbound/order1.edi", "", oldFile, deny, hidden},
		{"drop box: nor its own upload", "acme-edi", ActRead, "/acme/inbound/order1.edi", "", ownUpload, deny, visible},
		{"drop box: stat of its own folder", "acme-edi", ActStat, "/acme/inbound", "", folder, allow, visible},
		{"drop box: no stat of another's file: not found", "acme-edi", ActStat, "/acme/inbound/order1.edi", "", oldFile, deny, hidden},
		{"drop box: stat of its own upload", "acme-edi", ActStat, "/acme/inbound/order1.edi", "", ownUpload, allow, visible},
		{"drop box: no stat of a free name either: not found", "acme-edi", ActStat, "/acme/inbound/order9.edi", "", newFile, deny, hidden},
		{"drop box: no delete", "acme-edi", ActDelete, "/acme/inbound/order1.edi", "", oldFile, deny, hidden},
		{"drop box: no mkdir", "acme-edi", ActMkdir, "/acme/inbound/2026", "", newFolder, deny, visible},
		{"drop box: set the time of its own upload", "acme-edi", ActSetTime, "/acme/inbound/order1.edi", "", ownUpload, allow, visible},
		{"drop box: not the time of another file", "acme-edi", ActSetTime, "/acme/inbound/order1.edi", "", oldFile, deny, hidden},
		{"drop box: rename its own upload from a temporary name", "acme-edi", rename, "/acme/inbound/order1.edi.filepart", "/acme/inbound/order1.edi", ownUpload, allow, visible},
		{"drop box: not onto a taken name", "acme-edi", renameOver, "/acme/inbound/order1.edi.filepart", "/acme/inbound/order1.edi", ownUpload, deny, visible},
		{"drop box: not another file", "acme-edi", rename, "/acme/inbound/order1.edi", "/acme/inbound/order2.edi", oldFile, deny, hidden},
		{"outbound: list", "acme-edi", ActList, "/acme/outbound", "", folder, allow, visible},
		{"outbound: read an order", "acme-edi", ActRead, "/acme/outbound/po1.edi", "", oldFile, allow, visible},
		{"outbound: no upload", "acme-edi", ActCreate, "/acme/outbound/x.edi", "", newFile, deny, visible},
		{"outbound: no delete", "acme-edi", ActDelete, "/acme/outbound/po1.edi", "", oldFile, deny, visible},

		// Existence of what is not granted does not leak.
		{"other org: globex does not exist for acme-edi", "acme-edi", ActStat, "/globex", "", folder, deny, hidden},
		{"other org: nor its folders", "acme-edi", ActList, "/globex/inbound", "", folder, deny, hidden},
		{"other org: nor its files", "acme-edi", ActRead, "/globex/inbound/x.edi", "", oldFile, deny, hidden},
		{"ancestor: /acme is a folder on the way", "acme-edi", ActStat, "/acme", "", folder, allow, visible},
		{"ancestor: /acme lists (filtered)", "acme-edi", ActList, "/acme", "", folder, allow, visible},
		{"ancestor: the root lists (filtered)", "acme-edi", ActList, "/", "", Target{}, allow, visible},
		{"ancestor: no mkdir in /acme", "acme-edi", ActMkdir, "/acme/new", "", newFolder, deny, hidden},
		{"ancestor: no upload into /acme", "acme-edi", ActCreate, "/acme/x.edi", "", newFile, deny, hidden},
		{"sibling: /acme/catalog does not exist for acme-edi", "acme-edi", ActStat, "/acme/catalog", "", folder, deny, hidden},
		{"sibling: nor a file in /acme", "acme-edi", ActRead, "/acme/secret.txt", "", oldFile, deny, hidden},
		{"protocol: acme-edi may not use WebDAV", "acme-edi-over-webdav", ActCreate, "/acme/inbound/x.edi", "", newFile, deny, hidden},

		// anna, staff through group:staff; a narrower grant of her own.
		{"staff: list a partner folder", "anna", ActList, "/acme", "", folder, allow, visible},
		{"staff: publish a document", "anna", ActCreate, "/acme/outbound/manual.pdf", "", newFile, allow, visible},
		{"staff: replace a document", "anna", ActOverwrite, "/acme/outbound/po1.edi", "", oldFile, allow, visible},
		{"staff: make a folder", "anna", ActMkdir, "/acme/docs", "", newFolder, allow, visible},
		{"staff: no delete", "anna", ActDelete, "/acme/outbound/po1.edi", "", oldFile, deny, visible},
		{"staff: read what partners sent", "anna", ActRead, "/acme/inbound/order1.edi", "", oldFile, allow, visible},
		{"staff: a narrower grant removes nothing", "anna", ActCreate, "/acme/inbound/note.txt", "", newFile, allow, visible},
		{"staff: globex too", "anna", ActRead, "/globex/inbound/x.edi", "", oldFile, allow, visible},
		{"staff: hq-sales reads /hq through org:hq+sub", "anna", ActList, "/hq", "", folder, allow, visible},
		{"staff: hq-sales is not hq for board papers", "anna", ActCreate, "/hq/board/minutes.pdf", "", newFile, deny, visible},
		{"hq itself files board papers", "hank", ActCreate, "/hq/board/minutes.pdf", "", newFile, allow, visible},
		{"staff: no partner uploads area", "anna", ActStat, "/shared", "", folder, deny, hidden},
		{"staff: no rename without rename or delete", "anna", rename, "/acme/outbound/a.pdf", "/acme/docs/a.pdf", oldFile, deny, visible},
		{"staff: a folder cannot be read as a file", "anna", ActRead, "/acme", "", folder, deny, visible},

		// Roles and organisations.
		{"role+sub: bob at acme-berlin reads the catalog", "bob", ActRead, "/acme/catalog/prices.pdf", "", oldFile, allow, visible},
		{"role+sub: and lists it", "bob", ActList, "/acme/catalog", "", folder, allow, visible},
		{"role+sub: read only", "bob", ActCreate, "/acme/catalog/x.pdf", "", newFile, deny, visible},
		{"org+sub: acme-berlin inherits /acme/shared", "bob", ActList, "/acme/shared", "", folder, allow, visible},
		{"role without +sub: not for acme-berlin", "bob", ActRead, "/acme/buyers/terms.pdf", "", oldFile, deny, hidden},
		{"role without +sub: for acme's own buyers", "carla", ActRead, "/acme/buyers/terms.pdf", "", oldFile, allow, visible},
		{"role+sub: covers acme itself", "carla", ActRead, "/acme/catalog/prices.pdf", "", oldFile, allow, visible},
		{"org+sub: covers acme itself", "carla", ActList, "/acme/shared", "", folder, allow, visible},
		{"role: a buyer at globex is not acme's", "dave", ActRead, "/acme/catalog/prices.pdf", "", oldFile, deny, hidden},
		{"role: bob sees /acme on the way", "bob", ActList, "/acme", "", folder, allow, visible},
		{"role: bob sees no inbound", "bob", ActRead, "/acme/inbound/order1.edi", "", oldFile, deny, hidden},

		// Patterns and sizes: globex-edi exchanges *.edi and *.xml up to 10 MiB.
		{"pattern: an EDI file", "globex-edi", ActCreate, "/globex/inbound/order.edi", "", sized(1 * MiB), allow, visible},
		{"pattern: case does not matter", "globex-edi", ActCreate, "/globex/inbound/ORDER.EDI", "", newFile, allow, visible},
		{"pattern: other names get nothing", "globex-edi", ActCreate, "/globex/inbound/notes.txt", "", newFile, deny, hidden},
		{"temporary name: judged by the name under it", "globex-edi", ActCreate, "/globex/inbound/order.edi.filepart", "", newFile, allow, visible},
		{"temporary name: .part of a refused name", "globex-edi", ActCreate, "/globex/inbound/notes.txt.part", "", newFile, deny, hidden},
		{"temporary name: rclone's tagged .partial", "globex-edi", ActCreate, "/globex/inbound/order.edi.3fa9C1e2.partial", "", newFile, allow, visible},
		{"temporary name: renamed to a refused name", "globex-edi", rename, "/globex/inbound/order.edi.tmp", "/globex/inbound/order.exe", ownUpload, deny, visible},
		{"temporary name: renamed to its final name", "globex-edi", rename, "/globex/inbound/order.edi.writing", "/globex/inbound/order.edi", ownUpload, allow, visible},
		{"pattern: nor can they be read", "globex-edi", ActRead, "/globex/inbound/notes.txt", "", oldFile, deny, hidden},
		{"size: over the limit", "globex-edi", ActCreate, "/globex/inbound/big.edi", "", sized(20 * MiB), deny, visible},
		{"size: exactly the limit", "globex-edi", ActCreate, "/globex/inbound/exact.edi", "", sized(10 * MiB), allow, visible},
		{"pattern: the folder still lists", "globex-edi", ActList, "/globex/inbound", "", folder, allow, visible},
		{"pattern: no mkdir (a permission, not a pattern)", "globex-edi", ActMkdir, "/globex/inbound/2026", "", newFolder, deny, visible},
		{"pattern: folders below are traversed", "globex-edi", ActRead, "/globex/inbound/2026/order.xml", "", oldFile, allow, visible},
		{"pattern: folders are not matched", "globex-edi", ActStat, "/globex/inbound/2026", "", folder, allow, visible},
		{"deny pattern: a document", "acme-edi", ActCreate, "/shared/uploads/manual.pdf", "", newFile, allow, visible},
		{"deny pattern: no program", "acme-edi", ActCreate, "/shared/uploads/setup.exe", "", newFile, deny, hidden},
		{"deny pattern: in any case", "acme-edi", ActCreate, "/shared/uploads/SETUP.EXE", "", newFile, deny, hidden},
		{"deny pattern: no script", "acme-edi", ActCreate, "/shared/uploads/run.bat", "", newFile, deny, hidden},
		{"deny pattern: the folder still lists", "acme-edi", ActList, "/shared/uploads", "", folder, allow, visible},

		// Renames need rights on both names.
		{"rename: within what ops may change", "olga", rename, "/acme/outbound/po1.edi", "/acme/outbound/archive/po1.edi", oldFile, allow, visible},
		{"rename: not into a folder without rights", "olga", rename, "/acme/outbound/po1.edi", "/acme/inbound/po1.edi", oldFile, deny, visible},
		{"rename: replacing needs overwrite", "olga", renameOver, "/acme/outbound/a.edi", "/acme/outbound/b.edi", oldFile, allow, visible},
		{"rename: a folder needs mkdir at the target", "olga", rename, "/acme/outbound/2025", "/acme/outbound/old", folder, allow, visible},
		{"rename: source half alone", "olga", ActRenameSource, "/acme/outbound/po1.edi", "", oldFile, allow, visible},
		{"rename: target half alone needs create", "acme-edi", ActRenameTarget, "/acme/outbound/po1.edi", "", newFile, deny, visible},
		{"rename: delete is enough at the source", "sweeper", rename, "/acme/inbound/x.edi", "/acme/quarantine/x.edi", oldFile, allow, visible},
		{"rename: must not make an unreadable file readable", "sweeper", rename, "/acme/inbound/x.edi", "/acme/archive/x.edi", oldFile, deny, visible},
		{"rename: a hidden source stays hidden", "sweeper", rename, "/acme/outbound/x.edi", "/acme/quarantine/x.edi", oldFile, deny, hidden},
		{"delete: ops may", "olga", ActDelete, "/acme/outbound/po1.edi", "", oldFile, allow, visible},

		// Accounts that may not work see nothing.
		{"suspended: nothing", "sam", ActRead, "/acme/outbound/po1.edi", "", oldFile, deny, hidden},
		{"suspended: not even the root", "sam", ActList, "/", "", folder, deny, hidden},
		{"pending: nothing", "pete", ActList, "/acme", "", folder, deny, hidden},
		{"expired status: nothing", "xena", ActRead, "/acme/outbound/po1.edi", "", oldFile, deny, hidden},
		{"expiry passed: nothing", "erin", ActRead, "/acme/outbound/po1.edi", "", oldFile, deny, hidden},
		{"expiry at this very instant: nothing", "ned", ActRead, "/acme/outbound/po1.edi", "", oldFile, deny, hidden},
		{"unreadable restriction: nothing", "uma", ActRead, "/acme/outbound/po1.edi", "", oldFile, deny, hidden},
		{"unreadable restriction: not even the root", "uma", ActList, "/", "", folder, deny, hidden},
		{"unreadable restrictions: no upload", "ulf", ActCreate, "/acme/inbound/x.edi", "", newFile, deny, hidden},
		{"expiry ahead: works", "fay", ActRead, "/acme/outbound/po1.edi", "", oldFile, allow, visible},
		{"unknown action: denied", "anna", ActNone, "/acme", "", folder, deny, hidden},
	}
	grants := policyGrants()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decideCase(grants, c)
			t.Log(d.Reason)
			if d.Allowed != c.allowed || d.Visible != c.visible {
				t.Errorf("%s %s %s: allowed=%v visible=%v, want allowed=%v visible=%v\nreason: %s",
					c.who, c.act, c.path, d.Allowed, d.Visible, c.allowed, c.visible, d.Reason)
			}
			checkDecision(t, d)
		})
	}
	if len(cases) < 60 {
		t.Errorf("the matrix has %d cases; the policy wants at least 60", len(cases))
	}
}

func decideCase(grants []Grant, c matrixCase) Decision {
	if c.act == rename || c.act == renameOver {
		return DecideRename(person(c.who), grants, vp(c.path), vp(c.to), testNow(), c.target, Target{Exists: c.act == renameOver})
	}
	return Decide(person(c.who), grants, c.act, vp(c.path), testNow(), c.target)
}

// checkDecision checks what every decision must satisfy.
func checkDecision(t *testing.T, d Decision) {
	t.Helper()
	if d.Allowed && !d.Visible {
		t.Errorf("allowed but not visible: %s", d.Reason)
	}
	prefix := map[bool]string{true: "allowed", false: "denied: "}[d.Allowed]
	if !strings.HasPrefix(d.Reason, prefix) {
		t.Errorf("reason %q does not start with %q", d.Reason, prefix)
	}
	for i := 1; i < len(d.Grants); i++ {
		if d.Grants[i-1] >= d.Grants[i] {
			t.Errorf("grants %v not strictly ascending", d.Grants)
		}
	}
	want := map[[2]bool]error{{true, true}: nil, {false, true}: fs.ErrPermission, {false, false}: fs.ErrNotExist}[[2]bool{d.Allowed, d.Visible}]
	if err := d.Err(); !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Errorf("Err() = %v, want %v", err, want)
	}
}
