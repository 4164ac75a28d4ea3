package davd

import (
	"crypto/md5"  // #nosec G501 -- sizes of the sync tools' checksums, not security
	"crypto/sha1" // #nosec G505 -- sizes of the sync tools' checksums, not security
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pier/internal/untrusted"
	"pier/storage"
	"pier/vpath"
)

// The WebDAV request headers pier reads, each parsed here and nowhere
// else, strictly and with bounds: clients' input never reaches the lock
// store or the catalog unparsed.

// errBadHeader is wrapped by the parsers' errors; it answers 400.
var errBadHeader = errors.New("bad request header")

// Limits on an If header: its conditions each cost a lock lookup.
const (
	maxIfHeader     = 8 << 10
	maxIfConditions = 32
)

// ifList is one list of an If header (RFC 4918 10.4.2) as sent: the
// resource tag, if any, is a raw URI the caller resolves.
type ifList struct {
	tag        string
	conditions []ifCondition
}

type ifCondition struct {
	not   bool
	token string // a state token (Coded-URL), without its angle brackets
	etag  string // an entity tag, with its quotes (and W/ if weak)
}

// parseIf reads an If header:
//
//	If = 1*No-tag-list | 1*Tagged-list
//	Tagged-list = "<" Simple-ref ">" 1*List
//	List = "(" 1*Condition ")"
//	Condition = ["Not"] ( "<" State-token ">" | "[" entity-tag "]" )
//
// with linear white space between the parts.
func parseIf(h string) ([]ifList, error) {
	if len(h) > maxIfHeader {
		return nil, badHeader("If header longer than %d bytes", maxIfHeader)
	}
	p := headerScanner{s: h}
	var lists []ifList
	tagged, n := false, 0
	tag := ""
	for p.skipSpace(); !p.done(); p.skipSpace() {
		switch p.peek() {
		case '<':
			if len(lists) > 0 && !tagged {
				return nil, badHeader("If header mixes tagged and untagged lists")
			}
			u, err := p.angle()
			if err != nil {
				return nil, err
			}
			tag, tagged = u, true
			p.skipSpace()
			if p.done() || p.peek() != '(' {
				return nil, badHeader("If header: a resource tag must be followed by a list")
			}
		case '(':
			if tagged && tag == "" {
				return nil, badHeader("If header mixes tagged and untagged lists")
			}
			l, err := p.list()
			if err != nil {
				return nil, err
			}
			if n += len(l.conditions); n > maxIfConditions {
				return nil, badHeader("If header holds more than %d conditions", maxIfConditions)
			}
			l.tag = tag
			lists = append(lists, l)
		default:
			return nil, badHeader("If header: unexpected %q", p.peek())
		}
	}
	if len(lists) == 0 {
		return nil, badHeader("empty If header")
	}
	return lists, nil
}

func badHeader(format string, args ...any) error {
	return &headerError{msg: fmt.Sprintf(format, args...)}
}

// headerError says what is wrong with a header, for the 400 answer.
type headerError struct{ msg string }

func (e *headerError) Error() string { return e.msg }
func (e *headerError) Unwrap() error { return errBadHeader }

// headerScanner walks a header value byte by byte.
type headerScanner struct {
	s string
	i int
}

func (p *headerScanner) done() bool { return p.i >= len(p.s) }
func (p *headerScanner) peek() byte { return p.s[p.i] }

func (p *headerScanner) skipSpace() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// angle reads "<...>" and returns what is inside.
func (p *headerScanner) angle() (string, error) {
	end := strings.IndexByte(p.s[p.i:], '>')
	if end < 0 {
		return "", badHeader("If header: unclosed <")
	}
	v := p.s[p.i+1 : p.i+end]
	p.i += end + 1
	if v == "" || strings.ContainsAny(v, "< \t\r\n") {
		return "", badHeader("If header: bad URI in <>")
	}
	return v, nil
}

// list reads "(" 1*Condition ")".
func (p *headerScanner) list() (ifList, error) {
	p.i++ // (
	var l ifList
	for {
		p.skipSpace()
		if p.done() {
			return l, badHeader("If header: unclosed (")
		}
		if p.peek() == ')' {
			p.i++
			if len(l.conditions) == 0 {
				return l, badHeader("If header: empty list")
			}
			return l, nil
		}
		var c ifCondition
		if strings.HasPrefix(p.s[p.i:], "Not") {
			c.not = true
			p.i += 3
			p.skipSpace()
			if p.done() {
				return l, badHeader("If header: Not without a condition")
			}
		}
		switch p.peek() {
		case '<':
			t, err := p.angle()
			if err != nil {
				return l, err
			}
			c.token = t
		case '[':
			end := strings.IndexByte(p.s[p.i:], ']')
			if end < 0 {
				return l, badHeader("If header: unclosed [")
			}
			c.etag = p.s[p.i+1 : p.i+end]
			p.i += end + 1
			if !validETag(c.etag) {
				return l, badHeader("If header: bad entity tag")
			}
		default:
			return l, badHeader("If header: unexpected %q in a list", p.peek())
		}
		l.conditions = append(l.conditions, c)
	}
}

// validETag accepts `"opaque"` and `W/"opaque"` (RFC 9110 8.8.3).
func validETag(t string) bool {
	t = strings.TrimPrefix(t, "W/")
	if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return false
	}
	for i := 1; i < len(t)-1; i++ {
		if c := t[i]; c == '"' || c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}

// parseETags reads an If-Match or If-None-Match value: "*" or a
// comma-separated list of entity tags.
func parseETags(h string) (any bool, tags []string, err error) {
	h = strings.TrimSpace(h)
	if h == "*" {
		return true, nil, nil
	}
	for t := range strings.SplitSeq(h, ",") {
		t = strings.TrimSpace(t)
		if !validETag(t) {
			return false, nil, badHeader("bad entity tag in a conditional header")
		}
		tags = append(tags, t)
	}
	if len(tags) == 0 || len(tags) > maxIfConditions {
		return false, nil, badHeader("bad entity tag list in a conditional header")
	}
	return false, tags, nil
}

// parseTimeout reads a Timeout header (RFC 4918 10.7): the first of a
// comma-separated list of "Second-N" and "Infinite" that pier can read.
// It returns 0 for "as long as allowed" (an absent header, Infinite, or
// only values it does not know).
func parseTimeout(h string) (time.Duration, error) {
	if len(h) > 256 {
		return 0, badHeader("Timeout header too long")
	}
	for part := range strings.SplitSeq(h, ",") {
		part = strings.TrimSpace(part)
		if strings.EqualFold(part, "Infinite") {
			return 0, nil
		}
		if n, ok := strings.CutPrefix(part, "Second-"); ok {
			v, err := strconv.ParseUint(n, 10, 32)
			if err != nil || v == 0 {
				return 0, badHeader("bad Timeout value")
			}
			return time.Duration(v) * time.Second, nil
		}
	}
	return 0, nil
}

// parseDepth reads a Depth header for COPY, MOVE and LOCK: "0" or
// "infinity" (the default when absent).
func parseDepth(h string) (zero bool, err error) {
	switch strings.ToLower(strings.TrimSpace(h)) {
	case "", "infinity":
		return false, nil
	case "0":
		return true, nil
	}
	return false, badHeader("Depth must be 0 or infinity")
}

// parseOverwrite reads an Overwrite header: "T" (the default) or "F".
func parseOverwrite(h string) (bool, error) {
	switch strings.TrimSpace(h) {
	case "", "T", "t":
		return true, nil
	case "F", "f":
		return false, nil
	}
	return false, badHeader("Overwrite must be T or F")
}

// parseDestination reads a Destination header (or an If header's resource
// tag): an absolute URI on this host or an absolute path, inside prefix.
// x/net/webdav strips the prefix as a string ("/davacme/x" became
// "acme/x"); here it must be a whole path element.
func parseDestination(h, host, prefix string) (vpath.Path, error) {
	if h == "" || len(h) > 8<<10 {
		return vpath.Path{}, badHeader("missing or oversized Destination")
	}
	u, err := url.Parse(h)
	if err != nil || u.Path == "" || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" {
		return vpath.Path{}, badHeader("bad Destination URI")
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" || u.Host != "" && !strings.EqualFold(u.Host, host) {
		return vpath.Path{}, errOtherServer
	}
	base := strings.TrimSuffix(prefix, "/")
	rest, ok := strings.CutPrefix(u.Path, base)
	if !ok || rest != "" && rest[0] != '/' {
		return vpath.Path{}, errOtherServer
	}
	p, err := vpath.Parse(rest)
	if err != nil {
		return vpath.Path{}, err
	}
	return p, nil
}

// errOtherServer: a Destination outside this server's WebDAV space (502).
var errOtherServer = errors.New("destination is not on this server")

// conditional checks the HTTP preconditions of a PUT (RFC 9110 13):
// If-Match, If-None-Match and If-Unmodified-Since. It returns nil when
// the request has none.
func conditional(h http.Header) (func(etag string, mtime time.Time, exists bool) bool, error) {
	im, inm, ius := h.Get("If-Match"), h.Get("If-None-Match"), h.Get("If-Unmodified-Since")
	if im == "" && inm == "" && ius == "" {
		return nil, nil
	}
	var checks []func(string, time.Time, bool) bool
	if im != "" {
		any, tags, err := parseETags(im)
		if err != nil {
			return nil, err
		}
		checks = append(checks, func(etag string, _ time.Time, exists bool) bool {
			return exists && (any || strongIn(etag, tags))
		})
	} else if ius != "" {
		// Ignored when If-Match is present, and when it is not a date.
		if t, err := http.ParseTime(ius); err == nil {
			checks = append(checks, func(_ string, mtime time.Time, exists bool) bool {
				return !exists || !mtime.Truncate(time.Second).After(t)
			})
		}
	}
	if inm != "" {
		any, tags, err := parseETags(inm)
		if err != nil {
			return nil, err
		}
		checks = append(checks, func(etag string, _ time.Time, exists bool) bool {
			return !exists || !any && !weakIn(etag, tags)
		})
	}
	return func(etag string, mtime time.Time, exists bool) bool {
		for _, c := range checks {
			if !c(etag, mtime, exists) {
				return false
			}
		}
		return true
	}, nil
}

// strongIn compares entity tags strongly (If-Match): weak tags never match.
func strongIn(etag string, tags []string) bool {
	if etag == "" || strings.HasPrefix(etag, "W/") {
		return false
	}
	for _, t := range tags {
		if t == etag {
			return true
		}
	}
	return false
}

// weakIn compares entity tags weakly (If-None-Match).
func weakIn(etag string, tags []string) bool {
	if etag == "" {
		return false
	}
	etag = strings.TrimPrefix(etag, "W/")
	for _, t := range tags {
		if strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// parseChecksum reads OC-Checksum, the hash a sync client sends with a
// PUT ("SHA1:hex" from rclone's webdav remote with vendor=nextcloud,
// "MD5:hex" with owncloud; ownCloud's desktop client may send several,
// space-separated, or Adler32, which pier does not compute and ignores).
func parseChecksum(v string) (storage.Sums, error) {
	var s storage.Sums
	for _, tok := range strings.Fields(v) {
		kind, sum, ok := strings.Cut(tok, ":")
		if !ok {
			return s, badHeader("OC-Checksum: want TYPE:HEX, got %q", untrusted.Text(tok))
		}
		var dst *string
		var size int
		switch strings.ToUpper(kind) {
		case "SHA1":
			dst, size = &s.SHA1, sha1.Size
		case "MD5":
			dst, size = &s.MD5, md5.Size
		default:
			continue
		}
		sum = strings.ToLower(sum)
		if b, err := hex.DecodeString(sum); err != nil || len(b) != size {
			return s, badHeader("OC-Checksum: %s wants %d hex digits", strings.ToUpper(kind), 2*size)
		}
		*dst = sum
	}
	return s, nil
}
