package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// LabelStream hands tasks to annotators and keeps their locks
// (blobmark.LabelStreamService).
//
// Picking a task and locking it happen in one write transaction. On SQLite
// the single writer serialises those transactions, so the pick sees every
// lock taken before it. On PostgreSQL the pick locks the task's row with
// FOR UPDATE SKIP LOCKED — concurrent picks pass over each other's
// candidates instead of queueing on them — and then checks the task again
// in a new statement: every lock on a task is written while its row is
// locked, so that statement's snapshot sees all of them.
type LabelStream struct {
	*core
}

var _ blobmark.LabelStreamService = (*LabelStream)(nil)

// nothingLeft is the answer when the stream is empty for the user.
func nothingLeft() error {
	return blobmark.Errorf(blobmark.ENOTFOUND, "No more tasks to label in this project: every task is done, skipped by you, or being labeled by as many annotators as it still needs.")
}

// streamQuery builds the condition "the user may take this task now" over
// tasks t, for one project, user and instant.
type streamQuery struct {
	p    *blobmark.Project
	user int64
	now  time.Time
}

// room is the condition that the task has a place left for the user: its
// annotations (and skips, under IgnoreSkipped) plus the live locks of
// other annotators are fewer than maximum_annotations.
func (q streamQuery) room() (string, []any) {
	done := "t.total_annotations"
	if q.p.SkipQueue == blobmark.IgnoreSkipped {
		done += " + t.cancelled_annotations"
	}
	return done + ` + (SELECT COUNT(*) FROM task_locks l WHERE l.task_id = t.id AND l.user_id <> ? AND l.expires_at > ?) < ?`,
		[]any{q.user, q.now, max(1, q.p.MaximumAnnotations)}
}

// fresh is the condition of the main queue: a task of the project, not
// labeled, that the user has neither annotated nor skipped, with room.
func (q streamQuery) fresh() (string, []any) {
	room, args := q.room()
	return `t.project_id = ? AND t.is_labeled = ?
		AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.task_id = t.id AND a.completed_by = ?)
		AND ` + room, append([]any{q.p.ID, false, q.user}, args...)
}

// skipped is the condition of RequeueForMe's last queue: a task the user
// skipped and has not annotated since, not labeled, with room.
func (q streamQuery) skipped() (string, []any) {
	room, args := q.room()
	return `t.id IN (SELECT a.task_id FROM annotations a WHERE a.completed_by = ? AND a.project_id = ? AND a.was_cancelled = ?)
		AND t.is_labeled = ?
		AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.task_id = t.id AND a.completed_by = ? AND a.was_cancelled = ?)
		AND ` + room, append([]any{q.user, q.p.ID, true, false, q.user, false}, args...)
}

// lockable is LockTask's condition for one task: not labeled, not yet
// annotated by the user (a skip does not matter: the page may reopen a
// skipped task), with room.
func (q streamQuery) lockable(taskID int64) (string, []any) {
	room, args := q.room()
	return `t.id = ? AND t.is_labeled = ?
		AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.task_id = t.id AND a.completed_by = ? AND a.was_cancelled = ?)
		AND ` + room, append([]any{taskID, false, q.user, false}, args...)
}

// NextTask implements blobmark.LabelStreamService.
func (db *LabelStream) NextTask(ctx context.Context, projectID int64) (*blobmark.NextTask, error) {
	user := blobmark.UserIDFromContext(ctx)
	if user == 0 {
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "The label stream hands tasks to a signed-in user.")
	}
	var out *blobmark.NextTask
	err := db.inTx(ctx, "next task", func(tx *Tx) error {
		p, err := tx.findProject(ctx, projectID)
		if err != nil {
			return err
		}
		q := streamQuery{p: p, user: user, now: db.timestamp()}
		taskID, queue, err := tx.pickTask(ctx, q)
		if err != nil {
			return err
		}
		if taskID == 0 {
			return nothingLeft()
		}
		lock, err := tx.lockTask(ctx, q, taskID)
		if err != nil {
			return err
		}
		t, err := scanTask(tx.queryRow(ctx, "SELECT "+taskColumns+" FROM tasks t WHERE t.id = ?", taskID))
		if err != nil {
			return err
		}
		out = &blobmark.NextTask{Task: t, Queue: queue, Lock: *lock}
		return nil
	})
	return out, err
}

// pickTask finds the task the user should take next, locking its row on
// PostgreSQL, and names its queue; 0 when there is none.
func (tx *Tx) pickTask(ctx context.Context, q streamQuery) (int64, string, error) {
	// A live lock of the user's own comes first: a reload of the page
	// gets the same task back.
	held, err := tx.pickHeld(ctx, q)
	if err != nil || held != 0 {
		return held, blobmark.QueueLocked, err
	}
	cond, args := q.fresh()
	id, queue, err := tx.pickBySampling(ctx, q, cond, args)
	if err != nil || id != 0 || q.p.SkipQueue != blobmark.RequeueForMe {
		return id, queue, err
	}
	cond, args = q.skipped()
	id, err = tx.pickFirst(ctx, q, "FROM tasks t WHERE "+cond, args, "t.id")
	return id, blobmark.QueueSkipped, err
}

// pickHeld returns the task of the project the user holds a live lock on,
// if they may still take it.
func (tx *Tx) pickHeld(ctx context.Context, q streamQuery) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, `SELECT task_id FROM task_locks WHERE user_id = ? AND project_id = ? AND expires_at > ?
		ORDER BY expires_at DESC LIMIT 1`, q.user, q.p.ID, q.now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	cond, args := q.lockable(id)
	return tx.pickFirst(ctx, q, "FROM tasks t WHERE "+cond, args, "t.id")
}

// pickBySampling picks from the tasks that satisfy cond in the project's
// sampling order.
func (tx *Tx) pickBySampling(ctx context.Context, q streamQuery, cond string, args []any) (int64, string, error) {
	from := "FROM tasks t WHERE " + cond
	switch q.p.Sampling {
	case blobmark.UncertaintySampling:
		// The predictions index yields the lowest scores first; the
		// project's model version, when set, chooses which predictions.
		pcond, pargs := "pr.project_id = ? AND pr.score IS NOT NULL", []any{q.p.ID}
		if q.p.ModelVersion != "" {
			pcond += " AND pr.model_version = ?"
			pargs = append(pargs, q.p.ModelVersion)
		}
		id, err := tx.pickFirst(ctx, q, "FROM predictions pr JOIN tasks t ON t.id = pr.task_id WHERE "+pcond+" AND "+cond,
			append(pargs, args...), "pr.score, t.id")
		if err != nil || id != 0 {
			return id, blobmark.QueueUncertainty, err
		}
		id, err = tx.pickUniform(ctx, q, from, args)
		return id, blobmark.QueueUncertainty, err
	case blobmark.UniformSampling:
		id, err := tx.pickUniform(ctx, q, from, args)
		return id, blobmark.QueueUniform, err
	default:
		id, err := tx.pickFirst(ctx, q, from, args, "t.id")
		return id, blobmark.QueueSequential, err
	}
}

// pickUniform picks a task at random without reading every candidate: it
// draws an id between the project's first and last and takes the first
// candidate from there on, wrapping round to the start. Gaps in the ids
// weigh the draw a little; no annotator can tell.
func (tx *Tx) pickUniform(ctx context.Context, q streamQuery, from string, args []any) (int64, error) {
	var lo, hi sql.NullInt64
	if err := tx.queryRow(ctx, "SELECT MIN(id), MAX(id) FROM tasks WHERE project_id = ?", q.p.ID).Scan(&lo, &hi); err != nil {
		return 0, err
	}
	if !lo.Valid {
		return 0, nil
	}
	pivot := lo.Int64 + rand.Int64N(hi.Int64-lo.Int64+1)
	id, err := tx.pickFirst(ctx, q, from+" AND t.id >= ?", append(args[:len(args):len(args)], pivot), "t.id")
	if err != nil || id != 0 {
		return id, err
	}
	return tx.pickFirst(ctx, q, from+" AND t.id < ?", append(args[:len(args):len(args)], pivot), "t.id")
}

// pickFirst returns the id of the first task t of "SELECT t.id <from>" in
// order, 0 when there is none. On PostgreSQL it locks the task's row,
// passing over rows other picks hold, then checks the task again in a new
// statement; a task that no longer qualifies is passed over too. When
// every candidate left is held by another pick, it waits for them rather
// than answer "nothing left": with an overlap above one, the task another
// annotator is taking may still need this one too.
func (tx *Tx) pickFirst(ctx context.Context, q streamQuery, from string, args []any, order string) (int64, error) {
	var passed []string
	wait := false
	for {
		query, qargs := "SELECT t.id "+from, args
		if len(passed) > 0 {
			query += " AND t.id NOT IN (" + strings.Join(passed, ", ") + ")"
		}
		query += " ORDER BY " + order + " LIMIT 1"
		if tx.db.dialect == Postgres {
			query += " FOR UPDATE OF t"
			if !wait {
				query += " SKIP LOCKED"
			}
		}
		var id int64
		err := tx.queryRow(ctx, query, qargs...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) && tx.db.dialect == Postgres && !wait {
			wait = true
			continue
		} else if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		} else if err != nil || tx.db.dialect != Postgres {
			return id, err
		}
		ok, err := tx.hasRoom(ctx, q, id)
		if err != nil || ok {
			return id, err
		}
		passed = append(passed, itoa(int(id)))
	}
}

// hasRoom checks in a statement of its own that the user may still lock
// the task.
func (tx *Tx) hasRoom(ctx context.Context, q streamQuery, taskID int64) (bool, error) {
	cond, args := q.lockable(taskID)
	var one int
	err := tx.queryRow(ctx, "SELECT 1 FROM tasks t WHERE "+cond, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// lockTask writes the user's lock on a task, their only one in the
// project: taking a task lets go of the one they held before.
func (tx *Tx) lockTask(ctx context.Context, q streamQuery, taskID int64) (*blobmark.TaskLock, error) {
	lock := &blobmark.TaskLock{TaskID: taskID, UserID: q.user,
		ExpiresAt: q.now.Add(time.Duration(q.p.CustomTaskLockTTL) * time.Second)}
	if _, err := tx.exec(ctx, "DELETE FROM task_locks WHERE user_id = ? AND project_id = ? AND task_id <> ?",
		q.user, q.p.ID, taskID); err != nil {
		return nil, err
	}
	_, err := tx.exec(ctx, `INSERT INTO task_locks (task_id, user_id, project_id, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (task_id, user_id) DO UPDATE SET expires_at = excluded.expires_at`,
		taskID, q.user, q.p.ID, lock.ExpiresAt)
	return lock, err
}

// LockTask implements blobmark.LabelStreamService.
func (db *LabelStream) LockTask(ctx context.Context, taskID int64) (*blobmark.TaskLock, error) {
	user := blobmark.UserIDFromContext(ctx)
	if user == 0 {
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Only a signed-in user can lock a task.")
	}
	var out *blobmark.TaskLock
	err := db.inTx(ctx, "lock task", func(tx *Tx) error {
		var projectID int64
		q := "SELECT t.project_id" + liveTask + "WHERE t.id = ?"
		if db.dialect == Postgres {
			q += " FOR UPDATE OF t" // see LabelStream
		}
		err := tx.queryRow(ctx, q, taskID).Scan(&projectID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("task")
		} else if err != nil {
			return err
		}
		p, err := tx.findProject(ctx, projectID)
		if err != nil {
			return err
		}
		sq := streamQuery{p: p, user: user, now: db.timestamp()}
		ok, err := tx.hasRoom(ctx, sq, taskID)
		if err != nil {
			return err
		}
		if !ok {
			return blobmark.Errorf(blobmark.ECONFLICT, "Task %d has no place left for you: it is labeled, you annotated it, or as many annotators as it still needs are on it.", taskID)
		}
		out, err = tx.lockTask(ctx, sq, taskID)
		return err
	})
	return out, err
}

// UnlockTask implements blobmark.LabelStreamService.
func (db *LabelStream) UnlockTask(ctx context.Context, taskID int64) error {
	user := blobmark.UserIDFromContext(ctx)
	return db.inTx(ctx, "unlock task", func(tx *Tx) error { return tx.unlockTask(ctx, taskID, user) })
}

// unlockTask drops a user's lock on a task, if any.
func (tx *Tx) unlockTask(ctx context.Context, taskID, user int64) error {
	_, err := tx.exec(ctx, "DELETE FROM task_locks WHERE task_id = ? AND user_id = ?", taskID, user)
	return err
}
