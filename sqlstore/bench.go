package sqlstore

import (
	"context"
	"time"
)

// BareInsertTasks inserts one task row per element of data into project
// projectID with nothing but batched multi-row INSERTs in one transaction:
// the same rows, schema and statement size as ImportTasks, without
// validation, id read-back, counters or hooks. It is the physical limit that
// import benchmarks divide by, and it leaves the project's counters and
// inner-id sequence stale, so use it on benchmark data only. Inner ids start
// at firstInnerID and must not collide with the project's existing ones.
func (db *Tasks) BareInsertTasks(ctx context.Context, projectID, firstInnerID int64, data []string) error {
	now := time.Now().UTC()
	return db.inTx(ctx, "bare insert tasks", func(tx *Tx) error {
		return tx.bulkInsert(ctx, "tasks", taskImportColumns, "", len(data), func(i int, args []any) []any {
			return append(args, projectID, firstInnerID+int64(i), data[i], "{}", false, 0, 0, 0, now, now)
		}, nil)
	})
}
