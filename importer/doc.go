// Package importer is blobmark's import ("source storage") sync engine: it
// turns a listing of blobs into task rows, page by page, in Label Studio's
// two import methods (Files: one task per blob; Tasks: JSON, JSON array or
// JSONL task files), detects changed and deleted blobs, and isolates bad
// files so one of them never fails a whole sync.
//
// Task files are read in Label Studio's import format by lswire; the size
// limit on them is the sync's own.
//
// It imports only the standard library, the domain package and lswire
// (Label Studio's import format, shared with the REST API). The Azure
// connector and the SQL store are wired to it by thin adapters through the
// small interfaces defined here (Lister, Opener, Sink, EventQueue), so it
// can be tested without either.
package importer
