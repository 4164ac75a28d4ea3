package admin

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"pier/authz"
	"pier/identity"
	"pier/vpath"
)

// GrantInput describes a new grant, as an administrator types it.
type GrantInput struct {
	To, Path, Perms string
	Allow, Deny     []string
	MaxSize         string // 50MB, 1GiB; "" for no limit
}

// GrantView is a grant as the CLI and the API show it.
type GrantView struct {
	ID          int64    `json:"id"`
	To          string   `json:"to"`
	Path        string   `json:"path"`
	Perms       string   `json:"perms"`
	Allow       []string `json:"allow"`
	Deny        []string `json:"deny"`
	MaxSize     int64    `json:"max_size,omitempty"`
	Description string   `json:"description"`
}

func grantView(g authz.Grant) GrantView {
	return GrantView{ID: g.ID, To: g.Subject.String(), Path: g.Path.String(), Perms: g.Perms.String(),
		Allow: append([]string{}, g.Allow...), Deny: append([]string{}, g.Deny...), MaxSize: g.MaxSize, Description: g.String()}
}

// field wraps an error as a FieldError for field.
func field(name string, err error) error {
	if err == nil {
		return nil
	}
	return &identity.FieldError{Field: name, Msg: strings.TrimPrefix(err.Error(), "authz: ")}
}

// grant builds the grant an input describes, checking every field.
func (in GrantInput) grant() (authz.Grant, error) {
	for name, v := range map[string]string{"to": in.To, "path": in.Path, "perms": in.Perms} {
		if v == "" {
			return authz.Grant{}, &identity.FieldError{Field: name, Msg: "is required"}
		}
	}
	var g authz.Grant
	var err error
	if g.Subject, err = authz.ParseSubject(in.To); err != nil {
		return g, field("to", err)
	}
	if g.Path, err = vpath.Parse(in.Path); err != nil {
		return g, field("path", err)
	}
	if g.Perms, err = authz.ParsePerms(in.Perms); err != nil {
		return g, field("perms", err)
	}
	if g.Perms == authz.PermNone {
		return g, &identity.FieldError{Field: "perms", Msg: "a grant needs at least one permission"}
	}
	for _, p := range in.Allow {
		if err := authz.ValidatePattern(p); err != nil {
			return g, field("allow", err)
		}
	}
	for _, p := range in.Deny {
		if err := authz.ValidatePattern(p); err != nil {
			return g, field("deny", err)
		}
	}
	g.Allow, g.Deny = append([]string(nil), in.Allow...), append([]string(nil), in.Deny...)
	if in.MaxSize != "" {
		if g.MaxSize, err = ParseSize(in.MaxSize); err != nil {
			return g, field("max_size", err)
		}
	}
	return g, nil
}

// sizeUnits are the units sizes take, by their lower-case name.
func sizeUnit(u string) (int64, bool) {
	switch u {
	case "", "b":
		return 1, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize reads a positive size: "50MB", "1.5 GiB", "1048576".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size (want e.g. 50MB or 1GiB)", clip(s))
	}
	mult, ok := sizeUnit(unit)
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KB, MB, GB, KiB, MiB or GiB)", clip(s), clip(t[i:]))
	}
	size := n * float64(mult)
	switch {
	case size < 1:
		return 0, fmt.Errorf("%q: must be at least 1 byte (leave the size out for no limit)", clip(s))
	case size > math.MaxInt64/2:
		return 0, fmt.Errorf("%q is too large", clip(s))
	}
	return int64(size), nil
}

// subjectInScope checks that a grant's or membership's subject lies within
// the actor's organisations: a user of one of them, one of them, a role in
// one of them, or a group one of them owns.
func (s *Service) subjectInScope(ctx context.Context, a Actor, sub authz.Subject) error {
	sc, err := s.scopeOf(ctx, a)
	if err != nil || sc.all {
		return err
	}
	var org string
	switch sub.Kind {
	case authz.UserSubject:
		u, err := s.ids.GetUser(ctx, sub.Name)
		if err != nil {
			return &identity.FieldError{Field: "to", Msg: err.Error()}
		}
		org = u.Org
	case authz.OrgSubject:
		org = sub.Name
	case authz.RoleSubject:
		org = sub.Org
	case authz.GroupSubject:
		g, err := s.group(ctx, sub.Name)
		if err != nil {
			return &identity.FieldError{Field: "to", Msg: err.Error()}
		}
		org = g.Owner
	}
	if !sc.has(org) {
		return &identity.FieldError{Field: "to", Msg: fmt.Sprintf("%s: %v", sub, ErrNotFound)}
	}
	return nil
}

// AddGrant stores a grant. An organisation administrator grants only to
// subjects within their organisations, and never more than their
// organisation holds (authz.DecideDelegation, whose reason the refusal
// carries).
func (s *Service) AddGrant(ctx context.Context, a Actor, in GrantInput) (GrantView, error) {
	if err := canWrite(a, "grant rights"); err != nil {
		return GrantView{}, err
	}
	g, err := in.grant()
	if err != nil {
		return GrantView{}, err
	}
	if a.Role != RoleSuper {
		if err := s.subjectInScope(ctx, a, g.Subject); err != nil {
			return GrantView{}, err
		}
		d, err := s.Delegation(ctx, a, g)
		if err != nil {
			return GrantView{}, err
		}
		if !d.Allowed {
			return GrantView{}, fmt.Errorf("%w: %s", ErrForbidden, strings.TrimPrefix(d.Reason, "denied: "))
		}
	}
	g, err = s.ids.AddGrant(acting(ctx, a), g, a.Name)
	if err != nil {
		return GrantView{}, err
	}
	return grantView(g), nil
}

// Delegation decides whether the actor's organisation holds what g gives.
func (s *Service) Delegation(ctx context.Context, a Actor, g authz.Grant) (authz.Decision, error) {
	if a.Role == RoleSuper {
		return authz.Decision{Allowed: true, Visible: true, Reason: "allowed: a super administrator grants anything"}, nil
	}
	f, grants, err := s.ids.OrgFacts(ctx, a.Org)
	if err != nil {
		return authz.Decision{}, err
	}
	return authz.DecideDelegation(f, grants, g), nil
}

// ListGrants returns the grants the actor may see: all of them for a super
// administrator or an unscoped auditor, else those whose subject lies
// within the actor's organisations.
func (s *Service) ListGrants(ctx context.Context, a Actor) ([]GrantView, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return nil, err
	}
	grants, err := s.ids.ListGrants(ctx)
	if err != nil {
		return nil, err
	}
	out := []GrantView{}
	for _, g := range grants {
		if sc.all || s.subjectInScope(ctx, a, g.Subject) == nil {
			out = append(out, grantView(g))
		}
	}
	return out, nil
}

// RemoveGrant removes a grant the actor may see.
func (s *Service) RemoveGrant(ctx context.Context, a Actor, id int64) error {
	if err := canWrite(a, "remove grants"); err != nil {
		return err
	}
	if a.Role != RoleSuper {
		visible, err := s.ListGrants(ctx, a)
		if err != nil {
			return err
		}
		found := false
		for _, g := range visible {
			found = found || g.ID == id
		}
		if !found {
			return fmt.Errorf("grant %d: %w", id, ErrNotFound)
		}
	}
	return s.ids.RemoveGrant(acting(ctx, a), id)
}
