package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// checkpointEvery is how often the checkpointer copies SQLite's write-ahead
// log back into the database file. A checkpoint with nothing to copy costs
// one cheap statement; a fifth of a second keeps the log about as short as
// SQLite's own default of 1,000 pages does under a steady stream of writes.
const checkpointEvery = 200 * time.Millisecond

// startCheckpointer takes WAL checkpoints off the commit path. By default
// SQLite checkpoints inside the commit that pushes the log past 1,000
// pages, so every few hundred commits one request waited 10–35 ms for the
// copy and its sync while every other writer queued behind it: that was
// the label stream's p99. The writer runs with wal_autocheckpoint(0), and
// this goroutine runs PASSIVE checkpoints on a connection of its own, which
// never wait for the writer or for readers. It stops with the store.
func (db *core) startCheckpointer(dsn string) error {
	conn, err := sql.Open("sqlite", dsn)
	if err != nil {
		return wrapInternal("open sqlite checkpointer", err)
	}
	conn.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(checkpointEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil {
				db.logger.Warn("sqlite checkpoint failed; the write-ahead log grows until one succeeds", "err", err)
			}
		}
	}()
	db.stopCheckpointer = func() error {
		cancel()
		<-done
		return conn.Close()
	}
	return nil
}
