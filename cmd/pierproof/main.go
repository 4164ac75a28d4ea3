// Command pierproof checks a pier audit record with its inclusion proof
// (the output of `pier audit prove SEQ`) against the log's public key
// (`pier audit key`), offline: it needs no database, no server and no
// secret. A partner or auditor given a record and the key runs:
//
//	pierproof -key 'pier-audit+…' proof.txt
//
// It prints the record and exits 0 when the proof holds: the record is
// record SEQ of a log whose checkpoint the key's owner signed. Otherwise it
// says why and exits 1.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"pier/audit/proof"
)

func main() {
	key := flag.String("key", "", "the log's public key, or a file holding it")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: pierproof -key PUBLIC-KEY|FILE [PROOF-FILE|-]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *key == "" || flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	pub := *key
	if !strings.Contains(pub, "+") {
		b, err := os.ReadFile(pub)
		if err != nil {
			fail(err)
		}
		pub = strings.TrimSpace(string(b))
	}
	var in io.Reader = os.Stdin
	if flag.NArg() == 1 && flag.Arg(0) != "-" {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fail(err)
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(io.LimitReader(in, 64<<20))
	if err != nil {
		fail(err)
	}
	record, _, size, err := proof.Check(string(data), pub)
	if err != nil {
		fail(err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, record, "", "  ") != nil {
		pretty.Write(record)
	}
	out := pretty.Bytes()
	fmt.Printf("%s\nverified: this record is in the audit log of %d records that %s signed\n", out, size, strings.SplitN(pub, "+", 2)[0])
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pierproof: NOT verified:", err)
	os.Exit(1)
}
