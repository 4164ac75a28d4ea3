package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"pier/identity"
)

// Authenticator checks directory-managed users' passwords by binding to
// the directory as them. It first finds the user's entry with the
// service account — the login escaped (ldap.EscapeFilter), within the
// configured base DN and filter — and accepts only the entry the sync
// recorded for the account, not disabled: an entry that took over a
// login since the last sync, or left the filter, cannot log in.
type Authenticator struct {
	cfg   Config
	slots chan struct{} // bounds the binds in flight
}

// maxBinds bounds concurrent directory logins: each is a connection to
// the directory.
const maxBinds = 16

// NewAuthenticator returns the password checker of cfg's directory.
func NewAuthenticator(cfg Config) *Authenticator {
	return &Authenticator{cfg: cfg, slots: make(chan struct{}, maxBinds)}
}

// CheckPassword reports whether password is the directory password of
// u. A wrong password, an unknown or disabled entry, or an account the
// directory does not manage is (false, nil), all alike; an error means
// the directory could not answer. The whole check, connection included,
// ends within Config.Timeout.
func (a *Authenticator) CheckPassword(ctx context.Context, u identity.User, password string) (bool, error) {
	if u.Source != identity.SourceLDAP || u.SourceDN == "" || password == "" {
		// An empty password would be an unauthenticated bind, which
		// succeeds without checking anything (RFC 4513 section 5.1.2).
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-ctx.Done():
		return false, fmt.Errorf("%w: too many directory logins at once", ErrUnavailable)
	}
	c := a.cfg
	cn, err := c.dial(ctx)
	if err != nil {
		return false, err
	}
	defer cn.Close()
	if err := c.bindService(cn); err != nil {
		return false, err
	}
	filter := fmt.Sprintf("(&%s(%s=%s))", c.Filter, c.LoginAttr, ldap.EscapeFilter(u.Login))
	attrs := []string{"1.1"} // no attributes
	if c.DisabledAttr != "" {
		attrs = []string{c.DisabledAttr}
	}
	req := ldap.NewSearchRequest(c.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(c.Timeout.Seconds()), false, filter, attrs, nil)
	if c.Scope == "one" {
		req.Scope = ldap.ScopeSingleLevel
	}
	res, err := cn.Search(req)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return false, fmt.Errorf("%w: %s: search: %v", ErrUnavailable, c.where(), short(err))
	}
	if res == nil || len(res.Entries) != 1 || dnKey(res.Entries[0].DN) != dnKey(u.SourceDN) {
		return false, nil
	}
	for _, v := range res.Entries[0].GetEqualFoldAttributeValues(c.DisabledAttr) {
		if c.DisabledAttr != "" && c.disabled(v) {
			return false, nil
		}
	}
	err = cn.Bind(res.Entries[0].DN, password)
	switch {
	case err == nil:
		return true, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		return false, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return false, fmt.Errorf("%w: %s: bind timed out", ErrUnavailable, c.where())
	}
	return false, fmt.Errorf("%w: %s: bind: %v", ErrUnavailable, c.where(), short(err))
}
