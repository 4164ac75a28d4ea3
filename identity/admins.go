package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"pier/db"
)

// AdminRole is a user's administrator role and the organisation subtree
// it covers ("" for the whole tree). The package admin gives the roles
// their meaning; identity only keeps them.
type AdminRole struct {
	Role string
	Org  string
}

// GetAdminRole returns a user's administrator role; the zero AdminRole
// when they have none.
func (s *Store) GetAdminRole(ctx context.Context, login string) (AdminRole, error) {
	if !storable(login) {
		return AdminRole{}, notFound("user", login)
	}
	var r AdminRole
	err := s.db.QueryRow(ctx, `SELECT a.role, a.org FROM admin_roles a JOIN users u ON u.id = a.user_id WHERE u.login = ?`,
		CanonicalLogin(login)).Scan(&r.Role, &r.Org)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := userID(ctx, s.db, login); err != nil {
			return r, err
		}
		return AdminRole{}, nil
	}
	return r, err
}

// SetAdminRole gives a user an administrator role (Role "" takes it away).
func (s *Store) SetAdminRole(ctx context.Context, login string, r AdminRole) error {
	c := &change{op: "user.admin-role", subject: "user " + CanonicalLogin(login), after: r}
	return s.write(ctx, c, func(tx *db.Tx) error {
		uid, err := userID(ctx, tx, login)
		if err != nil {
			return err
		}
		var old AdminRole
		if tx.QueryRow(ctx, "SELECT role, org FROM admin_roles WHERE user_id = ?", uid).Scan(&old.Role, &old.Org) == nil {
			c.before = old
		}
		if _, err := tx.Exec(ctx, "DELETE FROM admin_roles WHERE user_id = ?", uid); err != nil {
			return err
		}
		if r.Role == "" {
			return nil
		}
		if r.Org != "" {
			if _, err := orgID(ctx, tx, r.Org); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "INSERT INTO admin_roles (user_id, role, org) VALUES (?, ?, ?)", uid, r.Role, r.Org)
		return err
	})
}

// Token is an API token: a random secret, shown once, stored hashed.
type Token struct {
	ID       int64
	Login    string // the user the token acts for
	Name     string
	ReadOnly bool
	Org      string // narrows the owner's scope to this subtree ("": the owner's)
	Expires  time.Time
	LastUsed time.Time
	Created  time.Time
	Revoked  time.Time
}

// tokenPrefix marks pier's API tokens, so scanners and humans know them.
const tokenPrefix = "pier_"

// hashSecret hashes a token's or session's secret. The secrets are 160
// random bits, so a fast hash is as good as a slow one and costs nothing
// per request.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func newSecret() string {
	var b [20]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// AddToken makes a token for a user and returns it with its text,
// "pier_ID_SECRET", which is never shown again.
func (s *Store) AddToken(ctx context.Context, t Token) (Token, string, error) {
	if t.Name == "" || len(t.Name) > 64 || strings.ContainsAny(t.Name, "\x00\r\n\t") {
		return t, "", fieldErr("name", "a token needs a name of 1 to 64 characters")
	}
	secret := newSecret()
	t.Created = s.now().UTC().Truncate(time.Second)
	err := s.write(ctx, &change{op: "token.add", subject: "user " + CanonicalLogin(t.Login), after: map[string]any{"name": t.Name, "read_only": t.ReadOnly, "org": t.Org}},
		func(tx *db.Tx) error {
			uid, err := userID(ctx, tx, t.Login)
			if err != nil {
				return err
			}
			if t.Org != "" {
				if _, err := orgID(ctx, tx, t.Org); err != nil {
					return err
				}
			}
			err = tx.QueryRow(ctx, `INSERT INTO api_tokens (user_id, name, secret_hash, read_only, org, expires_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, uid, t.Name, hashSecret(secret), boolInt(t.ReadOnly), t.Org,
				unix(t.Expires), t.Created.Unix()).Scan(&t.ID)
			if db.IsUnique(err) {
				return exists("token of user "+CanonicalLogin(t.Login), t.Name)
			}
			return err
		})
	if err != nil {
		return t, "", err
	}
	t.Login = CanonicalLogin(t.Login)
	return t, tokenPrefix + strconv.FormatInt(t.ID, 10) + "_" + secret, nil
}

// ErrBadToken says a presented token is unknown, malformed, revoked or
// expired; the caller answers 401 without saying which.
var ErrBadToken = errors.New("invalid token")

const tokenCols = "t.id, u.login, t.name, t.read_only, t.org, t.expires_at, t.last_used, t.created_at, t.revoked_at"

func scanToken(sc interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var ro int
	var exp, used, created, revoked int64
	err := sc.Scan(&t.ID, &t.Login, &t.Name, &ro, &t.Org, &exp, &used, &created, &revoked)
	t.ReadOnly = ro == 1
	t.Expires, t.LastUsed, t.Created, t.Revoked = fromUnix(exp), fromUnix(used), fromUnix(created), fromUnix(revoked)
	return t, err
}

// CheckToken returns the token a presented text names, if it is valid now,
// and records its use.
func (s *Store) CheckToken(ctx context.Context, text string) (Token, error) {
	rest, ok := strings.CutPrefix(text, tokenPrefix)
	idText, secret, ok2 := strings.Cut(rest, "_")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || !ok2 || err != nil || id <= 0 || len(secret) != 32 {
		return Token{}, ErrBadToken
	}
	var hash string
	t, err := scanToken(hashScanner{s.db.QueryRow(ctx, "SELECT "+tokenCols+", t.secret_hash FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?", id), &hash})
	if errors.Is(err, sql.ErrNoRows) {
		hashSecret(secret) // the same work as a real check
		return Token{}, ErrBadToken
	} else if err != nil {
		return Token{}, err
	}
	now := s.now()
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(hash)) != 1 ||
		!t.Revoked.IsZero() || !t.Expires.IsZero() && !now.Before(t.Expires) {
		return Token{}, ErrBadToken
	}
	if now.Sub(t.LastUsed) > time.Minute { // one write a minute, not one a request
		s.db.Exec(ctx, "UPDATE api_tokens SET last_used = ? WHERE id = ?", now.Unix(), id)
	}
	return t, nil
}

// hashScanner scans a token row followed by its secret's hash.
type hashScanner struct {
	row  *sql.Row
	hash *string
}

func (h hashScanner) Scan(dest ...any) error { return h.row.Scan(append(dest, h.hash)...) }

// ListTokens returns a user's tokens (login ""), or everyone's.
func (s *Store) ListTokens(ctx context.Context, login string) ([]Token, error) {
	q, args := "SELECT "+tokenCols+" FROM api_tokens t JOIN users u ON u.id = t.user_id", []any{}
	if login != "" {
		q += " WHERE u.login = ?"
		args = append(args, CanonicalLogin(login))
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY t.id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// GetToken returns one token by ID.
func (s *Store) GetToken(ctx context.Context, id int64) (Token, error) {
	t, err := scanToken(s.db.QueryRow(ctx, "SELECT "+tokenCols+" FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("token", strconv.FormatInt(id, 10))
	}
	return t, err
}

// RevokeToken revokes a token for good.
func (s *Store) RevokeToken(ctx context.Context, id int64) error {
	return s.write(ctx, &change{op: "token.revoke", subject: "token " + strconv.FormatInt(id, 10)}, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0", s.now().Unix(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("token", strconv.FormatInt(id, 10))
		}
		return nil
	})
}

// WebSession is a browser session of the web console.
type WebSession struct {
	Login   string
	CSRF    string // the token unsafe requests must repeat in a header
	Expires time.Time
}

// AddWebSession starts a browser session for a user who just logged in and
// returns its secret (the cookie's value), which is stored hashed.
func (s *Store) AddWebSession(ctx context.Context, login string, lifetime time.Duration) (string, WebSession, error) {
	secret, csrf := newSecret(), newSecret()
	now := s.now()
	ws := WebSession{Login: CanonicalLogin(login), CSRF: csrf, Expires: now.Add(lifetime)}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		uid, err := userID(ctx, tx, login)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM web_sessions WHERE expires_at <= ?", now.Unix()); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO web_sessions (id_hash, user_id, csrf, expires_at, created_at) VALUES (?, ?, ?, ?, ?)",
			hashSecret(secret), uid, csrf, ws.Expires.Unix(), now.Unix())
		return err
	})
	return secret, ws, err
}

// CheckWebSession returns the live session a cookie's secret names.
func (s *Store) CheckWebSession(ctx context.Context, secret string) (WebSession, error) {
	if len(secret) != 32 {
		return WebSession{}, ErrBadToken
	}
	var ws WebSession
	var exp int64
	err := s.db.QueryRow(ctx, `SELECT u.login, w.csrf, w.expires_at FROM web_sessions w JOIN users u ON u.id = w.user_id
		WHERE w.id_hash = ? AND w.expires_at > ?`, hashSecret(secret), s.now().Unix()).Scan(&ws.Login, &ws.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return ws, ErrBadToken
	}
	ws.Expires = fromUnix(exp)
	return ws, err
}

// EndWebSession ends a browser session (logout).
func (s *Store) EndWebSession(ctx context.Context, secret string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM web_sessions WHERE id_hash = ?", hashSecret(secret))
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
