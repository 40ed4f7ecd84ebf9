// Package sqlstore stores blobmark's domain in SQLite, through database/sql,
// or PostgreSQL, through pgx's own API (its pool, COPY and pipelined
// batches), and runs the River job queue on the same database.
//
// Both dialects share every query: the differences (placeholders, column
// types, how a connection is configured, which driver runs a statement)
// sit behind a small seam (Tx's exec, query and queryRow), so a fix to a
// query is a fix on both stores, and one conformance suite (storetest)
// checks both.
//
// A *DB holds the River client too, because River needs the same driver and
// because a domain write and the jobs it causes must commit in one
// transaction: deleting a project and enqueueing its purge either both happen
// or neither does.
//
// It imports the domain package, seal (secrets at rest), the interfaces and
// rows of the engines it stores for (importer, exporter), the database
// drivers, goose and River; never the Azure connector, the job workers or
// the HTTP API.
package sqlstore
