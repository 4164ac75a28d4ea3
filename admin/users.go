package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"pier/authz"
	"pier/credential"
	"pier/identity"
)

// UserInput describes a new user, as an administrator types it.
type UserInput struct {
	Login, Org, Role, Name, Email string
	// Password, if set, is the user's first password (checked against the
	// policy); GeneratePassword makes one, returned once.
	Password         string
	GeneratePassword bool
	// Keys is the text of an authorized_keys file.
	Keys      string
	Expires   string // last day the account works, 2027-01-31, or RFC 3339
	CIDRs     string // 10.0.0.0/8,192.0.2.7
	Protocols string // sftp,webdav
	Pending   bool
	// SSHCompat lets the user log in through the SFTP compatibility
	// listener (older algorithms); super administrators only.
	SSHCompat bool
}

// UserView is a user as the CLI and the API show it: never the hash.
type UserView struct {
	Login     string   `json:"login"`
	Name      string   `json:"name"`
	Email     string   `json:"email"`
	Org       string   `json:"org"`
	Role      string   `json:"role"`
	Status    string   `json:"status"`
	Password  string   `json:"password"` // "set" or "none"
	Expires   string   `json:"expires,omitempty"`
	CIDRs     []string `json:"cidrs"`
	Protocols []string `json:"protocols"`
	// SSHCompat: marked for the SFTP compatibility listener.
	SSHCompat bool `json:"ssh_compat"`
	// Unreadable names stored restrictions that do not parse ("network",
	// "protocol"): the account is refused until they are set anew.
	Unreadable []string `json:"unreadable,omitempty"`
	Created    string   `json:"created"`
	LastLogin  string   `json:"last_login,omitempty"`
	// StatusReason says why a job set the status ("inactive").
	StatusReason string `json:"status_reason,omitempty"`
	// LastActive is the last login, creation or activation, whichever is
	// latest: what the inactivity policy counts from.
	LastActive string `json:"last_active"`
	// Principals are the SSH certificate principals that name the user
	// besides the login.
	Principals []string `json:"principals,omitempty"`
	// ETag identifies this version of the user, for If-Match.
	ETag string `json:"etag"`
}

// UserDetail is what show adds: the keys, the effective groups and the
// administrator role.
type UserDetail struct {
	UserView
	Keys      int      `json:"keys"`
	Groups    []string `json:"groups"`
	AdminRole string   `json:"admin_role,omitempty"`
	AdminOrg  string   `json:"admin_org,omitempty"`
	// SSHCompatVia: the user may use the compatibility listener through a
	// mark on their organisation or one above it.
	SSHCompatVia bool `json:"ssh_compat_via_org"`
	// Source is who manages the account: "pier" (its administrators) or
	// "ldap" (the directory sync, from the entry SourceDN, which the
	// directory last said was SourceState: present, disabled or gone).
	Source      string `json:"source"`
	SourceDN    string `json:"source_dn,omitempty"`
	SourceState string `json:"source_state,omitempty"`
}

// TimeText prints a time as the views do (RFC 3339, UTC), "" for zero.
func TimeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func passwordState(u identity.User) string {
	if u.PasswordHash != "" {
		return "set"
	}
	return "none"
}

// etagOf is a strong entity tag of a user's stored state, password hash
// included (a password change changes it), never revealing it.
func etagOf(u identity.User) string {
	b, _ := json.Marshal(struct {
		V  UserView
		PW string
	}{viewOf(u, false), u.PasswordHash})
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func viewOf(u identity.User, withETag bool) UserView {
	v := UserView{Login: u.Login, Name: u.Name, Email: u.Email, Org: u.Org, Role: u.Role,
		Status: u.Status.String(), Password: passwordState(u), Created: TimeText(u.Created),
		CIDRs: []string{}, Protocols: []string{}, Unreadable: u.Unreadable, SSHCompat: u.SSHCompat,
		Expires: TimeText(u.Expires), LastLogin: TimeText(u.LastLogin),
		StatusReason: u.StatusReason, LastActive: TimeText(u.LastActive()), Principals: u.Principals}
	for _, c := range u.CIDRs {
		v.CIDRs = append(v.CIDRs, c.String())
	}
	for _, p := range u.Protocols {
		v.Protocols = append(v.Protocols, string(p))
	}
	if withETag {
		v.ETag = etagOf(u)
	}
	return v
}

// View presents a user.
func View(u identity.User) UserView { return viewOf(u, true) }

// ParseExpires reads the last day an account works, "2027-01-31" (it
// works until the end of that day, UTC), or an RFC 3339 time.
func ParseExpires(s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err == nil {
		t = t.AddDate(0, 0, 1)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		return t, &identity.FieldError{Field: "expires", Msg: fmt.Sprintf("%q is not a date (want 2027-01-31)", clip(s))}
	}
	if !t.After(now) {
		return t, &identity.FieldError{Field: "expires", Msg: s + " is in the past"}
	}
	return t.UTC(), nil
}

// user builds the account an input describes, checking every field.
func (in UserInput) user(now time.Time) (identity.User, error) {
	u := identity.User{Login: in.Login, Org: in.Org, Role: in.Role, Name: in.Name, Email: in.Email, Status: authz.StatusActive}
	if in.Pending {
		u.Status = authz.StatusPending
	}
	if in.Org == "" {
		return u, &identity.FieldError{Field: "org", Msg: "is required"}
	}
	if err := identity.CheckUser(u); err != nil {
		return u, err
	}
	var err error
	if u.CIDRs, err = identity.ParseCIDRs(in.CIDRs); err != nil {
		return u, err
	}
	if u.Protocols, err = identity.ParseProtocols(in.Protocols); err != nil {
		return u, err
	}
	if in.Expires != "" {
		if u.Expires, err = ParseExpires(in.Expires, now); err != nil {
			return u, err
		}
	}
	return u, nil
}

// AddUser creates a user with their keys and password: all of it or, if
// any part is refused, nothing. It returns the user and the generated
// password, if one was asked for, which is never shown again.
func (s *Service) AddUser(ctx context.Context, a Actor, in UserInput) (UserView, string, error) {
	if err := canWrite(a, "add users"); err != nil {
		return UserView{}, "", err
	}
	u, err := in.user(s.now())
	if err != nil {
		return UserView{}, "", err
	}
	if in.SSHCompat && a.Role != RoleSuper {
		return UserView{}, "", forbidden(a, "let users use the SSH compatibility listener")
	}
	u.SSHCompat = in.SSHCompat
	if err := s.inScope(ctx, a, u.Org); err != nil {
		return UserView{}, "", err
	}
	var keys []identity.Key
	if in.Keys != "" {
		if keys, err = ParseKeys(in.Keys); err != nil {
			return UserView{}, "", err
		}
	}
	if in.Password != "" && in.GeneratePassword {
		return UserView{}, "", &identity.FieldError{Field: "password", Msg: "give a password or ask for one to be generated, not both"}
	}
	pw, generated, err := s.newPassword(in.Password, in.GeneratePassword, u)
	if err != nil {
		return UserView{}, "", err
	}
	if pw != "" {
		if u.PasswordHash, err = s.hasher.Hash(ctx, pw); err != nil {
			return UserView{}, "", err
		}
	}
	ctx = acting(ctx, a)
	if err := s.keysFree(ctx, u.Login, keys); err != nil {
		return UserView{}, "", err
	}
	if u, err = s.ids.AddUser(ctx, u); err != nil {
		return UserView{}, "", err
	}
	if err := s.addKeys(ctx, u.Login, keys); err != nil {
		if derr := s.ids.DeleteUser(context.WithoutCancel(ctx), u.Login); derr != nil {
			return UserView{}, "", fmt.Errorf("user %s: %w (and the half-made user could not be removed: %v)", u.Login, err, derr)
		}
		return UserView{}, "", fmt.Errorf("user %s: %w", u.Login, err)
	}
	if !generated {
		pw = ""
	}
	return View(u), pw, nil
}

// newPassword checks a given password against the policy, or generates
// one. It reports whether it generated it.
func (s *Service) newPassword(given string, generate bool, u identity.User) (string, bool, error) {
	if generate {
		pw, err := credential.Generate()
		return pw, true, err
	}
	if given == "" {
		return "", false, nil
	}
	if err := (credential.Policy{}).Check(given, u.Login, u.Name, u.Email); err != nil {
		return "", false, &identity.FieldError{Field: "password", Msg: err.Error()}
	}
	return given, false, nil
}

// changeUser finds a user the actor may change: the actor may change
// things (what says what, for the refusal) and the user is in their scope.
func (s *Service) changeUser(ctx context.Context, a Actor, what, login string) (identity.User, error) {
	if err := canWrite(a, what); err != nil {
		return identity.User{}, err
	}
	return s.userInScope(ctx, a, login)
}

// userInScope loads a user the actor may see.
func (s *Service) userInScope(ctx context.Context, a Actor, login string) (identity.User, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return identity.User{}, err
	}
	u, err := s.ids.GetUser(ctx, login)
	if err != nil {
		return u, err
	}
	if !sc.has(u.Org) {
		return identity.User{}, fmt.Errorf("user %q: %w", login, ErrNotFound)
	}
	return u, nil
}

// GetUser returns a user with their key count, effective groups and role.
func (s *Service) GetUser(ctx context.Context, a Actor, login string) (UserDetail, error) {
	u, err := s.userInScope(ctx, a, login)
	if err != nil {
		return UserDetail{}, err
	}
	keys, err := s.ids.ListKeys(ctx, u.Login)
	if err != nil {
		return UserDetail{}, err
	}
	f, _, err := s.ids.Facts(ctx, u.Login)
	if err != nil {
		return UserDetail{}, err
	}
	role, err := s.ids.GetAdminRole(ctx, u.Login)
	if err != nil {
		return UserDetail{}, err
	}
	d := UserDetail{UserView: View(u), Keys: len(keys), Groups: append([]string{}, f.Groups...), AdminRole: role.Role, AdminOrg: role.Org,
		SSHCompatVia: f.SSHCompat && !u.SSHCompat, Source: "pier"}
	if u.Source != "" {
		d.Source, d.SourceDN, d.SourceState = u.Source, u.SourceDN, string(u.SourceState)
	}
	return d, nil
}

// ListUsers returns the users of an organisation ("" for all) the actor
// may see, by login.
func (s *Service) ListUsers(ctx context.Context, a Actor, org string) ([]UserView, error) {
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return nil, err
	}
	if org != "" {
		if _, err := s.ids.GetOrg(ctx, org); err != nil || !sc.has(org) {
			return nil, &identity.FieldError{Field: "org", Msg: fmt.Sprintf("organisation %q: %v", org, ErrNotFound)}
		}
	}
	users, err := s.ids.ListUsers(ctx, org)
	if err != nil {
		return nil, err
	}
	out := []UserView{}
	for _, u := range users {
		if sc.has(u.Org) {
			out = append(out, View(u))
		}
	}
	return out, nil
}

// UserPatch changes some of a user's fields; nil fields stay as they are.
type UserPatch struct {
	Name, Email, Role, Org *string
	Expires                *string // "" or "never": no expiry
	CIDRs, Protocols       *string
	// SSHCompat marks the user for the SFTP compatibility listener, or
	// clears the mark; super administrators only (it allows older
	// algorithms).
	SSHCompat *bool
}

// UpdateUser changes a user's fields. With ifMatch set, it changes them
// only if the user is still the version that ETag names (ErrChanged).
func (s *Service) UpdateUser(ctx context.Context, a Actor, login string, p UserPatch, ifMatch string) (UserView, error) {
	if err := canWrite(a, "change users"); err != nil {
		return UserView{}, err
	}
	if p.SSHCompat != nil && a.Role != RoleSuper {
		return UserView{}, forbidden(a, "let users use the SSH compatibility listener")
	}
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return UserView{}, err
	}
	now := s.now()
	u, err := s.ids.UpdateUser(acting(ctx, a), login, func(u *identity.User) error {
		if !sc.has(u.Org) {
			return fmt.Errorf("user %q: %w", login, ErrNotFound)
		}
		if ifMatch != "" && ifMatch != "*" && ifMatch != etagOf(*u) {
			return ErrChanged
		}
		return p.apply(u, sc, now)
	})
	if err != nil {
		return UserView{}, err
	}
	return View(u), nil
}

func (p UserPatch) apply(u *identity.User, sc scope, now time.Time) error {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&u.Name, p.Name)
	set(&u.Email, p.Email)
	if p.SSHCompat != nil {
		u.SSHCompat = *p.SSHCompat
	}
	set(&u.Role, p.Role)
	if p.Org != nil {
		if !sc.has(*p.Org) {
			return &identity.FieldError{Field: "org", Msg: fmt.Sprintf("organisation %q: %v", *p.Org, ErrNotFound)}
		}
		u.Org = *p.Org
	}
	var err error
	if p.Expires != nil {
		switch *p.Expires {
		case "", "never":
			u.Expires = time.Time{}
		default:
			if u.Expires, err = ParseExpires(*p.Expires, now); err != nil {
				return err
			}
		}
	}
	if p.CIDRs != nil {
		if u.CIDRs, err = identity.ParseCIDRs(*p.CIDRs); err != nil {
			return err
		}
		u.Unreadable = without(u.Unreadable, identity.RestrictNetwork)
	}
	if p.Protocols != nil {
		if u.Protocols, err = identity.ParseProtocols(*p.Protocols); err != nil {
			return err
		}
		u.Unreadable = without(u.Unreadable, identity.RestrictProtocol)
	}
	return nil
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// SetStatus applies "suspend", "activate" (expires: a new last day or
// "never", for an account past its expiry) or "approve".
func (s *Service) SetStatus(ctx context.Context, a Actor, login, verb, expires string) (UserView, error) {
	if err := canWrite(a, verb+" users"); err != nil {
		return UserView{}, err
	}
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return UserView{}, err
	}
	now := s.now()
	u, err := s.ids.UpdateUser(acting(ctx, a), login, func(u *identity.User) error {
		if !sc.has(u.Org) {
			return fmt.Errorf("user %q: %w", login, ErrNotFound)
		}
		return transition(u, verb, expires, now)
	})
	if err != nil {
		return UserView{}, err
	}
	return View(u), nil
}

// transition applies suspend, activate or approve to u, refusing a change
// that does not fit its status.
func transition(u *identity.User, verb, expires string, now time.Time) error {
	from := u.Status
	bad := func(want string) error {
		return &identity.FieldError{Field: "status", Msg: fmt.Sprintf("%s is %s; %s takes %s", u.Login, from, verb, want)}
	}
	switch verb {
	case "suspend":
		if from == authz.StatusSuspended {
			return bad("active, pending or expired accounts")
		}
		u.Status = authz.StatusSuspended
	case "approve":
		if from != authz.StatusPending {
			return bad("pending accounts")
		}
		u.Status = authz.StatusActive
	case "activate":
		if from != authz.StatusSuspended && from != authz.StatusExpired {
			return bad("suspended or expired accounts (a pending one needs approve)")
		}
		return activate(u, expires, now)
	default:
		return &identity.FieldError{Field: "status", Msg: fmt.Sprintf("%q: want suspend, activate or approve", clip(verb))}
	}
	return nil
}

// activate reopens an account; one past its expiry needs a new expiry.
func activate(u *identity.User, expires string, now time.Time) error {
	switch expires {
	case "":
		if !u.Expires.IsZero() && !now.Before(u.Expires) {
			return &identity.FieldError{Field: "expires", Msg: fmt.Sprintf("%s expired at %s: give a new expiry date or never", u.Login, TimeText(u.Expires))}
		}
	case "never":
		u.Expires = time.Time{}
	default:
		t, err := ParseExpires(expires, now)
		if err != nil {
			return err
		}
		u.Expires = t
	}
	u.Status = authz.StatusActive
	return nil
}

// DeleteUser removes a user with their keys, memberships and grants.
func (s *Service) DeleteUser(ctx context.Context, a Actor, login string) error {
	if _, err := s.changeUser(ctx, a, "delete users", login); err != nil {
		return err
	}
	return s.ids.DeleteUser(acting(ctx, a), login)
}

// SetPassword gives a user a new password, or a generated one, which it
// returns (never to be shown again).
func (s *Service) SetPassword(ctx context.Context, a Actor, login, password string, generate bool) (string, error) {
	u, err := s.changeUser(ctx, a, "set passwords", login)
	if err != nil {
		return "", err
	}
	if password == "" && !generate {
		return "", &identity.FieldError{Field: "password", Msg: "give a password or ask for one to be generated"}
	}
	pw, generated, err := s.newPassword(password, generate, u)
	if err != nil {
		return "", err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return "", err
	}
	if _, err := s.ids.UpdateUser(acting(ctx, a), u.Login, func(u *identity.User) error { u.PasswordHash = hash; return nil }); err != nil {
		return "", err
	}
	if !generated {
		return "", nil
	}
	return pw, nil
}

// SetAdminRole makes a user an administrator (RoleNone: no longer one).
// Only a super administrator may; the organisation scopes an
// organisation administrator or an auditor (default: the user's own).
func (s *Service) SetAdminRole(ctx context.Context, a Actor, login string, role Role, org string) error {
	if err := superOnly(a, "appoint administrators"); err != nil {
		return err
	}
	u, err := s.ids.GetUser(ctx, login)
	if err != nil {
		return err
	}
	switch {
	case role == RoleOrgAdmin && org == "":
		org = u.Org
	case role == RoleSuper, role == RoleNone:
		org = ""
	}
	return s.ids.SetAdminRole(acting(ctx, a), login, identity.AdminRole{Role: string(role), Org: org})
}
