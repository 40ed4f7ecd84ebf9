package sqlstore

// This file is the scheduler's store side, shared by every kind of
// scheduled storage work (source syncs, dataset exports): which storages
// are due, and claiming each so that replicas queue it once per interval.

import (
	"context"
	"database/sql"
	"time"

	"github.com/blobmark/blobmark"
)

// schedule describes one kind of scheduled work on the rows of a storage
// table.
type schedule struct {
	what string // names the work in errors
	// table holds the storages; interval is its column of minutes between
	// runs (0: no schedule), lastQueued its column of when the work was
	// last queued (NULL: never).
	table, interval, lastQueued string
	// ready is a further condition, on the table aliased s, with its
	// arguments, that a due storage must meet to be listed.
	ready     string
	readyArgs []any
	// queue queues the work of storage id, whose row the caller holds, at
	// now, setting lastQueued when it does, and reports whether it did.
	queue func(ctx context.Context, tx *Tx, id int64, now time.Time) (bool, error)
}

// enqueueDue queues the work of every storage of sch that is due, and
// returns how many it queued. The caller runs it once per tick, tick
// being how often it runs (jobs.ScheduleInterval); tick must stay under
// twice the shortest interval (one minute), or a storage whose work
// finished within a tick would be due again in the same tick.
//
// A storage is due when its interval, less half a tick, has elapsed since
// it was last queued. Ticks fall on an exact grid, but each runs somewhat
// after its grid point (the queue's poll, a busy worker), and lastQueued
// records when the previous tick ran, not its grid point. Measured against
// the whole interval, a tick that ran sooner after its grid point than the
// previous one would find the interval not quite elapsed and skip it. With
// half a tick of slack, as long as every tick runs within half a tick of
// its grid point (clock skew between replicas included), a tick one
// interval after the last queued one always finds the storage due, and the
// tick before it never does.
//
// Several replicas may run the scheduler at once. Each reads the due list,
// then queues every storage in a transaction of its own that first claims
// it (claimDue), so a storage that another replica queued, and whose work
// may have finished, since the list was read is not queued a second time.
func (db *core) enqueueDue(ctx context.Context, sch schedule, tick time.Duration) (int, error) {
	now := db.timestamp()
	rows, err := db.query(ctx, `SELECT s.id, s.`+sch.interval+`, s.`+sch.lastQueued+` FROM `+sch.table+` s
		JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL
		WHERE s.`+sch.interval+` > 0 AND `+sch.ready+` ORDER BY s.id`, sch.readyArgs...)
	if err != nil {
		return 0, translate("find due "+sch.what+"s", err)
	}
	type storage struct {
		id      int64
		minutes int
	}
	var due []storage
	for rows.Next() {
		var s storage
		var last sql.Null[timeValue]
		if err := rows.Scan(&s.id, &s.minutes, &last); err != nil {
			rows.Close()
			return 0, translate("find due "+sch.what+"s", err)
		}
		if !last.Valid || !last.V.Time.After(queuedDueBy(now, s.minutes, tick)) {
			due = append(due, s)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, translate("find due "+sch.what+"s", err)
	}
	rows.Close()
	n := 0
	for _, s := range due {
		q, err := db.claimDue(ctx, sch, s.id, s.minutes, now, tick)
		if err != nil && blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
			return n, err
		}
		if q {
			n++
		}
	}
	return n, nil
}

// queuedDueBy returns the latest last-queued time at which a storage run
// every minutes is due at now (see enqueueDue). An interval longer than
// blobmark.MaxSyncIntervalMinutes, which the API refuses but a database
// written before that bound may hold, counts as that bound, so it can
// never overflow into one that is always due.
func queuedDueBy(now time.Time, minutes int, tick time.Duration) time.Time {
	minutes = min(minutes, blobmark.MaxSyncIntervalMinutes)
	return now.Add(tick/2 - time.Duration(minutes)*time.Minute)
}

// claimDue queues the work of storage id, which was due at now with an
// interval of minutes when the scheduler read it, if it still is: in one
// transaction, it claims the row with an update that matches only while
// the storage is still due and keeps that interval, then queues the work.
// The update takes the row's lock, so a replica that queued the storage
// meanwhile has committed (PostgreSQL re-checks the condition against the
// committed row; SQLite has one writer), and its lastQueued makes the
// condition false. The bound is passed as a UTC time, which both stores
// compare in time order (SQLite keeps times as sortable UTC text).
func (db *core) claimDue(ctx context.Context, sch schedule, id int64, minutes int, now time.Time, tick time.Duration) (queued bool, err error) {
	err = db.inTx(ctx, "enqueue due "+sch.what, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE `+sch.table+` SET `+sch.lastQueued+` = `+sch.lastQueued+`
			WHERE id = ? AND `+sch.interval+` = ? AND (`+sch.lastQueued+` IS NULL OR `+sch.lastQueued+` <= ?)`,
			id, minutes, queuedDueBy(now, minutes, tick))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err // no longer due, rescheduled or deleted: nothing to do
		}
		queued, err = sch.queue(ctx, tx, id, now)
		return err
	})
	return queued && err == nil, err
}
