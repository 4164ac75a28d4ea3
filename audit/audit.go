// Package audit keeps pier's audit trail: who logged in, who read,
// uploaded, renamed or deleted which file, who was refused what, and who
// changed which account or permission — in an append-only log in the
// database that anyone holding the log's public key can verify.
//
// A change and its record are written in one transaction (db.Tx.Journal
// puts the record in an inbox), so a published file without its record
// cannot exist. A sequencer, on one node at a time, moves the inbox into
// the log: every record gets the next sequence number and becomes a leaf
// of a Merkle tree in the RFC 6962 style of Go's checksum database
// (golang.org/x/mod/sumdb/tlog), and the node signs checkpoints of the
// tree (tree size and root hash, a golang.org/x/mod/sumdb/note signed with
// an Ed25519 key). Editing, deleting or reordering records afterwards —
// even directly in SQL — no longer matches the stored hashes and signed
// checkpoints: Verify names the first bad record. Prove gives a record with
// its inclusion proof against a signed checkpoint, which an auditor checks
// offline with nothing but the public key (cmd/pierproof). Old records can
// be pruned: their leaf hashes stay, so the tree and every checkpoint stay
// verifiable.
package audit

import (
	"encoding/json"
	"strings"
	"time"
)

// Record is one audited event. Its JSON encoding (Encode) is what the log
// hashes: fields are never reordered or renamed, only added at the end.
type Record struct {
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`               // login, "cli:OSUSER" or "system"
	ActorOrg string    `json:"actor_org,omitempty"` // the actor's organisation
	Action   string    `json:"action"`              // see the Action constants
	Protocol string    `json:"protocol,omitempty"`  // sftp, webdav, cli
	From     string    `json:"from,omitempty"`      // source address
	Path     string    `json:"path,omitempty"`
	To       string    `json:"to,omitempty"` // a rename's or copy's new name
	Size     int64     `json:"size,omitempty"`
	SHA256   string    `json:"sha256,omitempty"`
	Millis   int64     `json:"ms,omitempty"`     // how long it took
	Outcome  string    `json:"outcome"`          // ok, denied or failed
	Reason   string    `json:"reason,omitempty"` // why denied or failed
	// What changed, for administrative changes: the object before and
	// after, as JSON (no secrets: password hashes never appear).
	Subject string          `json:"subject,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	// Op names an administrative change: "user.add", "grant.remove".
	Op string `json:"op,omitempty"`
	// Org is the organisation an administrative change concerns (the
	// user's, the group's owner, the grant's folder's): it scopes the
	// record for that organisation's administrators, as a path does.
	Org string `json:"org,omitempty"`
}

// Actions.
const (
	Login        = "login"
	SessionStart = "session-start"
	SessionEnd   = "session-end"
	Upload       = "upload"
	Download     = "download"
	Delete       = "delete"
	Rename       = "rename"
	Copy         = "copy"
	Mkdir        = "mkdir"
	Lock         = "lock"
	Unlock       = "unlock"
	Denied       = "denied"
	Admin        = "admin"
)

// Outcomes.
const (
	OK      = "ok"
	Refused = "denied"
	Failed  = "failed"
)

// Encode returns the record's canonical bytes: compact JSON, time in UTC.
func Encode(r Record) []byte {
	r.Time = r.Time.UTC()
	if r.Outcome == "" {
		r.Outcome = OK
	}
	b, err := json.Marshal(r)
	if err != nil {
		// Only a bad RawMessage can fail; record the event without it.
		r.Before, r.After = nil, nil
		b, _ = json.Marshal(r)
	}
	return b
}

// Decode reads a record's bytes.
func Decode(b []byte) (Record, error) {
	var r Record
	err := json.Unmarshal(b, &r)
	return r, err
}

// Snapshot renders an object for Before and After.
func Snapshot(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// orgOf is the organisation that scopes a record for organisations'
// administrators: its path's first element (an organisation's folder),
// else the organisation an administrative change concerns.
func orgOf(r Record) string {
	if r.Path != "" {
		return topOf(r.Path)
	}
	return r.Org
}

// topOf is the first element of a path.
func topOf(p string) string {
	p = strings.TrimPrefix(p, "/")
	top, _, _ := strings.Cut(p, "/")
	return top
}
