package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// LabelStream hands tasks to annotators and keeps their locks
// (blobmark.LabelStreamService).
//
// NextTask chooses in two steps so that the single SQLite writer is held
// only for a few point lookups. First it reads up to streamCandidates
// candidates on the read pool, in the project's order, outside any
// transaction; then a short write transaction claims the first of them
// that still has room (another annotator may have locked some meanwhile)
// and writes the lock. Only when every candidate is gone does the write
// transaction choose by itself, as the authoritative fallback. On SQLite
// the writer serialises the claims, so each sees every lock written before
// it. On PostgreSQL a claim locks the task's row with FOR UPDATE SKIP
// LOCKED — concurrent claims pass over each other's candidates instead of
// queueing on them — and then checks the task again in a new statement:
// every lock on a task is written while its row is locked, so that
// statement's snapshot sees all of them.
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

// streamCandidates is how many tasks NextTask reads ahead: enough that
// the annotators asking at the same moment, who read the same candidates,
// each find one still free, and few enough that reading them stays a
// handful of index lookups.
const streamCandidates = 64

// reader runs a query: the read pool (*core) or a transaction (*Tx).
type reader interface {
	queryRow(ctx context.Context, q string, args ...any) resultRow
	query(ctx context.Context, q string, args ...any) (resultRows, error)
}

// NextTask implements blobmark.LabelStreamService.
func (db *LabelStream) NextTask(ctx context.Context, projectID int64) (*blobmark.NextTask, error) {
	user := blobmark.UserIDFromContext(ctx)
	if user == 0 {
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "The label stream hands tasks to a signed-in user.")
	}
	p, err := findProject(ctx, db.core, projectID)
	if err != nil {
		return nil, translate("next task", err)
	}
	q := streamQuery{p: p, user: user, now: db.timestamp()}
	cands, queue, err := pickTasks(ctx, db.core, q, nil)
	if err != nil {
		return nil, translate("next task", err)
	}
	if len(cands) == 0 {
		return nil, nothingLeft()
	}
	var out *blobmark.NextTask
	err = db.inTx(ctx, "next task", func(tx *Tx) error {
		var tried, busy []int64
		claimed := func(id int64) error {
			lock, err := tx.lockTask(ctx, q, id)
			if err != nil {
				return err
			}
			t, err := scanTask(tx.queryRow(ctx, "SELECT "+taskColumns+" FROM tasks t WHERE t.id = ?", id))
			if err != nil {
				return err
			}
			out = &blobmark.NextTask{Task: t, Queue: queue, Lock: *lock}
			return nil
		}
		for len(cands) > 0 {
			for _, id := range spread(cands) {
				ok, held, err := tx.claim(ctx, q, id, false)
				if err != nil {
					return err
				}
				if held {
					busy = append(busy, id)
				}
				if !ok {
					continue
				}
				return claimed(id)
			}
			// Every candidate went to someone else: choose again, in the
			// transaction this time, past those.
			tried = append(tried, cands...)
			if cands, queue, err = pickTasks(ctx, tx, q, tried); err != nil {
				return err
			}
		}
		// Tasks another claim was holding may still need this user too
		// (an overlap above one): wait for those claims rather than answer
		// "nothing left" while a task is one annotation short.
		for _, id := range busy {
			ok, _, err := tx.claim(ctx, q, id, true)
			if err != nil || ok {
				if err == nil {
					err = claimed(id)
				}
				return err
			}
		}
		return nothingLeft()
	})
	return out, err
}

// spread orders candidates for claiming: the best first, then the rest
// from a random place on, wrapping round. Annotators asking at the same
// moment read the same candidates; the first to claim takes the best, and
// the others, instead of each walking past every candidate taken before
// theirs while holding the writer, land on different ones.
func spread(cands []int64) []int64 {
	if len(cands) < 3 {
		return cands
	}
	rest := cands[1:]
	at := rand.IntN(len(rest))
	return slices.Concat(cands[:1], rest[at:], rest[:at])
}

// pickTasks returns the tasks the user should take next, best first, and
// names their queue; none when there are none. It passes over the tasks
// in tried.
func pickTasks(ctx context.Context, r reader, q streamQuery, tried []int64) ([]int64, string, error) {
	// A live lock of the user's own comes first: a reload of the page
	// gets the same task back.
	held, err := pickHeld(ctx, r, q, tried)
	if err != nil || len(held) > 0 {
		return held, blobmark.QueueLocked, err
	}
	cond, args := q.fresh()
	ids, queue, err := pickBySampling(ctx, r, q, tried, cond, args)
	if err != nil || len(ids) > 0 || q.p.SkipQueue != blobmark.RequeueForMe {
		return ids, queue, err
	}
	cond, args = q.skipped()
	ids, err = pickFirst(ctx, r, tried, "FROM tasks t WHERE "+cond, args, "t.id")
	return ids, blobmark.QueueSkipped, err
}

// pickHeld returns the task of the project the user holds a live lock on,
// if they may still take it.
func pickHeld(ctx context.Context, r reader, q streamQuery, tried []int64) ([]int64, error) {
	var id int64
	err := r.queryRow(ctx, `SELECT task_id FROM task_locks WHERE user_id = ? AND project_id = ? AND expires_at > ?
		ORDER BY expires_at DESC LIMIT 1`, q.user, q.p.ID, q.now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	cond, args := q.lockable(id)
	return pickFirst(ctx, r, tried, "FROM tasks t WHERE "+cond, args, "t.id")
}

// pickBySampling picks from the tasks that satisfy cond in the project's
// sampling order.
func pickBySampling(ctx context.Context, r reader, q streamQuery, tried []int64, cond string, args []any) ([]int64, string, error) {
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
		ids, err := pickFirst(ctx, r, tried, "FROM predictions pr JOIN tasks t ON t.id = pr.task_id WHERE "+pcond+" AND "+cond,
			append(pargs, args...), "pr.score, t.id")
		if err != nil || len(ids) > 0 {
			return ids, blobmark.QueueUncertainty, err
		}
		ids, err = pickUniform(ctx, r, q, tried, from, args)
		return ids, blobmark.QueueUncertainty, err
	case blobmark.UniformSampling:
		ids, err := pickUniform(ctx, r, q, tried, from, args)
		return ids, blobmark.QueueUniform, err
	default:
		ids, err := pickFirst(ctx, r, tried, from, args, "t.id")
		return ids, blobmark.QueueSequential, err
	}
}

// pickUniform picks tasks at random without reading every candidate: it
// draws an id between the project's first and last and takes the first
// candidates from there on, wrapping round to the start. Gaps in the ids
// weigh the draw a little; no annotator can tell.
func pickUniform(ctx context.Context, r reader, q streamQuery, tried []int64, from string, args []any) ([]int64, error) {
	var lo, hi sql.NullInt64
	if err := r.queryRow(ctx, "SELECT MIN(id), MAX(id) FROM tasks WHERE project_id = ?", q.p.ID).Scan(&lo, &hi); err != nil {
		return nil, err
	}
	if !lo.Valid {
		return nil, nil
	}
	pivot := lo.Int64 + rand.Int64N(hi.Int64-lo.Int64+1)
	ids, err := pickFirst(ctx, r, tried, from+" AND t.id >= ?", append(args[:len(args):len(args)], pivot), "t.id")
	if err != nil || len(ids) > 0 {
		return ids, err
	}
	return pickFirst(ctx, r, tried, from+" AND t.id < ?", append(args[:len(args):len(args)], pivot), "t.id")
}

// pickFirst returns the ids of the first streamCandidates tasks t of
// "SELECT t.id <from>" in order, other than those in tried.
func pickFirst(ctx context.Context, r reader, tried []int64, from string, args []any, order string) ([]int64, error) {
	query := "SELECT t.id " + from
	if len(tried) > 0 {
		ids := make([]string, len(tried))
		for i, id := range tried {
			ids[i] = strconv.FormatInt(id, 10)
		}
		query += " AND t.id NOT IN (" + strings.Join(ids, ", ") + ")"
	}
	rows, err := r.query(ctx, query+" ORDER BY "+order+" LIMIT "+itoa(streamCandidates), args...)
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

// claim reports whether the user may lock the task now. On PostgreSQL it
// first locks the task's row: a row another claim holds is passed over
// (held) unless wait, which waits for that claim to end.
func (tx *Tx) claim(ctx context.Context, q streamQuery, taskID int64, wait bool) (ok, held bool, err error) {
	if tx.db.dialect == Postgres {
		query := "SELECT id FROM tasks WHERE id = ? FOR UPDATE"
		if !wait {
			query += " SKIP LOCKED"
		}
		var id int64
		err := tx.queryRow(ctx, query, taskID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return false, !wait, nil
		} else if err != nil {
			return false, false, err
		}
	}
	ok, err = tx.hasRoom(ctx, q, taskID)
	return ok, false, err
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
	_, err := tx.exec(ctx, unlockTaskSQL, taskID, user)
	return err
}

// unlockTaskSQL ends a user's hold on a task.
const unlockTaskSQL = "DELETE FROM task_locks WHERE task_id = ? AND user_id = ?"

// QueueOf implements blobmark.LabelStreamService. The project's tasks are
// counted on the (project_id, is_labeled, id) index; the user's own
// annotations are the only rows read one by one.
func (db *LabelStream) QueueOf(ctx context.Context, projectID int64) (*blobmark.Queue, error) {
	user := blobmark.UserIDFromContext(ctx)
	p, err := findProject(ctx, db.core, projectID)
	if err != nil {
		return nil, translate("queue", err)
	}
	// mine is the condition on annotations a that the user's annotation
	// takes a task out of their queue: any of theirs, but under
	// RequeueForMe not a skip.
	mine, mineArgs := "a.project_id = ? AND a.completed_by = ?", []any{projectID, user}
	if p.SkipQueue == blobmark.RequeueForMe {
		mine += " AND a.was_cancelled = ?"
		mineArgs = append(mineArgs, false)
	}
	var q blobmark.Queue
	var unlabeled, mineUnlabeled int
	err = db.queryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM tasks WHERE project_id = ? AND is_labeled = ?),
		(SELECT COUNT(*) FROM tasks WHERE project_id = ? AND is_labeled = ?),
		(SELECT COUNT(DISTINCT a.task_id) FROM annotations a WHERE `+mine+`),
		(SELECT COUNT(DISTINCT a.task_id) FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE `+mine+` AND t.is_labeled = ?)`,
		slices.Concat([]any{projectID, true, projectID, false}, mineArgs, mineArgs, []any{false})...).
		Scan(&q.Finished, &unlabeled, &q.Done, &mineUnlabeled)
	if err != nil {
		return nil, translate("queue", err)
	}
	q.Left = unlabeled - mineUnlabeled
	q.Total = q.Done + q.Left
	return &q, nil
}
