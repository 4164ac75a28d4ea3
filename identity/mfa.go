package identity

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"strconv"
	"time"

	"pier/db"
)

// TOTP is a user's enrolled time-based one-time password: the secret,
// sealed by package mfa (the store never sees it in clear), and the last
// time step a code was accepted for, so that no code is accepted twice.
type TOTP struct {
	UserID   int64
	Sealed   string
	LastStep int64
	Created  time.Time
}

// SetTOTP enrols a user: it stores the sealed secret and the hashes of
// new recovery codes, replacing any earlier enrolment and its codes.
func (s *Store) SetTOTP(ctx context.Context, login, sealed string, recoveryHashes []string) error {
	// The record says that, never what: no secret, no code hash.
	c := &change{op: "mfa.enrol", subject: "user " + CanonicalLogin(login), after: map[string]int{"recovery_codes": len(recoveryHashes)}}
	return s.write(ctx, c, func(tx *db.Tx) error {
		uid, err := userID(ctx, tx, login)
		if err != nil {
			return err
		}
		for _, q := range []string{"DELETE FROM user_totp WHERE user_id = ?", "DELETE FROM recovery_codes WHERE user_id = ?"} {
			if _, err := tx.Exec(ctx, q, uid); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO user_totp (user_id, sealed, last_step, created_at) VALUES (?, ?, 0, ?)", uid, sealed, s.now().Unix()); err != nil {
			return err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.Exec(ctx, "INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)", uid, h); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveTOTP removes a user's enrolment and recovery codes.
func (s *Store) RemoveTOTP(ctx context.Context, login string) error {
	return s.write(ctx, &change{op: "mfa.remove", subject: "user " + CanonicalLogin(login)}, func(tx *db.Tx) error {
		uid, err := userID(ctx, tx, login)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, "DELETE FROM user_totp WHERE user_id = ?", uid)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("MFA enrolment of user", CanonicalLogin(login))
		}
		_, err = tx.Exec(ctx, "DELETE FROM recovery_codes WHERE user_id = ?", uid)
		return err
	})
}

// GetTOTP returns a user's enrolment; ErrNotFound when there is none.
func (s *Store) GetTOTP(ctx context.Context, userID int64) (TOTP, error) {
	t := TOTP{UserID: userID}
	var created int64
	err := s.db.QueryRow(ctx, "SELECT sealed, last_step, created_at FROM user_totp WHERE user_id = ?", userID).Scan(&t.Sealed, &t.LastStep, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("MFA enrolment of user", "#"+strconv.FormatInt(userID, 10))
	}
	t.Created = fromUnix(created)
	return t, err
}

// UseTOTPStep marks the time step of an accepted code as used. It reports
// false when that step or a later one was used already: a code is
// accepted once, on whichever node sees it first.
func (s *Store) UseTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	res, err := s.db.Exec(ctx, "UPDATE user_totp SET last_step = ? WHERE user_id = ? AND last_step < ?", step, userID, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UseRecoveryCode spends the recovery code with this hash; false when the
// user has no such code or it was spent.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error) {
	res, err := s.db.Exec(ctx, "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at = 0", s.now().Unix(), userID, hash)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RecoveryCodesLeft counts a user's unspent recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at = 0", userID).Scan(&n)
	return n, err
}

// AppPassword is a named, revocable password for a client that cannot
// ask for a second factor (WebDAV). Only its hash is stored.
type AppPassword struct {
	ID       int64
	UserID   int64
	Login    string
	Name     string
	Hash     string
	Created  time.Time
	LastUsed time.Time
}

var appNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}$`)

// AddAppPassword stores a new app password's hash under a name.
func (s *Store) AddAppPassword(ctx context.Context, login, name, hash string) (AppPassword, error) {
	if !appNameRE.MatchString(name) {
		return AppPassword{}, fieldErr("name", "%q is not an app password name: 1 to 64 of letters, digits, space, '.', '_', '@', '+', '-'", clip(name))
	}
	a := AppPassword{Login: CanonicalLogin(login), Name: name, Hash: hash, Created: s.now().UTC().Truncate(time.Second)}
	err := s.write(ctx, &change{op: "app-password.add", subject: "user " + a.Login, after: name}, func(tx *db.Tx) error {
		uid, err := userID(ctx, tx, login)
		if err != nil {
			return err
		}
		a.UserID = uid
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM app_passwords WHERE user_id = ? AND name = ?", uid, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return exists("app password of user "+a.Login, name)
		}
		return tx.QueryRow(ctx, "INSERT INTO app_passwords (user_id, name, hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
			uid, name, hash, a.Created.Unix()).Scan(&a.ID)
	})
	return a, err
}

const appCols = "a.id, a.user_id, u.login, a.name, a.hash, a.created_at, a.last_used"

func scanApp(sc interface{ Scan(...any) error }) (AppPassword, error) {
	var a AppPassword
	var created, used int64
	err := sc.Scan(&a.ID, &a.UserID, &a.Login, &a.Name, &a.Hash, &created, &used)
	a.Created, a.LastUsed = fromUnix(created), fromUnix(used)
	return a, err
}

// AppPasswords lists a user's app passwords by name.
func (s *Store) AppPasswords(ctx context.Context, login string) ([]AppPassword, error) {
	if _, err := userID(ctx, s.db, login); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, "SELECT "+appCols+" FROM app_passwords a JOIN users u ON u.id = a.user_id WHERE u.login = ? ORDER BY a.name", CanonicalLogin(login))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AppPassword
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AppPasswordByHash finds the app password with this hash.
func (s *Store) AppPasswordByHash(ctx context.Context, hash string) (AppPassword, error) {
	a, err := scanApp(s.db.QueryRow(ctx, "SELECT "+appCols+" FROM app_passwords a JOIN users u ON u.id = a.user_id WHERE a.hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("app password", "")
	}
	return a, err
}

// TouchAppPassword records a login with an app password.
func (s *Store) TouchAppPassword(ctx context.Context, id int64, at time.Time) error {
	_, err := s.db.Exec(ctx, "UPDATE app_passwords SET last_used = ? WHERE id = ?", at.Unix(), id)
	return err
}

// RevokeAppPassword deletes a user's app password by name; requests and
// transfers that logged in with it end within seconds.
func (s *Store) RevokeAppPassword(ctx context.Context, login, name string) error {
	return s.write(ctx, &change{op: "app-password.revoke", subject: "user " + CanonicalLogin(login), before: name}, func(tx *db.Tx) error {
		uid, err := userID(ctx, tx, login)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, "DELETE FROM app_passwords WHERE user_id = ? AND name = ?", uid, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("app password of user "+CanonicalLogin(login), name)
		}
		return nil
	})
}

// appPasswordIDs loads the IDs facts carry.
func (s *Store) appPasswordIDs(ctx context.Context, userID int64) ([]int64, error) {
	rows, err := s.db.Query(ctx, "SELECT id FROM app_passwords WHERE user_id = ? ORDER BY id", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// AppPasswordByID finds an app password by its ID.
func (s *Store) AppPasswordByID(ctx context.Context, id int64) (AppPassword, error) {
	a, err := scanApp(s.db.QueryRow(ctx, "SELECT "+appCols+" FROM app_passwords a JOIN users u ON u.id = a.user_id WHERE a.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("app password", "#"+strconv.FormatInt(id, 10))
	}
	return a, err
}
