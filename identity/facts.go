package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"pier/authz"
	"pier/db"
)

type cached struct {
	facts  authz.Facts
	grants []authz.Grant
	gen    int64
}

// Facts loads what authz needs to decide for a user: the user's facts
// (organisation ancestry, effective groups, status) and the grants that
// may concern them. Results are cached per login and dropped as soon as
// any change to identities or grants is seen (within a second, on every
// node). The caller sets Facts.Protocol for the request.
func (s *Store) Facts(ctx context.Context, login string) (authz.Facts, []authz.Grant, error) {
	login = CanonicalLogin(login)
	gen, err := s.generation(ctx)
	if err != nil {
		return authz.Facts{}, nil, err
	}
	s.mu.Lock()
	c, ok := s.cache[login]
	s.mu.Unlock()
	if ok && c.gen == gen {
		return c.facts, c.grants, nil
	}
	f, grants, err := s.loadFacts(ctx, login)
	if err != nil {
		return f, nil, err
	}
	s.mu.Lock()
	if len(s.cache) > 10_000 {
		clear(s.cache) // bound memory; a reload costs a few queries
	}
	s.cache[login] = cached{facts: f, grants: grants, gen: gen}
	s.mu.Unlock()
	return f, grants, nil
}

// generation returns the change counter, read from the database at most
// once per cacheTTL.
func (s *Store) generation(ctx context.Context) (int64, error) {
	s.mu.Lock()
	if time.Since(s.genRead) < s.cacheTTL {
		g := s.gen
		s.mu.Unlock()
		return g, nil
	}
	s.mu.Unlock()
	var g int64
	if err := s.db.QueryRow(ctx, "SELECT value FROM settings WHERE name = 'authz_generation'").Scan(&g); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.gen, s.genRead = g, time.Now()
	s.mu.Unlock()
	return g, nil
}

func (s *Store) loadFacts(ctx context.Context, login string) (authz.Facts, []authz.Grant, error) {
	u, err := s.GetUser(ctx, login)
	if errors.Is(err, ErrNotFound) {
		return authz.Facts{}, nil, fmt.Errorf("%w: %w", authz.ErrNoAccount, err)
	} else if err != nil {
		return authz.Facts{}, nil, err
	}
	anc, err := ancestors(ctx, s.db, u.Org)
	if err != nil {
		return authz.Facts{}, nil, err
	}
	f := authz.Facts{
		UserID: u.ID, Login: u.Login, Org: u.Org, OrgAncestors: anc, Role: u.Role,
		Status: u.Status, Expires: u.Expires, Protocols: u.Protocols, Networks: u.CIDRs, Unreadable: u.Unreadable,
		SSHCompat: u.SSHCompat,
	}
	if !f.SSHCompat {
		chain := append([]string{u.Org}, anc...)
		args := make([]any, len(chain))
		for i, o := range chain {
			args[i] = o
		}
		var marked int
		if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM orgs WHERE ssh_compat <> 0 AND slug IN ("+db.Placeholders(len(chain))+")",
			args...).Scan(&marked); err != nil {
			return f, nil, err
		}
		f.SSHCompat = marked > 0
	}
	if f.Keys, err = s.factKeys(ctx, u.ID); err != nil {
		return f, nil, err
	}
	if f.Groups, err = s.effectiveGroups(ctx, u, anc); err != nil {
		return f, nil, err
	}
	// Grants that can concern the user: to them, to one of their groups,
	// or to their organisation or one above it (org and role subjects).
	orgs := append([]string{u.Org}, anc...)
	args := []any{u.ID}
	where := "WHERE gr.user_id = ? OR o.slug IN (" + db.Placeholders(len(orgs)) + ")"
	for _, o := range orgs {
		args = append(args, o)
	}
	if len(f.Groups) > 0 {
		where += " OR g.name IN (" + db.Placeholders(len(f.Groups)) + ")"
		for _, g := range f.Groups {
			args = append(args, g)
		}
	}
	grants, err := s.grants(ctx, where, args)
	return f, grants, err
}

// factKeys loads the fingerprints and expiry times of a user's keys.
func (s *Store) factKeys(ctx context.Context, userID int64) ([]authz.Key, error) {
	rows, err := s.db.Query(ctx, "SELECT fingerprint, expires_at FROM user_keys WHERE user_id = ? ORDER BY id", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []authz.Key
	for rows.Next() {
		var k authz.Key
		var exp int64
		if err := rows.Scan(&k.Fingerprint, &exp); err != nil {
			return nil, err
		}
		k.Expires = fromUnix(exp)
		out = append(out, k)
	}
	return out, rows.Err()
}

// effectiveGroups resolves direct, organisation and role memberships.
func (s *Store) effectiveGroups(ctx context.Context, u User, anc []string) ([]string, error) {
	q := `SELECT DISTINCT g.name FROM group_members m JOIN user_groups g ON g.id = m.group_id
		LEFT JOIN orgs o ON o.id = m.org_id
		WHERE (m.kind = 'user' AND m.user_id = ?)
		OR (m.kind = 'org' AND (o.slug = ? OR (m.descendants = 1 AND o.slug IN (%s))))
		OR (m.kind = 'role' AND m.role = ? AND m.role <> '' AND (o.slug = ? OR (m.descendants = 1 AND o.slug IN (%s))))
		ORDER BY g.name`
	in := "''" // no ancestors: match nothing
	var ancArgs []any
	if len(anc) > 0 {
		in = db.Placeholders(len(anc))
		for _, a := range anc {
			ancArgs = append(ancArgs, a)
		}
	}
	args := append([]any{u.ID, u.Org}, ancArgs...)
	args = append(append(args, u.Role, u.Org), ancArgs...)
	rows, err := s.db.Query(ctx, strings.ReplaceAll(q, "%s", in), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// OrgFacts loads an organisation as authz.DecideDelegation sees it: its
// ancestors, the groups it belongs to as a whole (org memberships, not a
// member's own or role ones), and the grants to it, its ancestors or those
// groups.
func (s *Store) OrgFacts(ctx context.Context, slug string) (authz.Facts, []authz.Grant, error) {
	if _, err := s.GetOrg(ctx, slug); err != nil {
		return authz.Facts{}, nil, err
	}
	anc, err := ancestors(ctx, s.db, slug)
	if err != nil {
		return authz.Facts{}, nil, err
	}
	f := authz.Facts{Org: slug, OrgAncestors: anc, Status: authz.StatusActive}
	orgs := append([]string{slug}, anc...)
	in := db.Placeholders(len(anc))
	if len(anc) == 0 {
		in = "''"
	}
	args := []any{slug}
	for _, a := range anc {
		args = append(args, a)
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT g.name FROM group_members m JOIN user_groups g ON g.id = m.group_id
		JOIN orgs o ON o.id = m.org_id WHERE m.kind = 'org' AND (o.slug = ? OR (m.descendants = 1 AND o.slug IN (`+in+`))) ORDER BY g.name`, args...)
	if err != nil {
		return f, nil, err
	}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return f, nil, err
		}
		f.Groups = append(f.Groups, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, nil, err
	}
	where := "WHERE o.slug IN (" + db.Placeholders(len(orgs)) + ")"
	gargs := []any{}
	for _, o := range orgs {
		gargs = append(gargs, o)
	}
	if len(f.Groups) > 0 {
		where += " OR g.name IN (" + db.Placeholders(len(f.Groups)) + ")"
		for _, g := range f.Groups {
			gargs = append(gargs, g)
		}
	}
	grants, err := s.grants(ctx, where, gargs)
	return f, grants, err
}
