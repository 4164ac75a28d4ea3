package identity

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"pier/db"
)

// OrgKind says what an organisation is to us.
type OrgKind string

// The kinds of organisation.
const (
	Internal OrgKind = "internal" // our company and its units
	Partner  OrgKind = "partner"  // suppliers, distributors
	Customer OrgKind = "customer"
)

// ParseOrgKind checks a kind name.
func ParseOrgKind(s string) (OrgKind, error) {
	switch k := OrgKind(strings.ToLower(s)); k {
	case Internal, Partner, Customer:
		return k, nil
	}
	return "", fieldErr("kind", "%q: want internal, partner or customer", clip(s))
}

// Org is an organisation: a node of the organisation tree.
type Org struct {
	ID     int64
	Slug   string
	Name   string
	Kind   OrgKind
	Parent string // slug of the parent; "" for a top-level organisation
	Status string
	// SSHCompat lets the organisation's users, and those of the
	// organisations below it, log in through the SFTP compatibility listener.
	SSHCompat bool
}

// AddOrg creates an organisation under an existing parent.
func (s *Store) AddOrg(ctx context.Context, o Org) (Org, error) {
	if err := checkSlug("slug", o.Slug); err != nil {
		return o, err
	}
	if o.Kind == "" {
		o.Kind = Partner
	}
	if _, err := ParseOrgKind(string(o.Kind)); err != nil {
		return o, err
	}
	if o.Name == "" {
		o.Name = o.Slug
	}
	o.Status = "active"
	err := s.write(ctx, &change{op: "org.add", subject: "org " + o.Slug, after: o}, func(tx *db.Tx) error {
		var parent any
		if o.Parent != "" {
			id, err := orgID(ctx, tx, o.Parent)
			if err != nil {
				return err
			}
			parent = id
		}
		if _, err := orgID(ctx, tx, o.Slug); err == nil {
			return exists("organisation", o.Slug)
		}
		return tx.QueryRow(ctx, `INSERT INTO orgs (slug, name, kind, parent_id, status, ssh_compat, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, o.Slug, o.Name, string(o.Kind), parent, o.Status, flag(o.SSHCompat), s.now().Unix()).Scan(&o.ID)
	})
	return o, err
}

type queryRower interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

func orgID(ctx context.Context, q queryRower, slug string) (int64, error) {
	if !storable(slug) {
		return 0, notFound("organisation", slug)
	}
	var id int64
	err := q.QueryRow(ctx, "SELECT id FROM orgs WHERE slug = ?", slug).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("organisation", slug)
	}
	return id, err
}

// SetOrgParent moves an organisation under another one ("" for the top
// level), refusing cycles.
func (s *Store) SetOrgParent(ctx context.Context, slug, parent string) error {
	return s.write(ctx, &change{op: "org.move", subject: "org " + slug, after: map[string]string{"parent": parent}}, func(tx *db.Tx) error {
		id, err := orgID(ctx, tx, slug)
		if err != nil {
			return err
		}
		var pid any
		if parent != "" {
			p, err := orgID(ctx, tx, parent)
			if err != nil {
				return err
			}
			anc, err := ancestors(ctx, tx, parent)
			if err != nil {
				return err
			}
			if parent == slug || contains(anc, slug) {
				return fieldErr("parent", "%q is %s itself or below it: the organisation tree cannot have cycles", parent, slug)
			}
			pid = p
		}
		_, err = tx.Exec(ctx, "UPDATE orgs SET parent_id = ? WHERE id = ?", pid, id)
		return err
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ancestors returns the slugs above slug, nearest first. The walk is
// bounded so a corrupt tree cannot loop forever.
func ancestors(ctx context.Context, q queryRower, slug string) ([]string, error) {
	var out []string
	cur := slug
	for range 100 {
		var parent sql.NullString
		err := q.QueryRow(ctx, `SELECT p.slug FROM orgs o LEFT JOIN orgs p ON p.id = o.parent_id WHERE o.slug = ?`, cur).Scan(&parent)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("organisation", cur)
		}
		if err != nil {
			return nil, err
		}
		if !parent.Valid {
			return out, nil
		}
		out = append(out, parent.String)
		cur = parent.String
	}
	return nil, errors.New("organisation tree deeper than 100 levels or cyclic")
}

// GetOrg returns one organisation.
func (s *Store) GetOrg(ctx context.Context, slug string) (Org, error) {
	if !storable(slug) {
		return Org{}, notFound("organisation", slug)
	}
	orgs, err := s.listOrgs(ctx, "WHERE o.slug = ?", slug)
	if err != nil {
		return Org{}, err
	}
	if len(orgs) == 0 {
		return Org{}, notFound("organisation", slug)
	}
	return orgs[0], nil
}

// ListOrgs returns every organisation ordered by slug.
func (s *Store) ListOrgs(ctx context.Context) ([]Org, error) { return s.listOrgs(ctx, "") }

func (s *Store) listOrgs(ctx context.Context, where string, args ...any) ([]Org, error) {
	rows, err := s.db.Query(ctx, `SELECT o.id, o.slug, o.name, o.kind, COALESCE(p.slug, ''), o.status, o.ssh_compat
		FROM orgs o LEFT JOIN orgs p ON p.id = o.parent_id `+where+` ORDER BY o.slug`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		var o Org
		var kind string
		var compat int64
		if err := rows.Scan(&o.ID, &o.Slug, &o.Name, &kind, &o.Parent, &o.Status, &compat); err != nil {
			return nil, err
		}
		o.Kind, o.SSHCompat = OrgKind(kind), compat != 0
		out = append(out, o)
	}
	return out, rows.Err()
}

// SetOrgSSHCompat marks an organisation (and so the organisations below
// it) for the SFTP compatibility listener, or clears the mark.
func (s *Store) SetOrgSSHCompat(ctx context.Context, slug string, on bool) error {
	c := &change{op: "org.ssh-compat", subject: "org " + slug, after: map[string]bool{"ssh_compat": on}}
	return s.write(ctx, c, func(tx *db.Tx) error {
		id, err := orgID(ctx, tx, slug)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE orgs SET ssh_compat = ? WHERE id = ?", flag(on), id)
		return err
	})
}

// DeleteOrg removes an organisation that has no users and no
// sub-organisations; its groups memberships and grants go with it.
func (s *Store) DeleteOrg(ctx context.Context, slug string) error {
	return s.write(ctx, &change{op: "org.delete", subject: "org " + slug}, func(tx *db.Tx) error {
		id, err := orgID(ctx, tx, slug)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT (SELECT COUNT(*) FROM users WHERE org_id = ?) + (SELECT COUNT(*) FROM orgs WHERE parent_id = ?)", id, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fieldErr("organisation", "%s still has users or sub-organisations: move or delete them first", slug)
		}
		_, err = tx.Exec(ctx, "DELETE FROM orgs WHERE id = ?", id)
		return err
	})
}
