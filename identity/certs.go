package identity

import (
	"context"
	"strconv"
	"strings"
	"time"

	"pier/authz"
	"pier/db"
)

// CertRevocation is a revocation of SSH user certificates as stored.
type CertRevocation struct {
	authz.Revocation
	Reason  string
	Created time.Time
}

// ParseRevocation checks a revocation an administrator typed: a serial
// in decimal, a key ID, or a key's (or a CA's) fingerprint "SHA256:…".
func ParseRevocation(kind, value string) (authz.Revocation, error) {
	r := authz.Revocation{Kind: authz.RevocationKind(kind), Value: value}
	switch r.Kind {
	case authz.RevokeSerial:
		if _, err := strconv.ParseUint(value, 10, 64); err != nil {
			return r, fieldErr("serial", "%q is not a certificate serial (a decimal number)", clip(value))
		}
	case authz.RevokeKeyID:
		if value == "" || len(value) > 1024 {
			return r, fieldErr("key-id", "a key ID has 1 to 1024 characters")
		}
	case authz.RevokeKey:
		if !strings.HasPrefix(value, "SHA256:") || len(value) > 100 {
			return r, fieldErr("key", "%q is not a SHA256 fingerprint (SHA256:…)", clip(value))
		}
	default:
		return r, fieldErr("kind", "%q: want serial, key-id or key", clip(kind))
	}
	return r, nil
}

// RevokeCert records a revocation; sessions that logged in with a
// certificate it matches end within a second or two, on every node.
func (s *Store) RevokeCert(ctx context.Context, r authz.Revocation, reason string) error {
	if _, err := ParseRevocation(string(r.Kind), r.Value); err != nil {
		return err
	}
	c := &change{op: "cert.revoke", subject: "certificates with " + string(r.Kind) + " " + r.Value, after: reason}
	return s.write(ctx, c, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM cert_revocations WHERE kind = ? AND value = ?", string(r.Kind), r.Value).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return exists("revocation of "+string(r.Kind), r.Value)
		}
		_, err := tx.Exec(ctx, "INSERT INTO cert_revocations (kind, value, reason, created_at) VALUES (?, ?, ?, ?)",
			string(r.Kind), r.Value, reason, s.now().Unix())
		return err
	})
}

// UnrevokeCert removes a revocation.
func (s *Store) UnrevokeCert(ctx context.Context, r authz.Revocation) error {
	c := &change{op: "cert.unrevoke", subject: "certificates with " + string(r.Kind) + " " + r.Value}
	return s.write(ctx, c, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, "DELETE FROM cert_revocations WHERE kind = ? AND value = ?", string(r.Kind), r.Value)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("revocation of "+string(r.Kind), r.Value)
		}
		return nil
	})
}

// CertRevocations lists the revocations, oldest first.
func (s *Store) CertRevocations(ctx context.Context) ([]CertRevocation, error) {
	rows, err := s.db.Query(ctx, "SELECT kind, value, reason, created_at FROM cert_revocations ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CertRevocation
	for rows.Next() {
		var r CertRevocation
		var kind string
		var created int64
		if err := rows.Scan(&kind, &r.Value, &r.Reason, &created); err != nil {
			return nil, err
		}
		r.Kind, r.Created = authz.RevocationKind(kind), fromUnix(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// revocations loads what facts carry of the revocations.
func (s *Store) revocations(ctx context.Context) ([]authz.Revocation, error) {
	all, err := s.CertRevocations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]authz.Revocation, len(all))
	for i, r := range all {
		out[i] = r.Revocation
	}
	return out, nil
}
