// Package untrusted makes text a client chose (a login, a raw path, an
// error that quotes what a client sent) fit for a log line. Such text is
// bounded, so that one request cannot write kilobytes into the log, and
// shows every character that is not plainly visible (controls, line
// breaks, bidirectional overrides, zero-width characters) as an escape,
// so that a client can neither forge a log line nor hide or reorder part
// of one. Escapes rather than removal keep what was sent recognisable:
// "ad\u200bmin" does not read as "admin".
package untrusted

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLog is how many bytes of a client's text Text keeps; logins have at
// most 64 characters, so every valid one is kept whole.
const MaxLog = 64

// Text returns s fit for a log line, at most MaxLog bytes of it (see Clip).
func Text(s string) string { return Clip(s, MaxLog) }

// Clip returns s fit for a log line: a character that unicode.IsPrint
// refuses is written as a Go escape (\x1b, \u202e, \U000e0041), an
// invalid UTF-8 byte as \xff and a backslash as \\. When the result would
// exceed n bytes it is cut at a character before that and ends with a
// marker giving the input's length: "aaaa…[1000 bytes]".
func Clip(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		piece := s[i : i+size]
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\\':
			piece = `\\`
		case !unicode.IsPrint(r):
			piece = escape(r)
		}
		if b.Len()+len(piece) > n {
			fmt.Fprintf(&b, "…[%d bytes]", len(s))
			return b.String()
		}
		b.WriteString(piece)
		i += size
	}
	return b.String()
}

func escape(r rune) string {
	switch {
	case r < 0x80:
		return fmt.Sprintf(`\x%02x`, r)
	case r <= 0xffff:
		return fmt.Sprintf(`\u%04x`, r)
	}
	return fmt.Sprintf(`\U%08x`, r)
}
