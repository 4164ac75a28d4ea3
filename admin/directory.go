package admin

import (
	"context"
	"errors"

	"pier/directory"
)

// Syncer is what SyncDirectory needs of the directory sync.
type Syncer interface {
	Sync(ctx context.Context, opt directory.Options) (*directory.Report, error)
}

var _ Syncer = (*directory.Syncer)(nil)

// ErrNoDirectory: no directory is configured.
var ErrNoDirectory = errors.New("no directory: give --ldap-url (or PIER_LDAP_URL, or --ldap-config FILE)")

// WithDirectory returns the operations with a directory to sync users
// from.
func (s *Service) WithDirectory(d Syncer) *Service {
	c := *s
	c.directory = d
	return &c
}

// SyncDirectory brings the directory-managed users in line with the
// directory (package directory), or with DryRun reports what it would
// do. It creates and suspends users of every organisation, so only a
// super administrator may run it, dry or not.
func (s *Service) SyncDirectory(ctx context.Context, a Actor, opt directory.Options) (*directory.Report, error) {
	if err := superOnly(a, "sync the directory"); err != nil {
		return nil, err
	}
	if s.directory == nil {
		return nil, ErrNoDirectory
	}
	return s.directory.Sync(acting(ctx, a), opt)
}
