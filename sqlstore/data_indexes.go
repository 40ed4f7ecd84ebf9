package sqlstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// The Data Manager's filters and sorts on a task data field read one index
// per key, over every project's tasks: (project_id, the key's raw JSON value
// spelled as rawData spells it, id). On SQLite the index also carries the
// value's JSON type and the task's two counters, so that the exact total a
// page answers with (a count and two sums over the matching tasks) is read
// from the index alone, without a task's JSON being parsed. Sorting
// descending by the field reads the index backwards; ascending, with its
// missing values last, sorts the matching tasks.
//
// Saving a view enqueues blobmark.IndexDataFieldsJob for the keys it uses;
// a query on a key without an index gives the same answers, reading every
// task of the project.

// MaxDataIndexes bounds the data-field indexes: each one costs disk and a
// little time on every task write, and any member who may save a view
// names keys. Keys past the bound stay unindexed.
const MaxDataIndexes = 32

// dataIndexPrefix starts every data-field index's name; the rest is a hash
// of the key, so any key gives a valid, fixed-length name.
const dataIndexPrefix = "tasks_data_"

func dataIndexName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return dataIndexPrefix + hex.EncodeToString(sum[:8])
}

// dataIndexDDL creates the index of key.
func (d Dialect) dataIndexDDL(key string) string {
	name := dataIndexName(key)
	if d == Postgres {
		// CONCURRENTLY: annotators keep writing while it is built. NULLS
		// FIRST: read backwards, it gives the sort's DESC NULLS LAST.
		return fmt.Sprintf("CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON tasks (project_id, ((data::jsonb) -> %s) NULLS FIRST, id)",
			name, sqlString(key))
	}
	path := sqlString(`$."` + key + `"`)
	return fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON tasks (project_id, json_extract(data, %s), id, json_type(data, %s), total_annotations, total_predictions)",
		name, path, path)
}

// IndexDataFields builds the missing indexes of keys (see above), up to
// MaxDataIndexes in all; no keys means those of every saved view. On
// PostgreSQL an index whose concurrent build failed is dropped and built
// again. On SQLite the build holds the write lock: a few seconds per
// million tasks.
func (db *Views) IndexDataFields(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		var err error
		if keys, err = db.savedViewKeys(ctx); err != nil {
			return err
		}
	}
	have, err := db.dataIndexes(ctx)
	if err != nil {
		return err
	}
	for _, key := range keys {
		name := dataIndexName(key)
		valid, exists := have[name]
		switch {
		case valid:
		case exists: // a failed concurrent build left it invalid
			if _, err := db.write.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name); err != nil {
				return translate("drop invalid data index", err)
			}
			fallthrough
		case len(have) < MaxDataIndexes:
			if _, err := db.write.ExecContext(ctx, db.dialect.dataIndexDDL(key)); err != nil {
				return translate("index data field", err)
			}
			have[name] = true
		default:
			db.logger.WarnContext(ctx, "data field left unindexed: the bound on data-field indexes is reached",
				"key", key, "bound", MaxDataIndexes)
			continue
		}
		if db.dialect == Postgres {
			if err := db.fillFieldValues(ctx, key); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldValuesBatch is how many tasks one statement of fillFieldValues
// fills in: a short transaction, so writers are never held up for long.
const fieldValuesBatch = 20_000

// fillFieldValues registers key in data_fields (PostgreSQL: see migration
// 00019) and fills in the values of the tasks written before, then marks
// it ready. From the registration's commit on, the triggers keep every
// task written after; a transaction that wrote a task before it but is
// still open could commit after the fill read that task, so the fill
// first waits for every such transaction to end, as CREATE INDEX
// CONCURRENTLY does. Rows the triggers wrote meanwhile are newer and are
// kept.
func (db *Views) fillFieldValues(ctx context.Context, key string) error {
	var id int64
	var ready bool
	err := db.write.QueryRowContext(ctx, `INSERT INTO data_fields (key) VALUES ($1)
		ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING id, ready`, key).Scan(&id, &ready)
	if err != nil || ready {
		return translate("register data field", err)
	}
	if err := db.waitForOlderTransactions(ctx); err != nil {
		return err
	}
	for after := int64(0); ; {
		var last sql.NullInt64
		err := db.write.QueryRowContext(ctx, `WITH batch AS (
				SELECT id, project_id, data, total_annotations, total_predictions FROM tasks
				WHERE id > $1 ORDER BY id LIMIT $2),
			filled AS (
				INSERT INTO task_field_values (task_id, field_id, project_id, value, total_annotations, total_predictions)
				SELECT id, $3, project_id, data::jsonb -> $4, total_annotations, total_predictions FROM batch
				ON CONFLICT (task_id, field_id) DO NOTHING)
			SELECT MAX(id) FROM batch`, after, fieldValuesBatch, id, key).Scan(&last)
		if err != nil {
			return translate("fill data field values", err)
		}
		if !last.Valid {
			break
		}
		after = last.Int64
	}
	// A fill writes rows as fast as an import: vacuumed and analyzed at
	// once, they are counted from the index alone and planned for their
	// real number from the first page on, not after autovacuum's next
	// round.
	if _, err := db.write.ExecContext(ctx, "VACUUM (ANALYZE) task_field_values"); err != nil {
		return translate("fill data field values", err)
	}
	_, err = db.write.ExecContext(ctx, "UPDATE data_fields SET ready = TRUE WHERE id = $1", id)
	return translate("fill data field values", err)
}

// waitForOlderTransactions returns once every transaction that was open
// when it was called has ended.
func (db *Views) waitForOlderTransactions(ctx context.Context) error {
	var horizon string
	if err := db.write.QueryRowContext(ctx, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text").Scan(&horizon); err != nil {
		return translate("wait for open transactions", err)
	}
	for {
		var done bool
		err := db.write.QueryRowContext(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8", horizon).Scan(&done)
		if err != nil || done {
			return translate("wait for open transactions", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// savedViewKeys lists the data keys the live projects' views use, most
// used first, so that the bound keeps the indexes that serve most views.
func (db *Views) savedViewKeys(ctx context.Context) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT v.data FROM dm_views v JOIN projects p ON p.id = v.project_id
		WHERE p.deleted_at IS NULL`)
	if err != nil {
		return nil, translate("list view keys", err)
	}
	defer rows.Close()
	uses := map[string]int{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, translate("list view keys", err)
		}
		q, err := blobmark.ViewQuery(json.RawMessage(data))
		if err != nil {
			continue // saved by a version that checked less: it indexes nothing
		}
		for _, key := range q.DataKeys() {
			uses[key]++
		}
	}
	keys := slices.Collect(maps.Keys(uses))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(uses[b]-uses[a], strings.Compare(a, b)) })
	return keys, translate("list view keys", rows.Err())
}

// dataIndexes maps the names of the data-field indexes to whether each is
// usable.
func (db *Views) dataIndexes(ctx context.Context) (map[string]bool, error) {
	q := `SELECT name, 1 FROM sqlite_master WHERE type = 'index' AND name LIKE 'tasks\_data\_%' ESCAPE '\'`
	if db.dialect == Postgres {
		q = `SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relname LIKE 'tasks\_data\_%'`
	}
	rows, err := db.read.QueryContext(ctx, q)
	if err != nil {
		return nil, translate("list data indexes", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		var valid bool
		if err := rows.Scan(&name, &valid); err != nil {
			return nil, translate("list data indexes", err)
		}
		have[name] = valid
	}
	return have, translate("list data indexes", rows.Err())
}

// indexViewFields enqueues the indexing of the data keys q uses, in tx.
func indexViewFields(ctx context.Context, tx *Tx, q *blobmark.TaskQuery) error {
	if keys := q.DataKeys(); len(keys) > 0 {
		return tx.InsertJob(ctx, blobmark.IndexDataFieldsJob{Keys: keys}, nil)
	}
	return nil
}
