//go:build unix

package sqlstore

import (
	"context"
	"os"
	"syscall"
)

// lockMigrations serialises migrations of one SQLite file across processes (a
// `blobmark migrate` beside a starting server): goose reads the schema
// version before its transaction, so two migrators would both apply version 1.
// The lock is an flock on a file beside the database, released by the kernel
// if the process dies.
func (db *DB) lockMigrations(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(db.path+".migrate-lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, wrapInternal("migrate: lock", err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, wrapInternal("migrate: lock", err)
		}
	case <-ctx.Done():
		// Closing the file releases the lock if the flock goroutine gets it late.
		go func() { <-done; f.Close() }()
		return nil, translate("migrate: lock", ctx.Err())
	}
	return func() { f.Close() }, nil
}
