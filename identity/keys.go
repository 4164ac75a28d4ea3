package identity

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"pier/db"
)

// Key is an SSH public key of a user. A key belongs to one user only, so
// that a key always names one identity.
type Key struct {
	ID          int64
	Login       string
	Fingerprint string // SHA256:…
	Type        string
	PublicKey   string // authorized_keys form, without comment
	Comment     string
	Created     time.Time
	Expires     time.Time // zero: never
	LastUsed    time.Time
}

// AddKey attaches a parsed public key to a user.
func (s *Store) AddKey(ctx context.Context, login string, k Key) (Key, error) {
	if k.Fingerprint == "" || k.PublicKey == "" {
		return k, fieldErr("key", "empty public key")
	}
	k.Login = CanonicalLogin(login)
	k.Created = s.now().UTC().Truncate(time.Second)
	err := s.write(ctx, &change{op: "key.add", subject: "user " + k.Login, after: k}, func(tx *db.Tx) error {
		uid, err := userID(ctx, tx, login)
		if err != nil {
			return err
		}
		var owner string
		err = tx.QueryRow(ctx, "SELECT u.login FROM user_keys k JOIN users u ON u.id = k.user_id WHERE k.fingerprint = ?", k.Fingerprint).Scan(&owner)
		if err == nil {
			return exists("key of user "+owner, k.Fingerprint)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO user_keys (user_id, fingerprint, key_type, public_key, comment, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, uid, k.Fingerprint, k.Type, k.PublicKey, k.Comment, k.Created.Unix(), unix(k.Expires)).Scan(&k.ID)
	})
	return k, err
}

const keyCols = "k.id, u.login, k.fingerprint, k.key_type, k.public_key, k.comment, k.created_at, k.expires_at, k.last_used"

func scanKey(sc interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var created, expires, used int64
	err := sc.Scan(&k.ID, &k.Login, &k.Fingerprint, &k.Type, &k.PublicKey, &k.Comment, &created, &expires, &used)
	k.Created, k.Expires, k.LastUsed = fromUnix(created), fromUnix(expires), fromUnix(used)
	return k, err
}

// ListKeys returns a user's keys, oldest first.
func (s *Store) ListKeys(ctx context.Context, login string) ([]Key, error) {
	if _, err := userID(ctx, s.db, login); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, "SELECT "+keyCols+" FROM user_keys k JOIN users u ON u.id = k.user_id WHERE u.login = ? ORDER BY k.id", CanonicalLogin(login))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RemoveKey detaches a key, named by fingerprint, from a user.
func (s *Store) RemoveKey(ctx context.Context, login, fingerprint string) error {
	return s.write(ctx, &change{op: "key.remove", subject: "user " + CanonicalLogin(login), before: fingerprint}, func(tx *db.Tx) error {
		uid, err := userID(ctx, tx, login)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, "DELETE FROM user_keys WHERE user_id = ? AND fingerprint = ?", uid, fingerprint)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("key of user "+CanonicalLogin(login), fingerprint)
		}
		return nil
	})
}

// KeyByFingerprint finds the key, and so the user, that an SSH client
// offers.
func (s *Store) KeyByFingerprint(ctx context.Context, fingerprint string) (Key, error) {
	if !storable(fingerprint) {
		return Key{}, notFound("key", fingerprint)
	}
	k, err := scanKey(s.db.QueryRow(ctx, "SELECT "+keyCols+" FROM user_keys k JOIN users u ON u.id = k.user_id WHERE k.fingerprint = ?", fingerprint))
	if errors.Is(err, sql.ErrNoRows) {
		return k, notFound("key", fingerprint)
	}
	return k, err
}

// TouchKey records that a key was just used to log in.
func (s *Store) TouchKey(ctx context.Context, fingerprint string, at time.Time) error {
	_, err := s.db.Exec(ctx, "UPDATE user_keys SET last_used = ? WHERE fingerprint = ?", at.Unix(), fingerprint)
	return err
}
