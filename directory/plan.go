package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"pier/authz"
	"pier/identity"
)

// The results of a change.
const (
	Created   = "created"
	Updated   = "updated"
	Suspended = "suspended"
	Unchanged = "unchanged"
	Skipped   = "skipped" // a user pier's administrators manage has the login
	Failed    = "failed"  // the entry cannot become a valid user
)

// Change is what a sync does, or would do, to one user.
type Change struct {
	Login   string   `json:"login,omitempty"`
	DN      string   `json:"dn,omitempty"`
	Result  string   `json:"result"`
	Status  string   `json:"status,omitempty"`
	Changes []string `json:"changes,omitempty"` // the fields an update changes
	Reason  string   `json:"reason,omitempty"`

	user        identity.User   // the user as the sync leaves it
	src         identity.Source // its source as the sync leaves it
	writeUser   bool            // fields or status change
	writeSource bool
	join, leave []string // pier groups
}

// state is pier as a sync found it.
type state struct {
	orgs    map[string]bool
	groups  map[string]bool
	users   map[string]identity.User
	member  map[string][]string // login → direct groups
	managed int                 // directory-managed users
}

func loadState(ctx context.Context, ids *identity.Store) (*state, error) {
	st := &state{orgs: map[string]bool{}, groups: map[string]bool{}, users: map[string]identity.User{}, member: map[string][]string{}}
	orgs, err := ids.ListOrgs(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range orgs {
		st.orgs[o.Slug] = true
	}
	groups, err := ids.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		st.groups[g.Name] = true
		for _, m := range g.Members {
			if m.Kind == authz.UserSubject {
				st.member[m.Name] = append(st.member[m.Name], g.Name)
			}
		}
	}
	users, err := ids.ListUsers(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		st.users[u.Login] = u
		if u.Source == identity.SourceLDAP {
			st.managed++
		}
	}
	return st, nil
}

// checkTargets makes sure every organisation and group the configuration
// maps to exists: a mistake there fails the sync before anything is read
// as a change.
func (c *Config) checkTargets(st *state) error {
	var errs []error
	for _, slug := range c.OrgMap {
		if !st.orgs[strings.TrimSpace(slug)] {
			errs = append(errs, fmt.Errorf("--ldap-org-map: organisation %q not found", slug))
		}
	}
	if c.DefaultOrg != "" && !st.orgs[c.DefaultOrg] {
		errs = append(errs, fmt.Errorf("--ldap-default-org: organisation %q not found", c.DefaultOrg))
	}
	for _, g := range c.GroupMap {
		if !st.groups[strings.TrimSpace(g)] {
			errs = append(errs, fmt.Errorf("--ldap-group-map: group %q not found (create it with pier group add)", g))
		}
	}
	return errors.Join(errs...)
}

// plan decides the change for every entry and every directory-managed
// user no entry names, without writing anything.
func (c *Config) plan(st *state, entries []Entry) []Change {
	var out []Change
	seen := map[string][]string{} // login → DNs
	for _, e := range entries {
		if e.Login != "" {
			seen[e.Login] = append(seen[e.Login], e.DN)
		}
	}
	mapped := map[string]bool{}
	for _, g := range c.GroupMap {
		mapped[strings.TrimSpace(g)] = true
	}
	for _, e := range entries {
		switch {
		case e.Login == "":
			out = append(out, Change{DN: e.DN, Result: Failed, Reason: fmt.Sprintf("no %s", c.LoginAttr)})
		case len(seen[e.Login]) > 1:
			out = append(out, Change{Login: e.Login, DN: e.DN, Result: Failed,
				Reason: fmt.Sprintf("login %q is given by %d entries (logins ignore case)", e.Login, len(seen[e.Login]))})
		default:
			out = append(out, c.planEntry(st, e, mapped))
		}
	}
	// Users no entry names are suspended, never deleted. An entry that
	// failed still names its login: its user is left as it is.
	var gone []string
	for login, u := range st.users {
		if u.Source == identity.SourceLDAP && seen[login] == nil {
			gone = append(gone, login)
		}
	}
	slices.Sort(gone)
	for _, login := range gone {
		u := st.users[login]
		ch := Change{Login: login, DN: u.SourceDN, user: u, src: identity.Source{Kind: identity.SourceLDAP, DN: u.SourceDN, State: identity.SourceGone}}
		ch.writeSource = u.SourceState != identity.SourceGone
		switch {
		case u.Status != authz.StatusSuspended:
			ch.user.Status, ch.writeUser = authz.StatusSuspended, true
			ch.Result, ch.Changes, ch.Reason = Suspended, []string{"status"}, "not in the directory any more"
		case ch.writeSource:
			ch.Result, ch.Changes, ch.Reason = Updated, []string{"directory state"}, "not in the directory any more (already suspended)"
		default:
			ch.Result, ch.Reason = Unchanged, "not in the directory (suspended)"
		}
		ch.Status = ch.user.Status.String()
		out = append(out, ch)
	}
	return out
}

// planEntry decides the change for one entry whose login is its own.
func (c *Config) planEntry(st *state, e Entry, mapped map[string]bool) Change {
	ch := Change{Login: e.Login, DN: e.DN}
	fail := func(format string, args ...any) Change {
		ch.Result, ch.Reason = Failed, fmt.Sprintf(format, args...)
		return ch
	}
	old, exists := st.users[e.Login]
	if exists && old.Source != identity.SourceLDAP {
		ch.Result, ch.Reason = Skipped, "a user created in pier has this login: the sync leaves it alone"
		return ch
	}
	org, ok := c.org(st, e.OrgKeys)
	if !ok {
		return fail("no organisation for %s (--ldap-org-map, --ldap-default-org)", c.describe(e.OrgKeys))
	}
	next := identity.User{Login: e.Login, Status: authz.StatusActive}
	if exists {
		next = old
	}
	next.Name, next.Email, next.Org, next.Role = e.Name, e.Email, org, c.role(e.Role)
	state := identity.SourcePresent
	var why []string
	switch {
	case e.Disabled:
		state = identity.SourceDisabled
		if next.Status != authz.StatusSuspended {
			why = append(why, "disabled in the directory")
		}
		next.Status = authz.StatusSuspended
	case exists && old.Status == authz.StatusSuspended && old.SourceState != identity.SourcePresent:
		// Only an account the sync itself suspended comes back; one an
		// administrator suspended stays so.
		next.Status = authz.StatusActive
		why = append(why, "enabled in the directory again")
	}
	if err := identity.CheckUser(next); err != nil {
		var fe *identity.FieldError
		if errors.As(err, &fe) {
			return fail("%s: %s", fe.Field, fe.Msg)
		}
		return fail("%v", err)
	}
	ch.user, ch.src = next, identity.Source{Kind: identity.SourceLDAP, DN: e.DN, State: state}
	ch.Status = next.Status.String()
	var have []string
	for _, g := range st.member[e.Login] {
		if mapped[g] {
			have = append(have, g)
		}
	}
	for _, g := range e.Groups {
		if !slices.Contains(have, g) {
			ch.join = append(ch.join, g)
		}
	}
	for _, g := range have {
		if !slices.Contains(e.Groups, g) {
			ch.leave = append(ch.leave, g)
		}
	}
	if !exists {
		ch.Result, ch.writeUser, ch.writeSource = Created, true, true
		ch.Reason = strings.Join(append([]string{"new in the directory"}, why...), "; ")
		return ch
	}
	for _, f := range []struct{ field, old, new string }{
		{"name", old.Name, next.Name}, {"email", old.Email, next.Email}, {"org", old.Org, next.Org},
		{"role", old.Role, next.Role}, {"status", old.Status.String(), next.Status.String()},
	} {
		if f.old != f.new {
			ch.Changes, ch.writeUser = append(ch.Changes, f.field), true
		}
	}
	if len(ch.join)+len(ch.leave) > 0 {
		ch.Changes = append(ch.Changes, "groups")
	}
	if old.SourceDN != e.DN {
		ch.Changes, ch.writeSource = append(ch.Changes, "dn"), true
	}
	if old.SourceState != state {
		ch.writeSource = true
		if !slices.Contains(ch.Changes, "status") {
			ch.Changes = append(ch.Changes, "directory state")
		}
	}
	switch {
	case len(ch.Changes) == 0:
		ch.Result = Unchanged
	case next.Status == authz.StatusSuspended && old.Status != authz.StatusSuspended:
		ch.Result = Suspended
	default:
		ch.Result = Updated
	}
	ch.Reason = strings.Join(why, "; ")
	return ch
}

// org places an entry: the first of its keys the mapping knows (without a
// mapping, the first that is an organisation's slug), else DefaultOrg.
func (c *Config) org(st *state, keys []string) (string, bool) {
	for _, k := range keys {
		if len(c.OrgMap) > 0 {
			if slug, ok := lookup(c.OrgMap, k); ok {
				return slug, true
			}
			continue
		}
		if slug := strings.ToLower(k); st.orgs[slug] {
			return slug, true
		}
	}
	return c.DefaultOrg, c.DefaultOrg != ""
}

// role maps the role attribute's value: through RoleMap when there is one
// (a value it does not know gives no role), else as it is, in lower case
// (CheckUser then judges it).
func (c *Config) role(v string) string {
	if v == "" {
		return ""
	}
	if len(c.RoleMap) > 0 {
		r, _ := lookup(c.RoleMap, v)
		return r
	}
	return strings.ToLower(v)
}
