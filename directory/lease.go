package directory

import (
	"context"
	"errors"
	"time"
)

// leaseFor is how long a sync may hold the lease. A node that dies while
// syncing leaves it to lapse; a sync that is still reading then is cut by
// its own timeouts long before.
const leaseFor = 15 * time.Minute

// acquire takes the cluster-wide sync lease (one row, so SQLite and
// PostgreSQL alike). With every > 0 it is taken only if no sync has run
// for that long, so that the nodes of a cluster sync once per interval
// between them.
func (s *Syncer) acquire(ctx context.Context, every time.Duration) (bool, error) {
	now := s.now()
	ranBefore := now.Unix() + 1
	if every > 0 {
		ranBefore = now.Add(-every).Unix() + 1
	}
	res, err := s.db.Exec(ctx, `UPDATE directory_sync SET holder = ?, until_at = ?
		WHERE name = 'ldap' AND (until_at < ? OR holder = ?) AND last_run_at < ?`,
		s.host, now.Add(leaseFor).Unix(), now.Unix(), s.host, ranBefore)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// release gives the lease back and notes the sync's outcome.
func (s *Syncer) release(ctx context.Context, rep *Report, syncErr error) {
	result := "ok"
	if rep != nil {
		result = rep.Summary()
	}
	if syncErr != nil {
		result = "failed: " + syncErr.Error()
		if len(result) > 500 {
			result = result[:500]
		}
	}
	_, err := s.db.Exec(context.WithoutCancel(ctx), `UPDATE directory_sync SET holder = '', until_at = 0, last_run_at = ?, last_result = ?
		WHERE name = 'ldap' AND holder = ?`, s.now().Unix(), result, s.host)
	if err != nil {
		s.log.Warn("directory sync: releasing the lease", "err", err)
	}
}

// Run syncs every Config.Interval until ctx ends, one node of a cluster
// at a time; it returns at once when no interval is set. Failures are
// logged, and the next interval tries again.
func (s *Syncer) Run(ctx context.Context) {
	every := s.cfg.Interval
	if every <= 0 {
		return
	}
	// Look more often than the interval, so that a node takes over soon
	// when the one that synced stops.
	t := time.NewTicker(min(every/4, time.Minute))
	defer t.Stop()
	for {
		s.runOnce(ctx, every)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Syncer) runOnce(ctx context.Context, every time.Duration) {
	ok, err := s.acquire(ctx, every)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("directory sync: lease", "err", err)
		}
		return
	}
	if !ok {
		return
	}
	rep, err := s.sync(ctx, Options{})
	s.release(ctx, rep, err)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("directory sync failed; nothing was written", "directory", s.cfg.where(), "err", err)
	}
}
