package sqlstore

// The store is the importer's Sink. sqlstore imports package importer only
// for the Sink's types: importer is a pure domain package (standard library
// and package blobmark only), so this adds no outside dependency.

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
)

// SourceLinks holds what an import storage has made of each blob: the links from blob keys to tasks, and the batched writes that create, rewrite or retire those tasks.
type SourceLinks struct {
	*core
}

// Interface check: the store is the sync engine's Sink.
var _ importer.Sink = (*DB)(nil)

// maxKeysPerQuery bounds the keys of one IN list: a whole listing page, so
// a page costs one lookup, well under both databases' parameter limits.
const maxKeysPerQuery = 5000

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// linkQuerier is a read pool or a transaction.
type linkQuerier func(ctx context.Context, q string, args ...any) (resultRows, error)

// keysIn returns the predicate that restricts column to keys, and its
// arguments. On PostgreSQL the keys travel as one text[]: a 5,000-parameter
// IN list there becomes a prepared statement whose generic plan compares
// every row of the storage with every key (measured: a 100k-key sync 30×
// slower than its listing), whereas a semi-join on unnest is planned as
// index or hash lookups. SQLite looks an IN list up through the index.
func keysIn(d Dialect, column string, keys []string) (string, []any) {
	if d == Postgres {
		return column + " IN (SELECT unnest(?::text[]))", []any{keys}
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	return column + " IN (" + placeholders(len(keys)) + ")", args
}

// readLinks returns the links of keys, keyed by key, with all their rows.
func readLinks(ctx context.Context, d Dialect, query linkQuerier, storageID int64, keys []string) (map[string]*importer.Link, error) {
	out := map[string]*importer.Link{}
	for start := 0; start < len(keys); start += maxKeysPerQuery {
		in, keyArgs := keysIn(d, "l.key", keys[start:min(start+maxKeysPerQuery, len(keys))])
		rows, err := query(ctx, `SELECT l.key, l.row_index, l.task_id, l.etag, l.size, l.missing,
			t.total_annotations + t.cancelled_annotations FROM source_storage_links l JOIN tasks t ON t.id = l.task_id
			WHERE l.storage_id = ? AND `+in+` ORDER BY l.key, l.row_index`, append([]any{storageID}, keyArgs...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var key, etag string
			var r importer.LinkRow
			var size int64
			var annotations int
			if err := rows.Scan(&key, &r.Row, &r.TaskID, &etag, &size, &r.Missing, &annotations); err != nil {
				rows.Close()
				return nil, err
			}
			r.Annotated = annotations > 0
			l := out[key]
			if l == nil {
				l = &importer.Link{Key: key, ETag: etag, Size: size}
				out[key] = l
			}
			l.Rows = append(l.Rows, r)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ExistingLinks returns the links of keys that exist for the storage.
func (db *SourceLinks) ExistingLinks(ctx context.Context, storageID int64, keys []string) (map[string]*importer.Link, error) {
	out, err := readLinks(ctx, db.dialect, db.query, storageID, keys)
	return out, translate("existing links", err)
}

// StaleLinks returns, in key order, up to limit keys after after whose links
// are older than generation, with all their rows.
func (db *SourceLinks) StaleLinks(ctx context.Context, storageID, generation int64, after string, limit int) ([]*importer.Link, error) {
	rows, err := db.query(ctx, `SELECT DISTINCT key FROM source_storage_links WHERE storage_id = ? AND key > ?
		AND generation < ? ORDER BY key LIMIT ?`, storageID, after, generation, limit)
	if err != nil {
		return nil, translate("stale links", err)
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, translate("stale links", err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	links, err := readLinks(ctx, db.dialect, db.query, storageID, keys)
	if err != nil {
		return nil, translate("stale links", err)
	}
	out := make([]*importer.Link, 0, len(keys))
	for _, k := range keys {
		if l := links[k]; l != nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// linkColumns are the columns of a new link row, in bind order.
var linkColumns = []string{"storage_id", "key", "row_index", "task_id", "etag", "size", "generation", "missing", "created_at"}

// WriteBatch applies b in one transaction; see importer.Batch.
//
// b.Create holds keys the sync found without a link, and almost always
// they still have none: the batch is written as if so, without reading
// the links again. If another writer created some of them meanwhile (a
// retried batch, a sync chunk taken over while its first worker still
// writes), a link's key conflicts, the transaction rolls back whole, and
// the batch is written again, skipping the links that exist by then.
func (db *SourceLinks) WriteBatch(ctx context.Context, storageID int64, b *importer.Batch) (importer.BatchResult, error) {
	res, err := db.writeBatch(ctx, storageID, b, false)
	if blobmark.ErrorCode(err) == blobmark.ECONFLICT && len(b.Create) > 0 {
		res, err = db.writeBatch(ctx, storageID, b, true)
	}
	return res, err
}

// writeBatch applies b in one transaction; with recheck, the tasks of
// b.Create whose link exists are left out.
func (db *SourceLinks) writeBatch(ctx context.Context, storageID int64, b *importer.Batch, recheck bool) (importer.BatchResult, error) {
	var res importer.BatchResult
	err := db.inTx(ctx, "write sync batch", func(tx *Tx) error {
		res = importer.BatchResult{}
		// On PostgreSQL the storage's row is locked as a link's foreign key
		// check would lock it, once for the batch: a storage deleted
		// meanwhile waits for the batch, then takes its links with it. A
		// batch written again after a conflict locks it whole instead: it
		// waits for every batch of the storage still being written, so that
		// it reads their links (unlinked), and the next wait for it. SQLite's
		// single writer serialises them all.
		q := "SELECT project_id FROM source_storages WHERE id = ?"
		if tx.db.dialect == Postgres && recheck {
			q += " FOR UPDATE"
		} else if tx.db.dialect == Postgres {
			q += " FOR KEY SHARE"
		}
		var projectID int64
		if err := tx.queryRow(ctx, q, storageID).Scan(&projectID); errors.Is(err, sql.ErrNoRows) {
			return notFound("storage")
		} else if err != nil {
			return err
		}
		if err := tx.createLinked(ctx, projectID, storageID, b, recheck, &res); err != nil {
			return err
		}
		for _, u := range b.Update {
			if err := tx.rewriteTask(ctx, projectID, u, &res); err != nil {
				return err
			}
		}
		for _, v := range b.Versions {
			if _, err := tx.exec(ctx, "UPDATE source_storage_links SET etag = ?, size = ? WHERE storage_id = ? AND key = ?",
				v.ETag, v.Size, storageID, v.Key); err != nil {
				return err
			}
		}
		for start := 0; start < len(b.Seen); start += maxKeysPerQuery {
			in, keyArgs := keysIn(tx.db.dialect, "key", b.Seen[start:min(start+maxKeysPerQuery, len(b.Seen))])
			if _, err := tx.exec(ctx, "UPDATE source_storage_links SET generation = ? WHERE storage_id = ? AND "+in,
				append([]any{b.Generation, storageID}, keyArgs...)...); err != nil {
				return err
			}
		}
		for _, id := range b.Restore {
			r, err := tx.exec(ctx, "UPDATE source_storage_links SET missing = ? WHERE storage_id = ? AND task_id = ? AND missing = ?",
				false, storageID, id, true)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n > 0 {
				res.Restored++
			}
		}
		for _, id := range b.MarkMissing {
			n, err := tx.markMissing(ctx, storageID, id)
			if err != nil {
				return err
			}
			res.Marked += n
		}
		for _, id := range b.Remove {
			if err := tx.removeTask(ctx, storageID, id, &res); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return importer.BatchResult{}, err
	}
	return res, nil
}

// markMissing marks the link of an annotated task whose blob is gone.
func (tx *Tx) markMissing(ctx context.Context, storageID, taskID int64) (int, error) {
	r, err := tx.exec(ctx, "UPDATE source_storage_links SET missing = ? WHERE storage_id = ? AND task_id = ? AND missing = ?",
		true, storageID, taskID, false)
	if err != nil {
		return 0, err
	}
	n, _ := r.RowsAffected()
	return int(min(n, 1)), nil
}

// removeTask deletes an unannotated task whose blob is gone (its link goes
// by cascade), or marks it missing if it was annotated meanwhile.
func (tx *Tx) removeTask(ctx context.Context, storageID, taskID int64, res *importer.BatchResult) error {
	var projectID int64
	var predictions int
	err := tx.queryRow(ctx, `DELETE FROM tasks WHERE id = ? AND total_annotations = 0 AND cancelled_annotations = 0
		RETURNING project_id, total_predictions`, taskID).Scan(&projectID, &predictions)
	if errors.Is(err, sql.ErrNoRows) {
		n, err := tx.markMissing(ctx, storageID, taskID)
		res.Marked += n
		return err
	} else if err != nil {
		return err
	}
	if err := tx.addCounts(ctx, projectID, counts{tasks: -1, predictions: -predictions}); err != nil {
		return err
	}
	res.Removed++
	return tx.fire(ctx, Event{Kind: TaskDeleted, ProjectID: projectID, TaskID: taskID})
}

// createLinked creates the tasks of b.Create with their links,
// annotations and predictions; with recheck, only those whose link row does
// not exist yet. It is the one writer of link rows, each in the transaction
// that creates its task: on PostgreSQL no foreign key checks that the task
// or the storage exists (migration 00023).
func (tx *Tx) createLinked(ctx context.Context, projectID, storageID int64, b *importer.Batch, recheck bool, res *importer.BatchResult) error {
	todo := b.Create
	if recheck {
		var err error
		if todo, err = tx.unlinked(ctx, storageID, b.Create); err != nil {
			return err
		}
	}
	if len(todo) == 0 {
		return nil
	}
	imports := make([]*blobmark.TaskImport, len(todo))
	for i := range todo {
		imports[i] = todo[i].Task
	}
	ids, err := tx.insertTasks(ctx, projectID, imports)
	if err != nil {
		return err
	}
	now := tx.db.timestamp()
	err = tx.bulkInsert(ctx, "source_storage_links", linkColumns, "", len(todo), func(i int, args []any) []any {
		c := &todo[i]
		return append(args, storageID, c.Key, c.Row, ids[i], c.ETag, c.Size, b.Generation, false, now)
	}, nil)
	if err != nil {
		return err
	}
	res.Created += len(todo)
	return tx.fire(ctx, Event{Kind: TasksImported, ProjectID: projectID, TaskIDs: ids})
}

// unlinked returns the entries of create whose link row does not exist.
func (tx *Tx) unlinked(ctx context.Context, storageID int64, create []importer.NewTask) ([]importer.NewTask, error) {
	keys := make([]string, 0, len(create))
	for i := range create {
		if i == 0 || create[i].Key != create[i-1].Key {
			keys = append(keys, create[i].Key)
		}
	}
	existing, err := readLinks(ctx, tx.db.dialect, tx.query, storageID, keys)
	if err != nil {
		return nil, err
	}
	todo := make([]importer.NewTask, 0, len(create))
	for _, c := range create {
		if l := existing[c.Key]; l != nil && hasRow(l, c.Row) {
			continue // the link makes a retried batch idempotent
		}
		todo = append(todo, c)
	}
	return todo, nil
}

func hasRow(l *importer.Link, row int) bool {
	for _, r := range l.Rows {
		if r.Row == row {
			return true
		}
	}
	return false
}

// rewriteTask replaces an unannotated task's data, meta and (when given)
// predictions from its changed file, and adds the annotations the file
// carries, as a first import of the row would have; an annotated task is
// kept.
func (tx *Tx) rewriteTask(ctx context.Context, projectID int64, u importer.TaskRewrite, res *importer.BatchResult) error {
	p, err := prepareImport(ctx, []*blobmark.TaskImport{u.Task}, 0)
	if err != nil {
		return err
	}
	rows, anns, preds := p.rows, p.anns, p.preds
	r, err := tx.exec(ctx, `UPDATE tasks SET data = ?, meta = ?, updated_at = ? WHERE id = ?
		AND total_annotations = 0 AND cancelled_annotations = 0`, rows[0].data, rows[0].meta, tx.db.timestamp(), u.TaskID)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		var one int
		if err := tx.queryRow(ctx, "SELECT 1 FROM tasks WHERE id = ?", u.TaskID).Scan(&one); err == nil {
			res.Kept++
		}
		return nil
	}
	if u.Task.Predictions != nil {
		if err := tx.replacePredictions(ctx, projectID, u.TaskID, preds); err != nil {
			return err
		}
	}
	if len(anns) > 0 {
		if err := tx.addImportedAnnotations(ctx, projectID, u.TaskID, rows[0], anns); err != nil {
			return err
		}
	}
	res.Updated++
	return tx.fire(ctx, Event{Kind: TaskUpdated, ProjectID: projectID, TaskID: u.TaskID})
}

// replacePredictions replaces a task's predictions, keeping the counters.
func (tx *Tx) replacePredictions(ctx context.Context, projectID, taskID int64, preds []importPrediction) error {
	var old int
	if err := tx.queryRow(ctx, "SELECT total_predictions FROM tasks WHERE id = ?", taskID).Scan(&old); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "DELETE FROM predictions WHERE task_id = ?", taskID); err != nil {
		return err
	}
	if err := tx.insertPredictions(ctx, projectID, preds, func(int) int64 { return taskID }, tx.db.timestamp()); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "UPDATE tasks SET total_predictions = ? WHERE id = ?", len(preds), taskID); err != nil {
		return err
	}
	return tx.addCounts(ctx, projectID, counts{predictions: len(preds) - old})
}

// addImportedAnnotations stores the annotations of a rewritten task, which
// had none, with the task's and the project's counters set as insertTasks
// sets them for a new task. Like a first import, it enqueues no export: the
// annotations come from the source, they are not new work.
func (tx *Tx) addImportedAnnotations(ctx context.Context, projectID, taskID int64, row importRow, anns []importAnnotation) error {
	withAnnotations := 0
	if row.total > 0 {
		withAnnotations = 1
	}
	labeling, err := tx.labelingOf(ctx, projectID)
	if err != nil {
		return err
	}
	if err := tx.addCounts(ctx, projectID, counts{annotations: row.total, withAnnotations: withAnnotations}); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "UPDATE tasks SET total_annotations = ?, cancelled_annotations = ?, is_labeled = ? WHERE id = ?",
		row.total, row.cancelled, labeling.TaskIsLabeled(row.total, row.cancelled), taskID); err != nil {
		return err
	}
	return tx.insertAnnotations(ctx, projectID, anns, func(int) int64 { return taskID }, tx.db.timestamp())
}
