package admin

import (
	"context"
	"fmt"

	"pier/identity"
)

// GroupView is a group as the CLI and the API show it.
type GroupView struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Owner       string   `json:"owner,omitempty"`
	Members     []string `json:"members"`
}

func groupView(g identity.Group) GroupView {
	v := GroupView{Name: g.Name, Description: g.Description, Owner: g.Owner, Members: []string{}}
	for _, m := range g.Members {
		v.Members = append(v.Members, m.String())
	}
	return v
}

// group finds a group by name.
func (s *Service) group(ctx context.Context, name string) (identity.Group, error) {
	groups, err := s.ids.ListGroups(ctx)
	if err != nil {
		return identity.Group{}, err
	}
	for _, g := range groups {
		if g.Name == name {
			return g, nil
		}
	}
	return identity.Group{}, fmt.Errorf("group %q: %w", name, ErrNotFound)
}

// groupInScope finds a group the actor manages: an organisation
// administrator manages the groups their organisations own.
func (s *Service) groupInScope(ctx context.Context, a Actor, name string) (identity.Group, error) {
	g, err := s.group(ctx, name)
	if err != nil {
		return g, err
	}
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return g, err
	}
	if !sc.all && !sc.has(g.Owner) {
		return identity.Group{}, fmt.Errorf("group %q: %w", name, ErrNotFound)
	}
	return g, nil
}

// AddGroup creates a group. An organisation administrator's groups are
// owned by their organisation (or one below it).
func (s *Service) AddGroup(ctx context.Context, a Actor, name, description, owner string) (GroupView, error) {
	if err := canWrite(a, "add groups"); err != nil {
		return GroupView{}, err
	}
	if a.Role != RoleSuper {
		if owner == "" {
			owner = a.Org
		}
		if err := s.inScope(ctx, a, owner); err != nil {
			return GroupView{}, &identity.FieldError{Field: "owner", Msg: err.Error()}
		}
	}
	g, err := s.ids.AddOwnedGroup(acting(ctx, a), identity.Group{Name: name, Description: description, Owner: owner})
	if err != nil {
		return GroupView{}, err
	}
	return groupView(g), nil
}

// ListGroups returns the groups the actor may see.
func (s *Service) ListGroups(ctx context.Context, a Actor) ([]GroupView, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return nil, err
	}
	groups, err := s.ids.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := []GroupView{}
	for _, g := range groups {
		if sc.all || sc.has(g.Owner) {
			out = append(out, groupView(g))
		}
	}
	return out, nil
}

// DeleteGroup removes a group the actor manages, with its memberships and
// grants.
func (s *Service) DeleteGroup(ctx context.Context, a Actor, name string) error {
	if err := canWrite(a, "delete groups"); err != nil {
		return err
	}
	if _, err := s.groupInScope(ctx, a, name); err != nil {
		return err
	}
	return s.ids.DeleteGroup(acting(ctx, a), name)
}

// AddMember adds a member, in subject syntax (user:LOGIN, org:SLUG[+sub],
// role:ROLE@SLUG[+sub]), to a group the actor manages; an organisation
// administrator adds members of their organisations only.
func (s *Service) AddMember(ctx context.Context, a Actor, group, member string) error {
	return s.member(ctx, a, group, member, true)
}

// RemoveMember takes a member out of a group the actor manages.
func (s *Service) RemoveMember(ctx context.Context, a Actor, group, member string) error {
	return s.member(ctx, a, group, member, false)
}

func (s *Service) member(ctx context.Context, a Actor, group, member string, add bool) error {
	if err := canWrite(a, "change group members"); err != nil {
		return err
	}
	m, err := identity.ParseMember(member)
	if err != nil {
		return err
	}
	if _, err := s.groupInScope(ctx, a, group); err != nil {
		return err
	}
	if err := s.subjectInScope(ctx, a, m); err != nil {
		return &identity.FieldError{Field: "member", Msg: err.Error()}
	}
	if add {
		return s.ids.AddMember(acting(ctx, a), group, m)
	}
	return s.ids.RemoveMember(acting(ctx, a), group, m)
}
