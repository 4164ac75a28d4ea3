package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/go-ldap/ldap/v3"
)

// ErrUnavailable wraps failures to reach or use the directory: dialling,
// TLS, the service account's bind, a search that fails.
var ErrUnavailable = errors.New("directory unavailable")

// conn is a connection to the directory, closed when its context ends.
type conn struct {
	*ldap.Conn
	stop func() bool
}

// dial connects, secures the connection (ldaps or StartTLS, certificates
// verified) and gives up after c.Timeout. The connection is closed when
// ctx ends, which ends whatever runs on it.
func (c *Config) dial(ctx context.Context) (*conn, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("--ldap-url: %w", err)
	}
	tc := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ldap-ca-file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ldap-ca-file %s: no PEM certificate in it", c.CAFile)
		}
	}
	d := &net.Dialer{Timeout: c.Timeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	l, err := ldap.DialURL(c.URL, ldap.DialWithTLSDialer(tc, d))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, c.where(), short(err))
	}
	l.SetTimeout(c.Timeout)
	cn := &conn{Conn: l, stop: context.AfterFunc(ctx, func() { l.Close() })}
	if u.Scheme == "ldap" && c.TLS != "none" {
		if err := l.StartTLS(tc); err != nil {
			cn.Close()
			return nil, fmt.Errorf("%w: %s: StartTLS: %v", ErrUnavailable, c.where(), short(err))
		}
	}
	return cn, nil
}

// Close ends the connection.
func (cn *conn) Close() {
	cn.stop()
	cn.Conn.Close()
}

// bindService binds as the configured service account (or anonymously).
func (c *Config) bindService(cn *conn) error {
	if c.BindDN == "" {
		if err := cn.UnauthenticatedBind(""); err != nil {
			return fmt.Errorf("%w: %s: anonymous bind: %v", ErrUnavailable, c.where(), short(err))
		}
		return nil
	}
	pw, err := c.secret()
	if err != nil {
		return err
	}
	if err := cn.Bind(c.BindDN, pw); err != nil {
		return fmt.Errorf("%w: %s: bind as %s: %v", ErrUnavailable, c.where(), c.BindDN, short(err))
	}
	return nil
}

// where names the directory in messages: its URL, which holds no secret
// (Validate refuses credentials in it).
func (c *Config) where() string { return c.URL }

// short renders an LDAP error without the packet dump some carry.
func short(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) {
		if le.ResultCode == ldap.ErrorNetwork && le.Err != nil {
			return le.Err.Error()
		}
		msg := ldap.LDAPResultCodeMap[le.ResultCode]
		if le.Err != nil && le.Err.Error() != "" {
			msg += ": " + le.Err.Error()
		}
		return msg
	}
	return err.Error()
}

// search runs a paged search (RFC 2696) and calls each for every entry.
// More than max entries fail it: a directory must not grow a sync
// without bound. Any error fails the whole search; the caller then
// changes nothing.
func (c *Config) search(ctx context.Context, cn *conn, base, filter string, attrs []string, max int, each func(*ldap.Entry) error) error {
	scope := ldap.ScopeWholeSubtree
	if c.Scope == "one" && base == c.BaseDN {
		scope = ldap.ScopeSingleLevel
	}
	paging := ldap.NewControlPaging(uint32(c.PageSize)) // #nosec G115 -- Validate bounds PageSize
	req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, int(c.TimeLimit.Seconds()), false,
		filter, attrs, []ldap.Control{paging})
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := cn.Search(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %s: search %s: %v", ErrUnavailable, c.where(), base, short(err))
		}
		for _, e := range res.Entries {
			if n++; n > max {
				c.abandon(cn, req, paging)
				return fmt.Errorf("%s: search %s: more than %d entries (--ldap-max-entries)", c.where(), base, max)
			}
			if err := each(e); err != nil {
				c.abandon(cn, req, paging)
				return err
			}
		}
		pc, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(pc.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(pc.Cookie)
	}
}

// abandon tells the server to drop a paged search's state (a page of size
// zero with the cookie, RFC 2696 section 3).
func (c *Config) abandon(cn *conn, req *ldap.SearchRequest, paging *ldap.ControlPaging) {
	if len(paging.Cookie) == 0 {
		return
	}
	paging.PagingSize = 0
	cn.Search(req)
}
