package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"pier/authz"
	"pier/db"
)

// Group is a named set of members.
type Group struct {
	ID          int64
	Name        string
	Description string
	// Owner is the organisation whose administrators manage the group;
	// "" for a group only super administrators manage.
	Owner   string
	Members []authz.Subject
}

// AddGroup creates an empty group.
func (s *Store) AddGroup(ctx context.Context, name, description string) (Group, error) {
	return s.AddOwnedGroup(ctx, Group{Name: name, Description: description})
}

// AddOwnedGroup creates an empty group, owned by an organisation if
// g.Owner is set.
func (s *Store) AddOwnedGroup(ctx context.Context, g Group) (Group, error) {
	name, description := g.Name, g.Description
	if err := checkGroup(name); err != nil {
		return g, err
	}
	err := s.write(ctx, &change{op: "group.add", subject: "group " + name, after: g}, func(tx *db.Tx) error {
		if _, err := groupID(ctx, tx, name); err == nil {
			return exists("group", name)
		}
		if g.Owner != "" {
			if _, err := orgID(ctx, tx, g.Owner); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, "INSERT INTO user_groups (name, description, owner_org, created_at) VALUES (?, ?, ?, ?) RETURNING id",
			name, description, g.Owner, s.now().Unix()).Scan(&g.ID)
	})
	return g, err
}

func groupID(ctx context.Context, q queryRower, name string) (int64, error) {
	if !storable(name) {
		return 0, notFound("group", name)
	}
	var id int64
	err := q.QueryRow(ctx, "SELECT id FROM user_groups WHERE name = ?", name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("group", name)
	}
	return id, err
}

// DeleteGroup removes a group, its memberships and its grants.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	return s.write(ctx, &change{op: "group.delete", subject: "group " + name}, func(tx *db.Tx) error {
		id, err := groupID(ctx, tx, name)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM user_groups WHERE id = ?", id)
		return err
	})
}

// ParseMember reads a member in subject syntax: "user:LOGIN",
// "org:SLUG[+sub]" or "role:ROLE@SLUG[+sub]". Groups do not nest.
func ParseMember(s string) (authz.Subject, error) {
	m, err := authz.ParseSubject(s)
	if err != nil {
		return m, &FieldError{Field: "member", Msg: err.Error()}
	}
	if m.Kind == authz.GroupSubject {
		return m, fieldErr("member", "groups cannot contain groups; add the group's members instead")
	}
	if m.Kind == authz.UserSubject {
		m.Name = CanonicalLogin(m.Name)
	}
	return m, nil
}

// resolve finds the rows a subject names: (user id, group id, org id).
func resolve(ctx context.Context, tx *db.Tx, m authz.Subject) (user, group, org any, err error) {
	switch m.Kind {
	case authz.UserSubject:
		id, err := userID(ctx, tx, m.Name)
		return id, nil, nil, err
	case authz.GroupSubject:
		id, err := groupID(ctx, tx, m.Name)
		return nil, id, nil, err
	case authz.OrgSubject:
		id, err := orgID(ctx, tx, m.Name)
		return nil, nil, id, err
	case authz.RoleSubject:
		if err := checkRole(m.Name); err != nil {
			return nil, nil, nil, err
		}
		id, err := orgID(ctx, tx, m.Org)
		return nil, nil, id, err
	}
	return nil, nil, nil, fieldErr("subject", "unknown kind")
}

func kindName(k authz.SubjectKind) string {
	switch k {
	case authz.UserSubject:
		return "user"
	case authz.GroupSubject:
		return "group"
	case authz.OrgSubject:
		return "org"
	case authz.RoleSubject:
		return "role"
	}
	return "none"
}

func roleOf(m authz.Subject) string {
	if m.Kind == authz.RoleSubject {
		return m.Name
	}
	return ""
}

// AddMember adds a user, an organisation (optionally with its
// descendants) or a role within an organisation to a group.
func (s *Store) AddMember(ctx context.Context, group string, m authz.Subject) error {
	return s.write(ctx, &change{op: "group.member.add", subject: "group " + group, after: m.String()}, func(tx *db.Tx) error {
		gid, err := groupID(ctx, tx, group)
		if err != nil {
			return err
		}
		user, _, org, err := resolve(ctx, tx, m)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM group_members WHERE group_id = ? AND member_key = ?", gid, m.String()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return exists(fmt.Sprintf("member of group %s", group), m.String())
		}
		_, err = tx.Exec(ctx, `INSERT INTO group_members (group_id, kind, user_id, org_id, role, descendants, member_key)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, gid, kindName(m.Kind), user, org, roleOf(m), boolInt(m.Sub), m.String())
		return err
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RemoveMember takes a member out of a group.
func (s *Store) RemoveMember(ctx context.Context, group string, m authz.Subject) error {
	return s.write(ctx, &change{op: "group.member.remove", subject: "group " + group, before: m.String()}, func(tx *db.Tx) error {
		gid, err := groupID(ctx, tx, group)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, "DELETE FROM group_members WHERE group_id = ? AND member_key = ?", gid, m.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("member of group "+group, m.String())
		}
		return nil
	})
}

// ListGroups returns every group with its members, ordered by name.
func (s *Store) ListGroups(ctx context.Context) ([]Group, error) {
	rows, err := s.db.Query(ctx, `SELECT g.id, g.name, g.description, g.owner_org, COALESCE(m.member_key, '')
		FROM user_groups g LEFT JOIN group_members m ON m.group_id = g.id ORDER BY g.name, m.member_key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		var member string
		if err := rows.Scan(&g.ID, &g.Name, &g.Description, &g.Owner, &member); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != g.ID {
			out = append(out, g)
		}
		if member != "" {
			if m, err := authz.ParseSubject(member); err == nil {
				out[len(out)-1].Members = append(out[len(out)-1].Members, m)
			}
		}
	}
	return out, rows.Err()
}
