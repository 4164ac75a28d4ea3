package db

import "context"

// OpenAt opens dsn with its schema brought to version, not beyond, to test
// a migration on the data of the version before it.
func OpenAt(ctx context.Context, dsn string, version int) (*DB, error) {
	d, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := d.migrate(ctx, version); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}
