package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SubjectKind says what a grant's Subject names.
type SubjectKind uint8

// The kinds of subject. The zero value, NoSubject, matches nobody.
const (
	NoSubject    SubjectKind = iota // invalid: matches nobody
	UserSubject                     // one user, by login
	GroupSubject                    // the members of a group, by name
	OrgSubject                      // the users of an organisation, by slug
	RoleSubject                     // the users with a job role in an organisation
)

// Subject is who a grant is for. Build one with ParseSubject; a literal is
// fine for loaders that have validated the parts.
type Subject struct {
	Kind SubjectKind
	// Name is the login, the group name, the organisation slug or the role.
	Name string
	// Org is the organisation slug of a RoleSubject.
	Org string
	// Sub extends an OrgSubject or RoleSubject to the organisation's
	// descendants ("+sub"). Other kinds ignore it.
	Sub bool
}

// ErrBadSubject is wrapped by ParseSubject errors.
var ErrBadSubject = errors.New("authz: bad subject")

const subSuffix = "+sub"

// ParseSubject reads "user:LOGIN", "group:NAME", "org:SLUG", "org:SLUG+sub",
// "role:ROLE@SLUG" or "role:ROLE@SLUG+sub". Logins, group and role names are
// 1 to 255 bytes of UTF-8 without control characters or surrounding spaces
// (a role ends at the first "@"); slugs are 1 to 255 bytes of a-z, 0-9, ".", "_"
// and "-", starting with a letter or digit. Matching is exact: the loader
// provides canonical names.
func ParseSubject(s string) (Subject, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Subject{}, badSubject("%q has no kind: want user:, group:, org: or role:", clip(s))
	}
	switch kind {
	case "user", "group":
		if err := checkName(rest); err != nil {
			return Subject{}, badSubject("%s name %q: %s", kind, clip(rest), err)
		}
		k := UserSubject
		if kind == "group" {
			k = GroupSubject
		}
		return Subject{Kind: k, Name: rest}, nil
	case "org":
		slug, sub := strings.CutSuffix(rest, subSuffix)
		if err := checkSlug(slug); err != nil {
			return Subject{}, badSubject("organisation %q: %s", clip(slug), err)
		}
		return Subject{Kind: OrgSubject, Name: slug, Sub: sub}, nil
	case "role":
		rest, sub := strings.CutSuffix(rest, subSuffix)
		role, slug, ok := strings.Cut(rest, "@")
		if !ok {
			return Subject{}, badSubject("role %q needs an organisation, as in role:buyer@acme", clip(rest))
		}
		if err := checkName(role); err != nil {
			return Subject{}, badSubject("role %q: %s", clip(role), err)
		}
		if err := checkSlug(slug); err != nil {
			return Subject{}, badSubject("organisation %q: %s", clip(slug), err)
		}
		return Subject{Kind: RoleSubject, Name: role, Org: slug, Sub: sub}, nil
	}
	return Subject{}, badSubject("unknown kind %q: want user:, group:, org: or role:", clip(kind))
}

func badSubject(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadSubject}, args...)...)
}

const maxNameLen = 255

var (
	errEmpty   = errors.New("empty")
	errTooLong = errors.New("longer than 255 bytes")
)

// checkName accepts logins, group names and role names.
func checkName(s string) error {
	switch {
	case s == "":
		return errEmpty
	case len(s) > maxNameLen:
		return errTooLong
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.TrimSpace(s) != s:
		return errors.New("starts or ends with a space")
	case strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("contains a control character")
	}
	return nil
}

// checkSlug accepts organisation slugs.
func checkSlug(s string) error {
	switch {
	case s == "":
		return errEmpty
	case len(s) > maxNameLen:
		return errTooLong
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '-' && r != '_' && r != '.') {
			return fmt.Errorf("%q is not allowed there: slugs are a-z, 0-9, '.', '_' and '-', starting with a letter or digit", r)
		}
	}
	return nil
}

// String returns the subject in ParseSubject's syntax; for an invalid
// subject it returns "nobody".
func (s Subject) String() string {
	sub := ""
	if s.Sub {
		sub = subSuffix
	}
	switch s.Kind {
	case UserSubject:
		return "user:" + s.Name
	case GroupSubject:
		return "group:" + s.Name
	case OrgSubject:
		return "org:" + s.Name + sub
	case RoleSubject:
		return "role:" + s.Name + "@" + s.Org + sub
	}
	return "nobody"
}

// Matches reports whether the requester described by f is one of the users
// s names. It ignores the account's status: Decide checks that first.
func (s Subject) Matches(f *Facts) bool {
	switch s.Kind {
	case UserSubject:
		return s.Name != "" && s.Name == f.Login
	case GroupSubject:
		return s.Name != "" && slices.Contains(f.Groups, s.Name)
	case OrgSubject:
		return f.inOrg(s.Name, s.Sub)
	case RoleSubject:
		return s.Name != "" && s.Name == f.Role && f.inOrg(s.Org, s.Sub)
	}
	return false
}
