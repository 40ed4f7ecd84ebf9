package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// ChunkQueue holds the chunks a sync fans out to workers: dispatching, pinging, finishing and requeueing them, and the state of a generation's chunks.
type ChunkQueue struct {
	*core
}

// DispatchChunks records the chunks of a fanned-out sync and enqueues a job
// for each in the same transaction (importer.FanOut), so a chunk is never
// recorded without the job that imports it, nor the other way round.
func (db *ChunkQueue) DispatchChunks(ctx context.Context, storageID, generation int64, chunks [][]importer.Object) error {
	return db.inTx(ctx, "queue sync chunks", func(tx *Tx) error {
		for _, objs := range chunks {
			enc, err := json.Marshal(objs)
			if err != nil {
				return err
			}
			if err := tx.queueChunk(ctx, storageID, generation, string(enc)); err != nil {
				return err
			}
		}
		return nil
	})
}

// RequeueChunks queues the files of chunks whose worker stopped pinging as
// new chunks, and marks the old ones finished with no counts, in one
// transaction (importer.FanOut). Should the old worker still be alive, its
// late counts are ignored; its imports are idempotent with the new chunk's.
func (db *ChunkQueue) RequeueChunks(ctx context.Context, ids []int64) error {
	return db.inTx(ctx, "requeue sync chunks", func(tx *Tx) error {
		for _, id := range ids {
			var storageID, generation int64
			var objs string
			err := tx.queryRow(ctx, `UPDATE source_sync_chunks SET finished = TRUE WHERE id = ? AND NOT finished
				RETURNING storage_id, generation, objects`, id).Scan(&storageID, &generation, &objs)
			if errors.Is(err, sql.ErrNoRows) {
				continue // it finished meanwhile
			} else if err != nil {
				return err
			}
			if err := tx.queueChunk(ctx, storageID, generation, objs); err != nil {
				return err
			}
		}
		return nil
	})
}

// queueChunk records one chunk and enqueues its job, whose id the row
// keeps so that a chunk taken by a worker that died before its first ping
// still shows as started.
func (tx *Tx) queueChunk(ctx context.Context, storageID, generation int64, objs string) error {
	var id int64
	if err := tx.queryRow(ctx, `INSERT INTO source_sync_chunks (storage_id, generation, objects) VALUES (?, ?, ?) RETURNING id`,
		storageID, generation, objs).Scan(&id); err != nil {
		return err
	}
	res, err := tx.insertJob(ctx, blobmark.SyncFilesJob{ChunkID: id}, &river.InsertOpts{Queue: blobmark.QueueSyncFiles})
	if err != nil {
		return wrapInternal("enqueue sync chunk", err)
	}
	_, err = tx.exec(ctx, "UPDATE source_sync_chunks SET job_id = ? WHERE id = ?", res.Job.ID, id)
	return err
}

// PingSyncChunk counts a ping of the worker importing the chunk, and
// reports whether the chunk is still wanted: false once its sync has ended
// (cancelled, failed) or has queued its files again.
func (db *ChunkQueue) PingSyncChunk(ctx context.Context, id int64) (wanted bool, err error) {
	err = db.inTx(ctx, "ping sync chunk", func(tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE source_sync_chunks SET pings = pings + 1 WHERE id = ? AND NOT finished", id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		wanted = n == 1
		return err
	})
	return wanted, err
}

// SyncChunk returns a recorded chunk, or ENOTFOUND once its sync has ended
// and the rows are gone.
func (db *ChunkQueue) SyncChunk(ctx context.Context, id int64) (*importer.Chunk, error) {
	c := &importer.Chunk{ID: id}
	var objs string
	err := db.queryRow(ctx, `SELECT storage_id, generation, objects, finished FROM source_sync_chunks WHERE id = ?`, id).
		Scan(&c.StorageID, &c.Generation, &objs, &c.Finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("sync chunk")
	} else if err != nil {
		return nil, translate("find sync chunk", err)
	}
	if err := json.Unmarshal([]byte(objs), &c.Objects); err != nil {
		return nil, wrapInternal("decode sync chunk", err)
	}
	return c, nil
}

// FinishSyncChunk records what importing a chunk did, or failure, the error
// that stopped it as a whole, and marks it finished. A chunk finished
// already (a redelivered job) keeps its first counts.
func (db *ChunkQueue) FinishSyncChunk(ctx context.Context, id int64, p importer.Progress, failure error) error {
	failures := ""
	if len(p.Failures) > 0 {
		enc, err := json.Marshal(p.Failures)
		if err != nil {
			return wrapInternal("encode sync chunk failures", err)
		}
		failures = string(enc)
	}
	code, msg := "", ""
	if failure != nil {
		code, msg = blobmark.ErrorCode(failure), blobmark.ErrorMessage(failure)
	}
	var storageID int64
	err := db.inTx(ctx, "finish sync chunk", func(tx *Tx) error {
		err := tx.queryRow(ctx, `UPDATE source_sync_chunks SET finished = TRUE, files_read = ?, files_failed = ?,
			tasks_created = ?, tasks_existed = ?, tasks_updated = ?, tasks_kept = ?, tasks_removed = ?,
			tasks_marked_missing = ?, tasks_restored = ?, failures = ?, failure_count = ?, error_code = ?, error_message = ?
			WHERE id = ? AND NOT finished RETURNING storage_id`,
			p.FilesRead, p.FilesFailed, p.TasksCreated, p.TasksExisted, p.TasksUpdated, p.TasksKept, p.TasksRemoved,
			p.TasksMarkedMissing, p.TasksRestored, failures, int64(len(p.Failures))+p.FailuresOmitted, code, msg, id).Scan(&storageID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // finished already
		}
		return err
	})
	if err == nil && storageID != 0 {
		db.chunkFinishes.Finished(storageID)
	}
	return err
}

// ChunkFinished returns a channel closed once a chunk of storageID's syncs
// finishes in this process (importer.FanOut).
func (db *ChunkQueue) ChunkFinished(storageID int64) <-chan struct{} {
	return db.chunkFinishes.Wait(storageID)
}

// SyncChunks sums the chunks of one sync generation (importer.FanOut): the
// counters in SQL, the failures from the first chunks that have any, up to
// maxFailures, the first chunk error, and the ping counts of the unfinished
// chunks a worker has started (startedChunks).
func (db *ChunkQueue) SyncChunks(ctx context.Context, storageID, generation int64, maxFailures int) (importer.ChunkState, error) {
	var st importer.ChunkState
	p := &st.Progress
	var failureCount int64
	err := db.queryRow(ctx, `SELECT COALESCE(SUM(CASE WHEN finished THEN 0 ELSE 1 END), 0),
		COALESCE(SUM(files_read), 0), COALESCE(SUM(files_failed), 0), COALESCE(SUM(tasks_created), 0),
		COALESCE(SUM(tasks_existed), 0), COALESCE(SUM(tasks_updated), 0), COALESCE(SUM(tasks_kept), 0),
		COALESCE(SUM(tasks_removed), 0), COALESCE(SUM(tasks_marked_missing), 0), COALESCE(SUM(tasks_restored), 0),
		COALESCE(SUM(failure_count), 0)
		FROM source_sync_chunks WHERE storage_id = ? AND generation = ?`, storageID, generation).
		Scan(&st.Pending, &p.FilesRead, &p.FilesFailed, &p.TasksCreated, &p.TasksExisted, &p.TasksUpdated, &p.TasksKept,
			&p.TasksRemoved, &p.TasksMarkedMissing, &p.TasksRestored, &failureCount)
	if err != nil {
		return st, translate("sum sync chunks", err)
	}
	var code, msg string
	err = db.queryRow(ctx, `SELECT error_code, error_message FROM source_sync_chunks
		WHERE storage_id = ? AND generation = ? AND error_code <> '' ORDER BY id LIMIT 1`, storageID, generation).Scan(&code, &msg)
	switch {
	case err == nil:
		st.Err = &blobmark.Error{Code: code, Message: msg}
	case !errors.Is(err, sql.ErrNoRows):
		return st, translate("find sync chunk error", err)
	}
	if st.Pending > 0 {
		if st.Started, err = db.startedChunks(ctx, storageID, generation); err != nil {
			return st, err
		}
	}
	if failureCount > 0 {
		if err := db.chunkFailures(ctx, storageID, generation, maxFailures, p); err != nil {
			return st, err
		}
		p.FailuresOmitted = failureCount - int64(len(p.Failures))
	}
	return st, nil
}

// startedChunks returns the ping counts of the unfinished chunks of a
// generation that a worker has started: pinged, or with its job running (a
// worker may die between taking the job and its first ping).
func (db *ChunkQueue) startedChunks(ctx context.Context, storageID, generation int64) (map[int64]int64, error) {
	rows, err := db.query(ctx, `SELECT c.id, c.pings FROM source_sync_chunks c LEFT JOIN river_job j ON j.id = c.job_id
		WHERE c.storage_id = ? AND c.generation = ? AND NOT c.finished AND (c.pings > 0 OR j.state = ?)`,
		storageID, generation, string(rivertype.JobStateRunning))
	if err != nil {
		return nil, translate("find started sync chunks", err)
	}
	defer rows.Close()
	started := map[int64]int64{}
	for rows.Next() {
		var id, pings int64
		if err := rows.Scan(&id, &pings); err != nil {
			return nil, translate("find started sync chunks", err)
		}
		started[id] = pings
	}
	return started, translate("find started sync chunks", rows.Err())
}

// chunkFailures reads the failures of the first chunks that have any into
// p, keeping at most maxFailures.
func (db *ChunkQueue) chunkFailures(ctx context.Context, storageID, generation int64, maxFailures int, p *importer.Progress) error {
	rows, err := db.query(ctx, `SELECT failures FROM source_sync_chunks
		WHERE storage_id = ? AND generation = ? AND failures <> '' ORDER BY id LIMIT ?`, storageID, generation, maxFailures)
	if err != nil {
		return translate("read sync chunk failures", err)
	}
	defer rows.Close()
	for rows.Next() && len(p.Failures) < maxFailures {
		var enc string
		var fs []importer.Failure
		if err := rows.Scan(&enc); err != nil {
			return translate("read sync chunk failures", err)
		}
		if err := json.Unmarshal([]byte(enc), &fs); err != nil {
			return wrapInternal("decode sync chunk failures", err)
		}
		p.Failures = append(p.Failures, fs[:min(len(fs), maxFailures-len(p.Failures))]...)
	}
	return translate("read sync chunk failures", rows.Err())
}
