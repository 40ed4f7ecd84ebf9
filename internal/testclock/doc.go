// Package testclock is a clock that tests move by hand, for stores and
// schedulers that take a blobmark.Clock: time-dependent rules (due syncs,
// stale chunks) are then tested at exact instants, never by waiting.
//
// It imports only the standard library.
package testclock
