package audit

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"pier/audit/proof"
)

// Report is what Verify found.
type Report struct {
	Records     int64 // records checked
	Pruned      int64 // of which pruned (their leaf hashes checked in the tree)
	Checkpoints int   // signed checkpoints checked
	// Bad names the first problem found, "" when the log is intact:
	// "record 41 does not match its hash (edited or moved)".
	Bad string
	// BadRecord is the sequence number Bad is about, -1 for none.
	BadRecord int64
}

// OK reports whether the log verified.
func (r Report) OK() bool { return r.Bad == "" }

// memHashes is a HashReader over hashes held in memory.
type memHashes map[int64]tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := m[idx]
		if !ok {
			return nil, fmt.Errorf("hash %d not computed", idx)
		}
		out[i] = h
	}
	return out, nil
}

// Verify checks the whole log: records numbered without gaps, each
// record's data matching its leaf hash, every stored tree hash matching
// the tree recomputed from the leaves, and every checkpoint correctly
// signed and matching the tree at its size. It stops at the first
// problem and names it; a technical failure is an error.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	rep := Report{BadRecord: -1}
	bad := func(seq int64, format string, args ...any) (Report, error) {
		rep.Bad, rep.BadRecord = fmt.Sprintf(format, args...), seq
		return rep, nil
	}
	stored := map[int64]tlog.Hash{}
	hrows, err := l.db.Query(ctx, "SELECT idx, hash FROM audit_hashes")
	if err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	for hrows.Next() {
		var idx int64
		var s string
		if err := hrows.Scan(&idx, &s); err != nil {
			hrows.Close()
			return rep, fmt.Errorf("audit: %w", err)
		}
		h, err := tlog.ParseHash(s)
		if err != nil {
			hrows.Close()
			level, n := tlog.SplitStoredHashIndex(idx)
			return bad(n, "the stored tree hash at level %d of record %d is not a hash (altered)", level, n)
		}
		stored[idx] = h
	}
	hrows.Close()
	if err := hrows.Err(); err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}

	mem := memHashes{}
	rows, err := l.db.Query(ctx, "SELECT seq, data, pruned FROM audit_log ORDER BY seq")
	if err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	next := int64(0)
	for rows.Next() {
		var seq int64
		var data *string
		var pruned int
		if err := rows.Scan(&seq, &data, &pruned); err != nil {
			return rep, fmt.Errorf("audit: %w", err)
		}
		if seq != next {
			return bad(next, "record %d is missing (deleted, or the records after it renumbered)", next)
		}
		leafIdx := tlog.StoredHashIndex(0, seq)
		var leaf tlog.Hash
		if pruned == 1 {
			h, ok := stored[leafIdx]
			if !ok {
				return bad(seq, "the leaf hash of pruned record %d is missing", seq)
			}
			leaf = h
			rep.Pruned++
		} else {
			if data == nil {
				return bad(seq, "record %d has no data but is not marked pruned (erased)", seq)
			}
			leaf = tlog.RecordHash([]byte(*data))
			if h, ok := stored[leafIdx]; !ok || h != leaf {
				return bad(seq, "record %d does not match its hash (edited, or moved from another place)", seq)
			}
		}
		hashes, err := tlog.StoredHashesForRecordHash(seq, leaf, mem)
		if err != nil {
			return rep, fmt.Errorf("audit: %w", err)
		}
		for j, h := range hashes {
			idx := leafIdx + int64(j)
			mem[idx] = h
			if s, ok := stored[idx]; !ok || s != h {
				level, _ := tlog.SplitStoredHashIndex(idx)
				return bad(seq, "the stored tree hash at level %d of record %d was altered", level, seq)
			}
		}
		next++
		rep.Records++
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	if want := tlog.StoredHashCount(next); int64(len(stored)) > want {
		return bad(next, "records from %d on are missing (deleted; their hashes remain)", next)
	} else if int64(len(stored)) < want {
		return bad(next, "%d tree hashes are missing", want-int64(len(stored)))
	}

	crows, err := l.db.Query(ctx, "SELECT size, note FROM audit_checkpoints ORDER BY size")
	if err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	defer crows.Close()
	good := int64(0) // records under the last checkpoint that verified
	for crows.Next() {
		var size int64
		var signed string
		if err := crows.Scan(&size, &signed); err != nil {
			return rep, fmt.Errorf("audit: %w", err)
		}
		n, err := note.Open([]byte(signed), note.VerifierList(l.keys.Verifier))
		if err != nil {
			return bad(size-1, "the checkpoint of %d records does not carry a valid signature by %s: %v", size, l.keys.Verifier.Name(), err)
		}
		csize, root, err := proof.ParseCheckpoint(n.Text)
		if err != nil || csize != size {
			return bad(size-1, "the checkpoint of %d records is malformed", size)
		}
		if size > next {
			return bad(next, "the checkpoint of %d records is beyond the log's %d records (records at the end were deleted)", size, next)
		}
		th, err := tlog.TreeHash(size, mem)
		if err != nil {
			return rep, fmt.Errorf("audit: %w", err)
		}
		if th != root {
			// The stored hashes were recomputed to agree with changed
			// records; only the signatures tell, to within two checkpoints.
			return bad(good, "one of records %d to %d was changed after the checkpoint of %d records was signed: they no longer match it", good, size-1, size)
		}
		good = size
		rep.Checkpoints++
	}
	return rep, crows.Err()
}

// Proof is a record with its inclusion proof against a signed checkpoint:
// everything an auditor needs, with the public key, to check it offline.
type Proof struct {
	Seq        int64
	Record     []byte
	Hashes     tlog.RecordProof
	Checkpoint string // the signed note
}

// Prove returns record seq with its inclusion proof against the newest
// signed checkpoint that covers it.
func (l *Log) Prove(ctx context.Context, seq int64) (Proof, error) {
	var data *string
	if err := l.db.QueryRow(ctx, "SELECT data FROM audit_log WHERE seq = ?", seq).Scan(&data); err != nil {
		return Proof{}, fmt.Errorf("audit: record %d: %w", seq, err)
	}
	if data == nil {
		return Proof{}, fmt.Errorf("audit: record %d was pruned", seq)
	}
	var signed string
	var size int64
	if err := l.db.QueryRow(ctx, "SELECT size, note FROM audit_checkpoints WHERE size > ? ORDER BY size DESC LIMIT 1", seq).Scan(&size, &signed); err != nil {
		return Proof{}, fmt.Errorf("audit: no checkpoint covers record %d yet (one is signed every minute): %w", seq, err)
	}
	p, err := tlog.ProveRecord(size, seq, l.hashes(ctx))
	if err != nil {
		return Proof{}, fmt.Errorf("audit: proof of record %d: %w", seq, err)
	}
	return Proof{Seq: seq, Record: []byte(*data), Hashes: p, Checkpoint: signed}, nil
}

// Format writes the proof as text (see package proof), for pierproof.
func (p Proof) Format() string {
	return proof.Format(p.Seq, p.Record, p.Hashes, p.Checkpoint)
}

// CheckProof verifies a proof in Format's text with the public key alone
// and returns the record it proves and the size of the signed log.
func CheckProof(text, publicKey string) (Record, int64, error) {
	data, seq, size, err := proof.Check(text, publicKey)
	if err != nil {
		return Record{}, seq, err
	}
	r, err := Decode(data)
	if err != nil {
		return Record{}, seq, fmt.Errorf("proof: the record is not readable: %w", err)
	}
	return r, size, nil
}

// Prune drops the data of records older than before; their leaf hashes
// stay, so the log and every checkpoint still verify. It returns how many
// records it pruned.
func (l *Log) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := l.db.Exec(ctx, "UPDATE audit_log SET data = NULL, pruned = 1 WHERE at < ? AND pruned = 0", before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	return res.RowsAffected()
}
