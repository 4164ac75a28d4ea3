package identity

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"strings"
	"time"

	"pier/authz"
	"pier/db"
)

// User is an account. PasswordHash is an encoded argon2id hash, never a
// password; it is empty for key-only accounts.
type User struct {
	ID           int64
	Login        string
	Name         string
	Email        string
	Org          string // slug
	Role         string // job role within Org
	Status       authz.Status
	PasswordHash string
	Expires      time.Time        // zero: never
	LastLogin    time.Time        // zero: never logged in
	CIDRs        []netip.Prefix   // empty: any
	Protocols    []authz.Protocol // empty: all
	// SSHCompat lets the user log in through the SFTP compatibility
	// listener (older algorithms, for old integration platforms); so does
	// a mark on their organisation or one above it.
	SSHCompat bool
	Created   time.Time
	// StatusSince is when Status last changed (zero: before pier kept
	// it); StatusReason says why, when a job changed it ("inactive").
	StatusSince  time.Time
	StatusReason string
	// Principals are the SSH certificate principals, besides the login
	// itself, that name this user.
	Principals []string
	// Source says who manages the account: "" pier's administrators,
	// SourceLDAP the directory sync (see SetSource). SourceDN is its
	// directory entry, SourceState what the directory last said of it.
	Source, SourceDN string
	SourceState      SourceState
	// Unreadable names the stored restrictions that did not parse when the
	// user was loaded: "network" (CIDRs) and "protocol" (Protocols). The
	// field is then empty but must not be taken for "any": the account may
	// do nothing (authz.Facts.Unreadable) until an administrator sets the
	// restriction anew. UpdateUser writes the stored text back unchanged
	// unless the change sets the field.
	Unreadable []string

	storedCIDRs, storedProtocols string // the text found unreadable, kept for UpdateUser
}

// Restriction names in User.Unreadable and authz.Facts.Unreadable.
const (
	RestrictNetwork  = "network"
	RestrictProtocol = "protocol"
)

// auditedUser is a user as the audit trail shows them: never a password
// hash, only whether one is set and whether a change replaced it.
type auditedUser struct {
	Login           string   `json:"login"`
	Name            string   `json:"name,omitempty"`
	Email           string   `json:"email,omitempty"`
	Org             string   `json:"org"`
	Role            string   `json:"role,omitempty"`
	Status          string   `json:"status"`
	Password        bool     `json:"password"`
	PasswordChanged bool     `json:"password_changed,omitempty"`
	Expires         string   `json:"expires,omitempty"`
	CIDRs           []string `json:"cidrs,omitempty"`
	Protocols       []string `json:"protocols,omitempty"`
	SSHCompat       bool     `json:"ssh_compat,omitempty"`
	Source          string   `json:"source,omitempty"`
}

func (u User) audited() auditedUser {
	a := auditedUser{Login: u.Login, Name: u.Name, Email: u.Email, Org: u.Org, Role: u.Role, Status: u.Status.String(),
		Password: u.PasswordHash != "", SSHCompat: u.SSHCompat, Source: u.Source}
	if !u.Expires.IsZero() {
		a.Expires = u.Expires.UTC().Format(time.RFC3339)
	}
	for _, p := range u.CIDRs {
		a.CIDRs = append(a.CIDRs, p.String())
	}
	for _, p := range u.Protocols {
		a.Protocols = append(a.Protocols, string(p))
	}
	return a
}

// ParseCIDRs reads a comma-separated list of networks ("10.0.0.0/8,
// 2001:db8::/32"); a bare address means that one host.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fieldErr("cidr", "%q is not a network or address", clip(part))
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fieldErr("cidr", "%q is not a network (want e.g. 192.0.2.0/24)", clip(part))
		}
		if p != p.Masked() {
			return nil, fieldErr("cidr", "%q has host bits set: did you mean %s?", part, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseProtocols reads "sftp,webdav".
func ParseProtocols(s string) ([]authz.Protocol, error) {
	var out []authz.Protocol
	for part := range strings.SplitSeq(s, ",") {
		switch p := authz.Protocol(strings.ToLower(strings.TrimSpace(part))); p {
		case "":
		case authz.SFTP, authz.WebDAV:
			out = append(out, p)
		default:
			return nil, fieldErr("protocols", "%q: want sftp and/or webdav", clip(part))
		}
	}
	return out, nil
}

func (u *User) validate() error {
	if err := checkLogin(u.Login); err != nil {
		return err
	}
	if err := checkSlug("org", u.Org); err != nil {
		return err
	}
	if err := checkRole(u.Role); err != nil {
		return err
	}
	if u.Email != "" {
		at := strings.LastIndexByte(u.Email, '@')
		if at < 1 || at == len(u.Email)-1 || len(u.Email) > 254 || strings.ContainsAny(u.Email, " \t\r\n<>,;\"") {
			return fieldErr("email", "%q is not an e-mail address", clip(u.Email))
		}
	}
	if len(u.Name) > 200 || strings.ContainsAny(u.Name, "\x00\r\n") {
		return fieldErr("name", "too long or contains line breaks")
	}
	for _, p := range u.Principals {
		if p == "" || len(p) > 255 || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == ',' || r == 0x7f }) {
			return fieldErr("principals", "%q is not a certificate principal: 1 to 255 characters, no spaces, commas or controls", clip(p))
		}
	}
	if u.Status < authz.StatusPending || u.Status > authz.StatusExpired {
		return fieldErr("status", "unknown status")
	}
	return nil
}

func joinCIDRs(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func joinProtocols(ps []authz.Protocol) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

// AddUser creates an account in an existing organisation. Logins are
// stored in canonical (lower-case) form and unique ignoring case.
func (s *Store) AddUser(ctx context.Context, u User) (User, error) {
	u.Login = CanonicalLogin(u.Login)
	if u.Status == authz.StatusUnknown {
		u.Status = authz.StatusActive
	}
	if err := u.validate(); err != nil {
		return u, err
	}
	now := s.now()
	u.Created = now.UTC().Truncate(time.Second)
	err := s.write(ctx, &change{op: "user.add", subject: "user " + u.Login, after: u.audited()}, func(tx *db.Tx) error {
		oid, err := orgID(ctx, tx, u.Org)
		if err != nil {
			return err
		}
		if _, err := userID(ctx, tx, u.Login); err == nil {
			return exists("user", u.Login)
		}
		u.StatusSince = u.Created
		return tx.QueryRow(ctx, `INSERT INTO users (login, name, email, org_id, role, status, password_hash,
			expires_at, cidrs, protocols, ssh_compat, created_at, updated_at, status_since, status_reason, principals)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.Login, u.Name, u.Email, oid, u.Role, u.Status.String(), u.PasswordHash, unix(u.Expires),
			joinCIDRs(u.CIDRs), joinProtocols(u.Protocols), flag(u.SSHCompat), now.Unix(), now.Unix(), now.Unix(), u.StatusReason,
			strings.Join(u.Principals, ",")).Scan(&u.ID)
	})
	return u, err
}

func userID(ctx context.Context, q queryRower, login string) (int64, error) {
	if !storable(login) {
		return 0, notFound("user", login)
	}
	var id int64
	err := q.QueryRow(ctx, "SELECT id FROM users WHERE login = ?", CanonicalLogin(login)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("user", login)
	}
	return id, err
}

const userCols = `u.id, u.login, u.name, u.email, o.slug, u.role, u.status, u.password_hash,
	u.expires_at, u.last_login, u.cidrs, u.protocols, u.ssh_compat, u.created_at, u.source, u.source_dn, u.source_state,
	u.status_since, u.status_reason, u.principals`

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	var status, cidrs, protos, state string
	var expires, last, compat, created, since int64
	var principals string
	if err := sc.Scan(&u.ID, &u.Login, &u.Name, &u.Email, &u.Org, &u.Role, &status, &u.PasswordHash,
		&expires, &last, &cidrs, &protos, &compat, &created, &u.Source, &u.SourceDN, &state,
		&since, &u.StatusReason, &principals); err != nil {
		return u, err
	}
	u.SSHCompat = compat != 0
	u.Status, _ = authz.ParseStatus(status)
	u.SourceState = SourceState(state)
	u.Expires, u.LastLogin, u.Created, u.StatusSince = fromUnix(expires), fromUnix(last), fromUnix(created), fromUnix(since)
	u.Principals = splitList(principals, ",")
	// A restriction that does not parse must not turn into "any": the user
	// is marked, and authz and auth refuse the account while it is.
	var err error
	if u.CIDRs, err = ParseCIDRs(cidrs); err != nil {
		u.CIDRs, u.storedCIDRs = nil, cidrs
		u.Unreadable = append(u.Unreadable, RestrictNetwork)
	}
	if u.Protocols, err = ParseProtocols(protos); err != nil {
		u.Protocols, u.storedProtocols = nil, protos
		u.Unreadable = append(u.Unreadable, RestrictProtocol)
	}
	return u, nil
}

// storedRestrictions returns the text to store for the user's networks and
// protocols: an unreadable stored value stays as it was (a change that
// does not concern it must not widen it into "any") unless the field was
// set since. It also drops the restrictions so set from Unreadable.
func (u *User) storedRestrictions() (cidrs, protocols string) {
	cidrs, protocols = joinCIDRs(u.CIDRs), joinProtocols(u.Protocols)
	var keep []string
	for _, r := range u.Unreadable {
		switch {
		case r == RestrictNetwork && len(u.CIDRs) == 0 && u.storedCIDRs != "":
			cidrs = u.storedCIDRs
		case r == RestrictProtocol && len(u.Protocols) == 0 && u.storedProtocols != "":
			protocols = u.storedProtocols
		default:
			continue
		}
		keep = append(keep, r)
	}
	u.Unreadable = keep
	return cidrs, protocols
}

// GetUser returns one user by login, in any case.
func (s *Store) GetUser(ctx context.Context, login string) (User, error) {
	if !storable(login) {
		return User{}, notFound("user", login)
	}
	u, err := scanUser(s.db.QueryRow(ctx, "SELECT "+userCols+" FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.login = ?", CanonicalLogin(login)))
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound("user", login)
	}
	return u, err
}

// ListUsers returns the users of an organisation, or all with org "",
// ordered by login.
func (s *Store) ListUsers(ctx context.Context, org string) ([]User, error) {
	q := "SELECT " + userCols + " FROM users u JOIN orgs o ON o.id = u.org_id"
	var args []any
	if org != "" {
		q += " WHERE o.slug = ?"
		args = append(args, org)
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY u.login", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser loads a user, applies apply and stores the result after
// validating it, in one transaction. The login cannot change.
func (s *Store) UpdateUser(ctx context.Context, login string, apply func(*User) error) (User, error) {
	var u User
	c := &change{op: "user.update", subject: "user " + CanonicalLogin(login)}
	err := s.write(ctx, c, func(tx *db.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, "SELECT "+userCols+" FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.login = ?", CanonicalLogin(login)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", login)
		} else if err != nil {
			return err
		}
		id, canon, oldHash, was, wasReason := u.ID, u.Login, u.PasswordHash, u.Status, u.StatusReason
		c.before = u.audited()
		if err := apply(&u); err != nil {
			return err
		}
		u.ID, u.Login = id, canon
		if u.Status != was {
			u.StatusSince = s.now().UTC().Truncate(time.Second)
			if u.StatusReason == wasReason {
				u.StatusReason = "" // a reason belongs to the status it was given with
			}
		}
		after := u.audited()
		after.PasswordChanged = u.PasswordHash != oldHash
		c.after = after
		if err := u.validate(); err != nil {
			return err
		}
		oid, err := orgID(ctx, tx, u.Org)
		if err != nil {
			return err
		}
		cidrs, protocols := u.storedRestrictions()
		_, err = tx.Exec(ctx, `UPDATE users SET name = ?, email = ?, org_id = ?, role = ?, status = ?, password_hash = ?,
			expires_at = ?, cidrs = ?, protocols = ?, ssh_compat = ?, updated_at = ?, status_since = ?, status_reason = ?, principals = ? WHERE id = ?`,
			u.Name, u.Email, oid, u.Role, u.Status.String(), u.PasswordHash, unix(u.Expires),
			cidrs, protocols, flag(u.SSHCompat), s.now().Unix(), unix(u.StatusSince), u.StatusReason, strings.Join(u.Principals, ","), u.ID)
		return err
	})
	return u, err
}

// flag stores a bool in an INTEGER column.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SetStatus changes a user's status (approve, suspend, activate).
func (s *Store) SetStatus(ctx context.Context, login string, st authz.Status) (User, error) {
	return s.UpdateUser(ctx, login, func(u *User) error { u.Status = st; return nil })
}

// DeleteUser removes a user with their keys, memberships and grants.
func (s *Store) DeleteUser(ctx context.Context, login string) error {
	return s.DeleteUserIf(ctx, login, nil)
}

// DeleteUserIf deletes a user if check, given the user as it is inside
// the deleting transaction, returns nil; its error is returned and
// nothing is deleted otherwise. A job that chose whom to delete from an
// earlier read deletes no account that changed since.
func (s *Store) DeleteUserIf(ctx context.Context, login string, check func(User) error) error {
	return s.write(ctx, &change{op: "user.delete", subject: "user " + CanonicalLogin(login)}, func(tx *db.Tx) error {
		if check == nil {
			id, err := userID(ctx, tx, login)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "DELETE FROM users WHERE id = ?", id)
			return err
		}
		u, err := scanUser(tx.QueryRow(ctx, "SELECT "+userCols+" FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.login = ?", CanonicalLogin(login)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", login)
		} else if err != nil {
			return err
		}
		if err := check(u); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM users WHERE id = ?", u.ID)
		return err
	})
}

// RecordLogin notes a successful login. It does not bump the generation:
// it changes no right.
func (s *Store) RecordLogin(ctx context.Context, login string, at time.Time) error {
	_, err := s.db.Exec(ctx, "UPDATE users SET last_login = ? WHERE login = ?", at.Unix(), CanonicalLogin(login))
	return err
}

// LastActive is when the account last showed life: its last login, or
// when it was created or last became active, whichever is latest. An
// account never used counts from its creation.
func (u User) LastActive() time.Time {
	t := u.Created
	for _, c := range []time.Time{u.LastLogin, u.StatusSince} {
		if c.After(t) {
			t = c
		}
	}
	return t
}

// ReasonInactive is the StatusReason of accounts the lifecycle job
// suspended for inactivity; only those it deletes later.
const ReasonInactive = "inactive"
