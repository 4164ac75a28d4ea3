package admin

import (
	"context"
	"errors"
	"fmt"

	"pier/identity"
	"pier/storage"
	"pier/vpath"
)

// OrgInput describes a new organisation.
type OrgInput struct {
	Slug, Parent, Name string
	Kind               string // internal, partner or customer; default the parent's, else partner
	// SSHCompat lets its users (and those of the organisations below)
	// use the SFTP compatibility listener; super administrators only.
	SSHCompat bool
}

// OrgView is an organisation as the CLI and the API show it, in tree
// order with its depth.
type OrgView struct {
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Parent string `json:"parent,omitempty"`
	Status string `json:"status"`
	Depth  int    `json:"depth"`
	// SSHCompat: marked for the SFTP compatibility listener.
	SSHCompat bool `json:"ssh_compat"`
}

// AddOrg creates an organisation and its folder /SLUG; if the folder
// cannot be made, the organisation is removed again. An organisation
// administrator adds organisations below theirs only.
func (s *Service) AddOrg(ctx context.Context, a Actor, in OrgInput) (OrgView, error) {
	if err := canWrite(a, "add organisations"); err != nil {
		return OrgView{}, err
	}
	if a.Role != RoleSuper && in.Parent == "" {
		return OrgView{}, &identity.FieldError{Field: "parent", Msg: "an organisation administrator adds organisations below their own"}
	}
	if in.Parent != "" {
		if err := s.inScope(ctx, a, in.Parent); err != nil {
			return OrgView{}, &identity.FieldError{Field: "parent", Msg: err.Error()}
		}
	}
	if in.SSHCompat && a.Role != RoleSuper {
		return OrgView{}, forbidden(a, "let organisations use the SSH compatibility listener")
	}
	o := identity.Org{Slug: in.Slug, Name: in.Name, Parent: in.Parent, SSHCompat: in.SSHCompat}
	if in.Kind != "" {
		k, err := identity.ParseOrgKind(in.Kind)
		var fe *identity.FieldError
		if errors.As(err, &fe) {
			return OrgView{}, err
		} else if err != nil {
			return OrgView{}, &identity.FieldError{Field: "kind", Msg: err.Error()}
		}
		o.Kind = k
	}
	if o.Kind == "" && o.Parent != "" {
		p, err := s.ids.GetOrg(ctx, o.Parent)
		if err != nil {
			return OrgView{}, &identity.FieldError{Field: "parent", Msg: err.Error()}
		}
		o.Kind = p.Kind
	}
	dir, err := vpath.Parse("/" + o.Slug)
	if err != nil {
		return OrgView{}, &identity.FieldError{Field: "slug", Msg: err.Error()}
	}
	if e, err := s.store.Stat(ctx, dir); err == nil && !e.IsDir() {
		return OrgView{}, &identity.FieldError{Field: "slug", Msg: dir.String() + " exists and is not a folder"}
	} else if err != nil && !errors.Is(err, storage.ErrNotExist) {
		return OrgView{}, err
	}
	ctx = acting(ctx, a)
	o, err = s.ids.AddOrg(ctx, o)
	if err != nil {
		return OrgView{}, err
	}
	if err := s.store.MkdirAll(ctx, dir, a.Name); err != nil {
		return OrgView{}, errors.Join(fmt.Errorf("organisation %s: folder %s: %w", o.Slug, dir, err), s.ids.DeleteOrg(context.WithoutCancel(ctx), o.Slug))
	}
	return OrgView{Slug: o.Slug, Name: o.Name, Kind: string(o.Kind), Parent: o.Parent, Status: o.Status, SSHCompat: o.SSHCompat}, nil
}

// SetOrgSSHCompat marks an organisation, and so every organisation below
// it, for the SFTP compatibility listener, or clears the mark. It allows
// older algorithms: super administrators only.
func (s *Service) SetOrgSSHCompat(ctx context.Context, a Actor, slug string, on bool) error {
	if err := superOnly(a, "let organisations use the SSH compatibility listener"); err != nil {
		return err
	}
	return s.ids.SetOrgSSHCompat(acting(ctx, a), slug, on)
}

// MoveOrg puts an organisation under another one ("" for the top level),
// refusing cycles. An organisation administrator moves organisations
// within their subtree only, and never their own.
func (s *Service) MoveOrg(ctx context.Context, a Actor, slug, parent string) error {
	if err := canWrite(a, "move organisations"); err != nil {
		return err
	}
	if a.Role != RoleSuper {
		if slug == a.Org || parent == "" {
			return forbidden(a, "move organisations out of their subtree")
		}
		if err := s.inScope(ctx, a, slug); err != nil {
			return err
		}
		if err := s.inScope(ctx, a, parent); err != nil {
			return &identity.FieldError{Field: "parent", Msg: err.Error()}
		}
	}
	if parent != "" {
		if _, err := s.ids.GetOrg(ctx, parent); errors.Is(err, identity.ErrNotFound) {
			return &identity.FieldError{Field: "parent", Msg: err.Error()}
		} else if err != nil {
			return err
		}
	}
	// A missing slug is not found (404), a missing parent a bad field.
	return s.ids.SetOrgParent(acting(ctx, a), slug, parent)
}

// ListOrgs returns the organisations the actor may see, depth first,
// children by slug.
func (s *Service) ListOrgs(ctx context.Context, a Actor) ([]OrgView, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return nil, err
	}
	orgs, err := s.ids.ListOrgs(ctx)
	if err != nil {
		return nil, err
	}
	var visible []identity.Org
	for _, o := range orgs {
		if sc.has(o.Slug) {
			if !sc.has(o.Parent) {
				o.Parent = "" // the top of the actor's view
			}
			visible = append(visible, o)
		}
	}
	return orgTree(visible), nil
}

// orgTree orders organisations depth first, children by slug.
func orgTree(orgs []identity.Org) []OrgView {
	children := map[string][]identity.Org{}
	known := map[string]bool{}
	for _, o := range orgs {
		known[o.Slug] = true
	}
	for _, o := range orgs { // ListOrgs sorts by slug
		p := o.Parent
		if !known[p] {
			p = ""
		}
		children[p] = append(children[p], o)
	}
	out := []OrgView{}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, o := range children[parent] {
			if depth > 100 { // a corrupt, cyclic tree
				return
			}
			out = append(out, OrgView{Slug: o.Slug, Name: o.Name, Kind: string(o.Kind), Parent: o.Parent, Status: o.Status, Depth: depth,
				SSHCompat: o.SSHCompat})
			walk(o.Slug, depth+1)
		}
	}
	walk("", 0)
	return out
}
