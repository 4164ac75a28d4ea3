package identity

import (
	"context"
	"strconv"
	"strings"

	"pier/authz"
	"pier/db"
	"pier/vpath"
)

// AddGrant stores a grant after checking it and that its subject exists.
// The returned grant carries its new ID.
func (s *Store) AddGrant(ctx context.Context, g authz.Grant, by string) (authz.Grant, error) {
	if g.Subject.Kind == authz.UserSubject {
		g.Subject.Name = CanonicalLogin(g.Subject.Name)
	}
	if g.Perms == authz.PermNone {
		return g, fieldErr("perms", "a grant needs at least one permission")
	}
	if err := g.Validate(); err != nil {
		return g, &FieldError{Field: "grant", Msg: err.Error()}
	}
	for _, p := range append(append([]string{}, g.Allow...), g.Deny...) {
		if strings.Contains(p, "\n") {
			return g, fieldErr("pattern", "contains a line break")
		}
	}
	c := &change{op: "grant.add"}
	err := s.write(ctx, c, func(tx *db.Tx) error {
		defer func() { c.subject, c.after = "grant "+strconv.FormatInt(g.ID, 10), g.String() }()
		user, group, org, err := resolve(ctx, tx, g.Subject)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO grants (subject_kind, user_id, group_id, org_id, role, descendants, path, perms,
			allow_patterns, deny_patterns, max_size, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			kindName(g.Subject.Kind), user, group, org, roleOf(g.Subject), boolInt(g.Subject.Sub), g.Path.String(), g.Perms.String(),
			strings.Join(g.Allow, "\n"), strings.Join(g.Deny, "\n"), g.MaxSize, by, s.now().Unix()).Scan(&g.ID)
	})
	return g, err
}

// RemoveGrant deletes a grant by ID.
func (s *Store) RemoveGrant(ctx context.Context, id int64) error {
	c := &change{op: "grant.remove", subject: "grant " + strconv.FormatInt(id, 10)}
	return s.write(ctx, c, func(tx *db.Tx) error {
		var path, perms string
		if tx.QueryRow(ctx, "SELECT path, perms FROM grants WHERE id = ?", id).Scan(&path, &perms) == nil {
			c.before = map[string]string{"path": path, "perms": perms}
		}
		res, err := tx.Exec(ctx, "DELETE FROM grants WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("grant", strconv.FormatInt(id, 10))
		}
		return nil
	})
}

const grantSelect = `SELECT gr.id, gr.subject_kind, COALESCE(u.login, ''), COALESCE(g.name, ''), COALESCE(o.slug, ''),
	gr.role, gr.descendants, gr.path, gr.perms, gr.allow_patterns, gr.deny_patterns, gr.max_size
	FROM grants gr LEFT JOIN users u ON u.id = gr.user_id LEFT JOIN user_groups g ON g.id = gr.group_id
	LEFT JOIN orgs o ON o.id = gr.org_id`

// ListGrants returns every grant, ordered by ID.
func (s *Store) ListGrants(ctx context.Context) ([]authz.Grant, error) {
	return s.grants(ctx, "", nil)
}

func (s *Store) grants(ctx context.Context, where string, args []any) ([]authz.Grant, error) {
	rows, err := s.db.Query(ctx, grantSelect+" "+where+" ORDER BY gr.id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []authz.Grant
	for rows.Next() {
		var g authz.Grant
		var kind, login, group, org, role, path, perms, allow, deny string
		var desc int
		if err := rows.Scan(&g.ID, &kind, &login, &group, &org, &role, &desc, &path, &perms, &allow, &deny, &g.MaxSize); err != nil {
			return nil, err
		}
		switch kind {
		case "user":
			g.Subject = authz.Subject{Kind: authz.UserSubject, Name: login}
		case "group":
			g.Subject = authz.Subject{Kind: authz.GroupSubject, Name: group}
		case "org":
			g.Subject = authz.Subject{Kind: authz.OrgSubject, Name: org, Sub: desc == 1}
		case "role":
			g.Subject = authz.Subject{Kind: authz.RoleSubject, Name: role, Org: org, Sub: desc == 1}
		}
		if g.Path, err = vpath.Stored(path); err != nil {
			return nil, err
		}
		if g.Perms, err = authz.ParsePerms(perms); err != nil {
			return nil, err
		}
		g.Allow, g.Deny = splitList(allow, "\n"), splitList(deny, "\n")
		out = append(out, g)
	}
	return out, rows.Err()
}
