package directory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"pier/identity"
)

// Entry is a directory user as the sync reads it, before it is checked
// against pier: the raw values the configuration maps.
type Entry struct {
	DN       string
	Login    string   // canonical; "" when the entry has none
	Name     string   //
	Email    string   //
	OrgKeys  []string // the org attribute's value, or the DN's OUs nearest first
	Role     string   // the role attribute's value
	Groups   []string // pier groups, sorted
	Disabled bool
}

// attrs are the attributes a user search asks for.
func (c *Config) attrs() []string {
	out := []string{c.LoginAttr}
	for _, a := range []string{c.NameAttr, c.EmailAttr, c.OrgAttr, c.RoleAttr, c.DisabledAttr} {
		if a != "" {
			out = append(out, a)
		}
	}
	if len(c.GroupMap) > 0 && c.GroupBaseDN == "" {
		out = append(out, c.GroupAttr)
	}
	return out
}

// read reads every user, and the groups when they come from group
// entries, completely: any failure fails the read, so a sync never acts
// on half a directory.
func (c *Config) read(ctx context.Context) ([]Entry, error) {
	cn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer cn.Close()
	if err := c.bindService(cn); err != nil {
		return nil, err
	}
	gm := c.groupMatcher()
	var byMember map[string][]string // member DN key → pier groups
	if len(c.GroupMap) > 0 && c.GroupBaseDN != "" {
		if byMember, err = c.readGroups(ctx, cn, gm); err != nil {
			return nil, err
		}
	}
	var out []Entry
	err = c.search(ctx, cn, c.BaseDN, c.Filter, c.attrs(), c.MaxEntries, func(e *ldap.Entry) error {
		en := c.entry(e)
		if byMember != nil {
			en.Groups = byMember[dnKey(e.DN)]
		} else if len(c.GroupMap) > 0 {
			for _, g := range e.GetEqualFoldAttributeValues(c.GroupAttr) {
				en.Groups = append(en.Groups, gm.match(g)...)
			}
		}
		slices.Sort(en.Groups)
		en.Groups = slices.Compact(en.Groups)
		out = append(out, en)
		return nil
	})
	return out, err
}

// entry maps one directory entry's values.
func (c *Config) entry(e *ldap.Entry) Entry {
	first := func(attr string) string {
		if attr == "" {
			return ""
		}
		return strings.TrimSpace(e.GetEqualFoldAttributeValue(attr))
	}
	en := Entry{DN: e.DN, Login: identity.CanonicalLogin(first(c.LoginAttr)), Name: first(c.NameAttr),
		Email: first(c.EmailAttr), Role: first(c.RoleAttr)}
	if c.OrgAttr != "" {
		if v := first(c.OrgAttr); v != "" {
			en.OrgKeys = []string{v}
		}
	} else if dn, err := ldap.ParseDN(e.DN); err == nil {
		for _, rdn := range dn.RDNs[min(1, len(dn.RDNs)):] {
			for _, a := range rdn.Attributes {
				if strings.EqualFold(a.Type, "ou") {
					en.OrgKeys = append(en.OrgKeys, a.Value)
				}
			}
		}
	}
	if c.DisabledAttr != "" {
		for _, v := range e.GetEqualFoldAttributeValues(c.DisabledAttr) {
			en.Disabled = en.Disabled || c.disabled(strings.TrimSpace(v))
		}
	}
	return en
}

// disabled reads the disabled attribute's value.
func (c *Config) disabled(v string) bool {
	if c.DisabledBits != 0 {
		// Active Directory writes userAccountControl as a signed 32-bit
		// integer; read any integer.
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n&c.DisabledBits != 0 {
			return true
		}
	}
	for _, d := range c.DisabledValues {
		if strings.EqualFold(v, d) {
			return true
		}
	}
	return false
}

// readGroups reads the group entries under GroupBaseDN and returns, for
// every member DN, the pier groups its mapped groups give.
func (c *Config) readGroups(ctx context.Context, cn *conn, gm matcher) (map[string][]string, error) {
	out := map[string][]string{}
	err := c.search(ctx, cn, c.GroupBaseDN, c.GroupFilter, []string{"cn", "member", "uniqueMember"}, c.MaxEntries, func(e *ldap.Entry) error {
		groups := gm.match(e.DN)
		if len(groups) == 0 {
			return nil
		}
		members := append(e.GetEqualFoldAttributeValues("member"), e.GetEqualFoldAttributeValues("uniqueMember")...)
		for _, m := range members {
			k := dnKey(stripUID(m))
			out[k] = append(out[k], groups...)
		}
		return nil
	})
	return out, err
}

// stripUID drops the optional unique identifier of a uniqueMember value
// ("uid=a,dc=x#'0101'B", RFC 4517 NameAndOptionalUID).
func stripUID(v string) string {
	if i := strings.LastIndex(v, "#'"); i > 0 && strings.HasSuffix(v, "'B") {
		return v[:i]
	}
	return v
}

// dnKey is a DN's comparable form: attribute types and values folded to
// lower case, escapes resolved; an unparsable DN is its folded text.
func dnKey(s string) string {
	dn, err := ldap.ParseDN(s)
	if err != nil {
		return "?" + strings.ToLower(s)
	}
	var b strings.Builder
	for i, rdn := range dn.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			// Escaped as a DN again, so "," in a value cannot pass for a
			// separator.
			b.WriteString(strings.ToLower(a.Type) + "=" + ldap.EscapeDN(strings.ToLower(a.Value)))
		}
	}
	return b.String()
}

// matcher finds the pier groups a directory group maps to: by its DN,
// or by its cn (the first RDN's).
type matcher struct {
	dns map[string][]string // dnKey → pier groups
	cns map[string][]string // lower-case cn → pier groups
}

func (c *Config) groupMatcher() matcher {
	m := matcher{dns: map[string][]string{}, cns: map[string][]string{}}
	for k, g := range c.GroupMap {
		k, g = strings.TrimSpace(k), strings.TrimSpace(g)
		if strings.Contains(k, "=") {
			m.dns[dnKey(k)] = append(m.dns[dnKey(k)], g)
		} else {
			m.cns[strings.ToLower(k)] = append(m.cns[strings.ToLower(k)], g)
		}
	}
	return m
}

func (m matcher) match(groupDN string) []string {
	out := m.dns[dnKey(groupDN)]
	if dn, err := ldap.ParseDN(groupDN); err == nil && len(dn.RDNs) > 0 {
		for _, a := range dn.RDNs[0].Attributes {
			if strings.EqualFold(a.Type, "cn") {
				out = append(out, m.cns[strings.ToLower(a.Value)]...)
			}
		}
	}
	return out
}

// lookup finds a value in a mapping, ignoring case.
func lookup(m map[string]string, v string) (string, bool) {
	if s, ok := m[v]; ok {
		return strings.TrimSpace(s), true
	}
	for k, s := range m {
		if strings.EqualFold(strings.TrimSpace(k), v) {
			return strings.TrimSpace(s), true
		}
	}
	return "", false
}

// describe names where an entry's organisation came from, for reasons.
func (c *Config) describe(keys []string) string {
	if c.OrgAttr != "" {
		return fmt.Sprintf("%s %q", c.OrgAttr, strings.Join(keys, ""))
	}
	if len(keys) == 0 {
		return "no OU in the DN"
	}
	return fmt.Sprintf("OU %q", strings.Join(keys, `", "`))
}
