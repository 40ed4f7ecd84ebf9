package exporter

import "github.com/blobmark/blobmark"

// Classify tells the job layer what to do with an export error: retry it
// later with backoff (true), or stop and fail the storage with
// blobmark.ErrorMessage(err) as its visible status message (false).
//
// The split follows who can fix the problem:
//   - EUNAVAILABLE (Azure down or throttling), EINTERNAL (anything
//     unexpected, including a database hiccup or a cancelled context when
//     the process stops) and ECONFLICT (a lease or a concurrent change on
//     the blob) fix themselves: retry.
//   - EUNAUTHORIZED, EFORBIDDEN (credentials or RBAC role), EINVALID
//     (configuration), ENOTIMPLEMENTED (an operation the storage's setup
//     cannot do), ENOTFOUND (the container does not exist: a missing blob
//     on delete and a deleted annotation are handled inside this package
//     and never reach the job) and ETOOLARGE need a person: retrying would
//     only repeat the failure, so the storage shows it instead, and the next
//     successful sync catches up on what was missed.
//
// A nil error needs no retry.
func Classify(err error) (retry bool) {
	switch blobmark.ErrorCode(err) {
	case blobmark.EUNAVAILABLE, blobmark.EINTERNAL, blobmark.ECONFLICT:
		return true
	default:
		return false
	}
}
