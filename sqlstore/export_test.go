package sqlstore

// EnqueueIfDue is the scheduler's per-storage step, for tests that run it
// after another replica has acted on the storage since the due list was
// read.
var EnqueueIfDue = (*DB).enqueueIfDue
