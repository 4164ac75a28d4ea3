package admin

import (
	"context"
	"fmt"
	"time"

	"pier/audit"
	"pier/authfs"
	"pier/authz"
	"pier/identity"
)

// Explain decides a question about a user the actor may see, exactly as
// the servers would (authfs.Explain).
func (s *Service) Explain(ctx context.Context, a Actor, q authfs.Question) (authz.Decision, error) {
	if _, err := s.userInScope(ctx, a, q.Login); err != nil {
		return authz.Decision{}, err
	}
	return s.access.Explain(ctx, q)
}

// ViewEntry is one path of a user's view.
type ViewEntry struct {
	Path   string   `json:"path"`
	Perms  string   `json:"perms"`
	Grants []int64  `json:"grants"`
	Limits []string `json:"limits"`
	Text   string   `json:"text"`
}

// AccessView is what a user may do, as "pier access view" prints it.
type AccessView struct {
	Login   string      `json:"login"`
	Usable  bool        `json:"usable"`
	Reason  string      `json:"reason,omitempty"`
	Entries []ViewEntry `json:"entries"`
}

// View lists every path a user the actor may see has rights on.
func (s *Service) View(ctx context.Context, a Actor, login string, protocol authz.Protocol) (AccessView, error) {
	if _, err := s.userInScope(ctx, a, login); err != nil {
		return AccessView{}, err
	}
	facts, view, err := s.access.View(ctx, login, protocol)
	if err != nil {
		return AccessView{}, err
	}
	v := AccessView{Login: facts.Login, Entries: []ViewEntry{}}
	v.Usable, v.Reason = facts.Usable(s.now())
	for _, e := range view {
		v.Entries = append(v.Entries, ViewEntry{Path: e.Path.String(), Perms: e.Perms.String(),
			Grants: e.Grants, Limits: append([]string{}, e.Limits...), Text: e.String()})
	}
	return v, nil
}

// SearchAudit returns audit records; an organisation administrator or a
// scoped auditor sees only the records of their organisations' users and
// folders.
func (s *Service) SearchAudit(ctx context.Context, a Actor, q audit.Query) ([]audit.Found, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return nil, err
	}
	if !sc.all {
		var orgs []string
		for o := range sc.orgs {
			if len(q.Orgs) == 0 || contains(q.Orgs, o) {
				orgs = append(orgs, o)
			}
		}
		if len(orgs) == 0 {
			return []audit.Found{}, nil
		}
		q.Orgs = orgs
	}
	if err := s.audit.Flush(ctx); err != nil {
		return nil, err
	}
	found, err := s.audit.Search(ctx, q)
	if found == nil {
		found = []audit.Found{}
	}
	return found, err
}

// TokenInput describes a new API token.
type TokenInput struct {
	Login    string // whose token; "" for the actor's own (an API caller's)
	Name     string
	ReadOnly bool
	Org      string        // narrows the owner's scope
	Expires  time.Duration // 0: never
}

// TokenView is an API token as listed (never its secret).
type TokenView struct {
	ID       int64  `json:"id"`
	Login    string `json:"login"`
	Name     string `json:"name"`
	ReadOnly bool   `json:"read_only"`
	Org      string `json:"org,omitempty"`
	Expires  string `json:"expires,omitempty"`
	LastUsed string `json:"last_used,omitempty"`
	Created  string `json:"created"`
	Revoked  string `json:"revoked,omitempty"`
}

func tokenView(t identity.Token) TokenView {
	return TokenView{ID: t.ID, Login: t.Login, Name: t.Name, ReadOnly: t.ReadOnly, Org: t.Org,
		Expires: TimeText(t.Expires), LastUsed: TimeText(t.LastUsed), Created: TimeText(t.Created), Revoked: TimeText(t.Revoked)}
}

// AddToken makes an API token for an administrator and returns its text,
// shown this once. Only a super administrator makes tokens for others;
// a token never reaches further than its owner's role.
func (s *Service) AddToken(ctx context.Context, a Actor, in TokenInput) (TokenView, string, error) {
	if in.Login == "" {
		in.Login = a.Name
	}
	if in.Login != a.Name {
		if err := superOnly(a, "make tokens for others"); err != nil {
			return TokenView{}, "", err
		}
	} else if err := canRead(a); err != nil {
		return TokenView{}, "", err
	}
	if in.Login == a.Name {
		// A token makes no token wider than itself: a read-only one only
		// read-only ones, one narrowed to a subtree only ones within it.
		in.ReadOnly = in.ReadOnly || a.ReadOnly
		if a.Org != "" {
			if in.Org == "" {
				in.Org = a.Org
			} else if err := s.inScope(ctx, a, in.Org); err != nil {
				return TokenView{}, "", &identity.FieldError{Field: "org", Msg: err.Error()}
			}
		}
	}
	role, err := s.ids.GetAdminRole(ctx, in.Login)
	if err != nil {
		return TokenView{}, "", err
	}
	if role.Role == "" {
		return TokenView{}, "", &identity.FieldError{Field: "login", Msg: in.Login + " is no administrator: give them a role first"}
	}
	if in.Org != "" {
		owner := Actor{Name: in.Login, Role: Role(role.Role), Org: role.Org}
		if err := s.inScope(ctx, owner, in.Org); err != nil {
			return TokenView{}, "", &identity.FieldError{Field: "org", Msg: err.Error()}
		}
	}
	t := identity.Token{Login: in.Login, Name: in.Name, ReadOnly: in.ReadOnly, Org: in.Org}
	if in.Expires > 0 {
		t.Expires = s.now().Add(in.Expires)
	}
	t, text, err := s.ids.AddToken(acting(ctx, a), t)
	if err != nil {
		return TokenView{}, "", err
	}
	return tokenView(t), text, nil
}

// ListTokens returns the actor's tokens, or everyone's for a super
// administrator.
func (s *Service) ListTokens(ctx context.Context, a Actor) ([]TokenView, error) {
	if err := canRead(a); err != nil {
		return nil, err
	}
	login := a.Name
	if a.Role == RoleSuper {
		login = ""
	}
	tokens, err := s.ids.ListTokens(ctx, login)
	if err != nil {
		return nil, err
	}
	out := []TokenView{}
	for _, t := range tokens {
		out = append(out, tokenView(t))
	}
	return out, nil
}

// RevokeToken revokes one of the actor's tokens (anyone's for a super
// administrator).
func (s *Service) RevokeToken(ctx context.Context, a Actor, id int64) error {
	if err := canRead(a); err != nil {
		return err
	}
	t, err := s.ids.GetToken(ctx, id)
	if err != nil {
		return err
	}
	if t.Login != a.Name {
		if a.Role != RoleSuper {
			return fmt.Errorf("token %d: %w", id, ErrNotFound)
		}
		if err := canWrite(a, "revoke others' tokens"); err != nil {
			return err
		}
	}
	return s.ids.RevokeToken(acting(ctx, a), id)
}

// ActorOf turns a token's owner into an actor: their role, narrowed by
// the token's organisation and read-only scope. A user who lost their
// role since has no power left.
func (s *Service) ActorOf(ctx context.Context, login string, readOnly bool, org string) (Actor, error) {
	role, err := s.ids.GetAdminRole(ctx, login)
	if err != nil {
		return Actor{}, err
	}
	a := Actor{Name: identity.CanonicalLogin(login), Role: Role(role.Role), Org: role.Org, ReadOnly: readOnly}
	if org != "" && org != a.Org {
		if err := s.inScope(ctx, a, org); err != nil {
			return Actor{Name: a.Name}, nil // the token's narrowing no longer fits: nothing
		}
		if a.Role == RoleSuper {
			a.Role = RoleOrgAdmin // a super administrator's token narrowed to a subtree
		}
		a.Org = org
	}
	return a, nil
}
