package defender

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"pier/db"
	"pier/secevent"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// Ban is a source's ban.
type Ban struct {
	Source string // "192.0.2.7" or "2001:db8::/64"
	Until  time.Time
	Count  int // bans of this source in a row (each ban that follows one ended within BanMemory)
	Reason string
	Since  time.Time
}

// ban writes a ban of src: for d, or when d is 0 for BanTime doubled per
// earlier ban in a row, up to MaxBanTime.
func (d *Defender) ban(ctx context.Context, src netip.Prefix, length time.Duration, reason string, now time.Time) (Ban, error) {
	b := Ban{Source: sourceKey(src), Reason: reason, Since: now}
	err := d.db.WriteTx(ctx, func(tx *db.Tx) error {
		var until int64
		var count int
		err := tx.QueryRow(ctx, "SELECT until_at, bans FROM defender_bans WHERE source = ?", b.Source).Scan(&until, &count)
		if err != nil && !isNoRows(err) {
			return err
		}
		if err == nil && now.Sub(time.Unix(until, 0)) > d.cfg.BanMemory {
			count = 0 // the last ban is long over: start again
		}
		b.Count = count + 1
		if length <= 0 {
			length = d.cfg.BanTime
			for i := 1; i < b.Count && length < d.cfg.MaxBanTime; i++ {
				length *= 2
			}
			length = min(length, d.cfg.MaxBanTime)
		}
		b.Until = now.Add(length).Truncate(time.Second)
		if _, err := tx.Exec(ctx, "DELETE FROM defender_bans WHERE source = ?", b.Source); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO defender_bans (source, until_at, bans, reason, created_at) VALUES (?, ?, ?, ?, ?)",
			b.Source, b.Until.Unix(), b.Count, reason, now.Unix())
		return err
	})
	if err == nil {
		d.remember(func() { d.bans[src] = cachedBan{until: b.Until, read: now} })
	}
	return b, err
}

// Ban bans an address (or IPv6 /64) for length, as an administrator
// asked; length 0 means the next ban's usual length.
func (d *Defender) Ban(ctx context.Context, addr string, length time.Duration, reason string) (Ban, error) {
	src, err := parseSource(addr)
	if err != nil {
		return Ban{}, err
	}
	if reason == "" {
		reason = "banned by an administrator"
	}
	b, err := d.ban(ctx, src, length, reason, d.now())
	if err != nil {
		return b, err
	}
	d.events.Record(ctx, secevent.Event{Kind: secevent.SourceBanned, Source: src.Addr(), Reason: reason,
		Detail: "until " + b.Until.UTC().Format(time.RFC3339)})
	return b, nil
}

// Unban lifts a source's ban and forgets its score, so it is not banned
// again by its next failure. It reports whether there was a ban.
func (d *Defender) Unban(ctx context.Context, addr string) (bool, error) {
	src, err := parseSource(addr)
	if err != nil {
		return false, err
	}
	var found bool
	err = d.db.WriteTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, "DELETE FROM defender_bans WHERE source = ?", sourceKey(src))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		found = n > 0
		_, err = tx.Exec(ctx, "UPDATE defender_events SET score = 0 WHERE source = ?", sourceKey(src))
		return err
	})
	if err != nil {
		return false, err
	}
	d.remember(func() { delete(d.bans, src) })
	d.events.Record(ctx, secevent.Event{Kind: secevent.SourceUnbanned, Source: src.Addr(), Reason: "unbanned by an administrator"})
	return found, nil
}

// Bans lists the bans in force, soonest end first.
func (d *Defender) Bans(ctx context.Context) ([]Ban, error) {
	rows, err := d.db.Query(ctx, "SELECT source, until_at, bans, reason, created_at FROM defender_bans WHERE until_at > ? ORDER BY until_at, source",
		d.now().Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Ban
	for rows.Next() {
		var b Ban
		var until, since int64
		if err := rows.Scan(&b.Source, &until, &b.Count, &b.Reason, &since); err != nil {
			return nil, err
		}
		b.Until, b.Since = time.Unix(until, 0).UTC(), time.Unix(since, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// Score is a source's or an account's failures within its window.
type Score struct {
	Name     string // a source, or a login
	Score    int    // a source's score; an account's failures
	Failures int
	Last     time.Time
}

// Scores lists the sources with a score within Window and the accounts
// with failures within AccountWindow, highest first, at most limit each.
func (d *Defender) Scores(ctx context.Context, limit int) (sources, accounts []Score, err error) {
	now := d.now()
	sources, err = d.scores(ctx, `SELECT source, SUM(score), COUNT(*), MAX(at) FROM defender_events WHERE at > ?
		GROUP BY source HAVING SUM(score) > 0 ORDER BY SUM(score) DESC, source LIMIT ?`, now.Add(-d.cfg.Window).Unix(), limit)
	if err != nil {
		return nil, nil, err
	}
	accounts, err = d.scores(ctx, `SELECT login, COUNT(*), COUNT(*), MAX(at) FROM defender_events WHERE login <> '' AND at > ?
		GROUP BY login ORDER BY COUNT(*) DESC, login LIMIT ?`, now.Add(-d.cfg.AccountWindow).Unix(), limit)
	return sources, accounts, err
}

func (d *Defender) scores(ctx context.Context, q string, since int64, limit int) ([]Score, error) {
	rows, err := d.db.Query(ctx, q, since, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Score
	for rows.Next() {
		var s Score
		var last int64
		if err := rows.Scan(&s.Name, &s.Score, &s.Failures, &last); err != nil {
			return nil, err
		}
		s.Last = time.Unix(last, 0).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// Guarded reports whether an account is guarded now (Config.AccountBlock
// failures within AccountWindow).
func (d *Defender) Guarded(failures int) bool { return d.on() && failures >= d.cfg.AccountBlock }

// Prune deletes failures older than both windows and bans over for
// longer than BanMemory; any node may run it.
func (d *Defender) Prune(ctx context.Context) error {
	if d == nil {
		return nil
	}
	now := d.now()
	keep := max(d.cfg.Window, d.cfg.AccountWindow)
	if _, err := d.db.Exec(ctx, "DELETE FROM defender_events WHERE at < ?", now.Add(-keep).Unix()); err != nil {
		return fmt.Errorf("defender: prune: %w", err)
	}
	if _, err := d.db.Exec(ctx, "DELETE FROM defender_bans WHERE until_at < ?", now.Add(-d.cfg.BanMemory).Unix()); err != nil {
		return fmt.Errorf("defender: prune: %w", err)
	}
	return nil
}

// Config returns the settings in force.
func (d *Defender) Config() Config { return d.cfg }
