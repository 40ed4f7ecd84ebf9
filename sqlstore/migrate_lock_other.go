//go:build !unix

package sqlstore

import "context"

// lockMigrations does nothing where flock does not exist: there, run
// `blobmark migrate` before starting more than one process on a new SQLite
// file.
func (db *DB) lockMigrations(ctx context.Context) (unlock func(), err error) {
	return func() {}, nil
}
