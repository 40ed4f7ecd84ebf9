package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/jackc/pgx/v5"
)

// numberRange is a run of task numbers (inner ids) a transaction took from
// a project, first … last.
type numberRange struct {
	projectID, first, last int64
}

// takeTaskNumbers takes the next n task numbers of a live project for tx's
// new tasks and returns the last of them, with the project's settings that
// TaskIsLabeled reads.
//
// On SQLite the project's row counts them inside tx: there is one writer,
// so holding it until the commit costs nothing, and a failed import leaves
// no gap. So it does behind a transaction pooler (numbersPoolConns).
//
// On PostgreSQL a range is taken in a transaction of its own, committed at
// once (numbersPoolConns), so concurrent imports into one project on several
// replicas hold the project's row for one statement rather than until
// their commits. A transaction that rolls back gives its ranges back where
// no other import took numbers after them (giveBackNumbers): a failed
// import leaves no gap unless another import into the same project ran
// beside it, and then its numbers stay unused, as a deleted task's do.
//
// Nor does tx lock the project's row to keep the purge from deleting it
// under tasks not yet committed, which no foreign key checks there
// (migration 00023): each batch of new tasks adds to rows of the project's
// counters (addCounts, and the task_counts trigger of migration 00021),
// whose foreign keys fail the batch when the project's row has gone, and
// which, held until the commit, make the purge's cascade wait for it
// (TestPurgeWaitsForAnOpenImport).
func (tx *Tx) takeTaskNumbers(ctx context.Context, projectID int64, n int) (last int64, labeling blobmark.Project, err error) {
	const take = `UPDATE projects SET task_seq = task_seq + ? WHERE id = ? AND deleted_at IS NULL
		RETURNING task_seq, maximum_annotations, skip_queue`
	scan := func(row resultRow) error { return row.Scan(&last, &labeling.MaximumAnnotations, &labeling.SkipQueue) }
	if tx.db.numbers == nil {
		err = scan(tx.queryRow(ctx, take, n, projectID))
	} else {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		// The import that uses the numbers commits durably after this
		// does, and PostgreSQL's log is written in order: when the import's
		// commit is on disk, so is this one. Alone, a lost range is a
		// harmless gap.
		b.Queue("SET LOCAL synchronous_commit TO off")
		b.Queue(tx.db.rebind(take), n, projectID).QueryRow(func(row pgx.Row) error { return scan(row) })
		b.Queue("COMMIT")
		err = tx.db.numbers.SendBatch(ctx, b).Close()
		if err == nil {
			tx.numbered = append(tx.numbered, numberRange{projectID: projectID, first: last - int64(n) + 1, last: last})
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, labeling, notFound("project")
	}
	return last, labeling, err
}

// giveBackNumbers returns the ranges a rolled-back transaction took, the
// last first, each only while it is still its project's last: numbers that
// another import took since stay taken, and those before them unused.
func (db *core) giveBackNumbers(ctx context.Context, ranges []numberRange) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for i := len(ranges) - 1; i >= 0; i-- {
		r := ranges[i]
		if _, err := db.numbers.Exec(ctx, "UPDATE projects SET task_seq = $1 WHERE id = $2 AND task_seq = $3",
			r.first-1, r.projectID, r.last); err != nil {
			db.logger.WarnContext(ctx, "cannot give back the task numbers of a failed import", "project", r.projectID, "err", err)
			return
		}
	}
}

// numbersPoolConns is how many connections take task numbers on
// PostgreSQL (takeTaskNumbers). They are a pool of their own: a
// transaction asks for numbers while it holds a connection of the main
// pool, and with that pool exhausted by such transactions, none would get
// a second one. Behind a transaction pooler (core.unprepared) there is no
// such pool: its server connections are shared by every client, and
// transactions holding all of them would wait forever for one more.
const numbersPoolConns = 2
