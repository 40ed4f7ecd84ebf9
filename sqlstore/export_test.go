package sqlstore

// EnqueueIfDue is the scheduler's per-storage step, for tests that run it
// after another replica has acted on the storage since the due list was
// read.
var EnqueueIfDue = (*DB).enqueueIfDue

// PrependHook makes h run before the store's own hooks in the transaction
// of every later domain write, for tests that need a write to fail after
// its jobs were enqueued. Call it before the store is used.
func PrependHook(db *DB, h Hook) { db.hooks = append([]Hook{h}, db.hooks...) }
