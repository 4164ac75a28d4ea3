// Package proof reads and checks the proofs of pier's audit log: a record
// with its inclusion proof against a signed checkpoint. It needs nothing
// but the log's public key, so that cmd/pierproof, which partners and
// auditors run offline, stays small.
package proof

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	header           = "pier audit proof v1"
	checkpointHeader = "pier audit log"
)

// CheckpointText is the statement a checkpoint signs: the log's name, its
// tree size and root hash.
func CheckpointText(size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", checkpointHeader, size, root)
}

// ParseCheckpoint reads a checkpoint's text (after its signature was
// checked): the tree size and root hash it states.
func ParseCheckpoint(text string) (int64, tlog.Hash, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[0] != checkpointHeader || lines[3] != "" {
		return 0, tlog.Hash{}, errors.New("not a checkpoint of a pier audit log")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return 0, tlog.Hash{}, errors.New("bad tree size in checkpoint")
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return 0, tlog.Hash{}, errors.New("bad root hash in checkpoint")
	}
	return size, root, nil
}

// Format writes a proof as text:
//
//	pier audit proof v1
//	record SEQ
//	BASE64 OF THE RECORD
//	HASH (one line each)
//	(empty line)
//	THE SIGNED CHECKPOINT
func Format(seq int64, record []byte, hashes tlog.RecordProof, checkpoint string) string {
	var b strings.Builder
	b.WriteString(header + "\n")
	b.WriteString("record " + strconv.FormatInt(seq, 10) + "\n")
	b.WriteString(base64.StdEncoding.EncodeToString(record) + "\n")
	for _, h := range hashes {
		b.WriteString(h.String() + "\n")
	}
	b.WriteString("\n")
	b.WriteString(checkpoint)
	return b.String()
}

// Check verifies a proof in Format's text with the public key alone
// ("pier-audit+hash+base64") and returns the record's bytes, its sequence
// number and the size of the signed log it belongs to.
func Check(text, publicKey string) (record []byte, seq, size int64, err error) {
	v, err := note.NewVerifier(strings.TrimSpace(publicKey))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("public key: %w", err)
	}
	head, signed, ok := strings.Cut(text, "\n\n")
	if !ok {
		return nil, 0, 0, errors.New("not a pier audit proof: no checkpoint")
	}
	sc := bufio.NewScanner(strings.NewReader(head))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 3 || lines[0] != header {
		return nil, 0, 0, errors.New("not a pier audit proof")
	}
	seq, err = strconv.ParseInt(strings.TrimPrefix(lines[1], "record "), 10, 64)
	if err != nil || !strings.HasPrefix(lines[1], "record ") || seq < 0 {
		return nil, 0, 0, errors.New("proof: bad record number")
	}
	record, err = base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return nil, seq, 0, errors.New("proof: bad record encoding")
	}
	var hashes tlog.RecordProof
	for _, s := range lines[3:] {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, seq, 0, errors.New("proof: bad hash")
		}
		hashes = append(hashes, h)
	}
	n, err := note.Open([]byte(signed), note.VerifierList(v))
	if err != nil {
		return nil, seq, 0, fmt.Errorf("checkpoint: %w", err)
	}
	size, root, err := ParseCheckpoint(n.Text)
	if err != nil {
		return nil, seq, 0, err
	}
	if err := tlog.CheckRecord(hashes, size, root, seq, tlog.RecordHash(record)); err != nil {
		return nil, seq, size, fmt.Errorf("the record is not in the signed log: %w", err)
	}
	return record, seq, size, nil
}
