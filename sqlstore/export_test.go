package sqlstore

import (
	"context"
	"time"
)

// EnqueueIfDue is the scheduler's per-storage step for source syncs, for
// tests that run it after another replica has acted on the storage since
// the due list was read.
func EnqueueIfDue(db *DB, ctx context.Context, id int64, minutes int, now time.Time, tick time.Duration) (bool, error) {
	return db.claimDue(ctx, sourceSyncSchedule, id, minutes, now, tick)
}

// PrependHook makes h run before the store's own hooks in the transaction
// of every later domain write, for tests that need a write to fail after
// its jobs were enqueued. Call it before the store is used.
func PrependHook(db *DB, h Hook) { db.hooks = append([]Hook{h}, db.hooks...) }

// EnqueueDatasetExportIfDue is EnqueueIfDue for dataset exports.
func EnqueueDatasetExportIfDue(db *DB, ctx context.Context, id int64, minutes int, now time.Time, tick time.Duration) (bool, error) {
	return db.claimDue(ctx, datasetExportSchedule, id, minutes, now, tick)
}
