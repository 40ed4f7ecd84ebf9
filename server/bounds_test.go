package server

import (
	"testing"
	"time"

	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
)

// TestJobBounds checks how the rescue timeout bounds syncs and their
// chunks, and how the chunk size depends on the database: each bound must
// stay under the one it protects, or a live job is taken for dead.
func TestJobBounds(t *testing.T) {
	for _, c := range []struct {
		rescue      time.Duration
		sync, stale time.Duration
	}{
		{0, 0, importer.DefaultChunkStaleAfter},                        // River's default rescue: jobs.SyncTimeout applies
		{time.Hour, 48 * time.Minute, importer.DefaultChunkStaleAfter}, // 80% of the rescue, under jobs.SyncTimeout
		{10 * time.Minute, 8 * time.Minute, importer.DefaultChunkStaleAfter},
		{15 * time.Second, 12 * time.Second, 3 * time.Second}, // a quarter of the sync bound
	} {
		if got := syncBound(c.rescue); got != c.sync {
			t.Errorf("syncBound(%s) = %s, want %s", c.rescue, got, c.sync)
		}
		if got := chunkStale(c.rescue); got != c.stale {
			t.Errorf("chunkStale(%s) = %s, want %s", c.rescue, got, c.stale)
		}
	}
	if syncBound(2*time.Hour) != 0 || jobs.SyncTimeout >= time.Hour {
		t.Error("a rescue longer than jobs.SyncTimeout must leave it in force, and it must stay under River's default hour")
	}
	for _, c := range []struct {
		n    int
		d    sqlstore.Dialect
		want int
	}{
		{0, sqlstore.Postgres, importer.DefaultChunkFiles},
		{0, sqlstore.SQLite, 0},
		{-1, sqlstore.Postgres, 0},
		{40, sqlstore.SQLite, 40},
	} {
		if got := chunkFiles(c.n, c.d); got != c.want {
			t.Errorf("chunkFiles(%d, %v) = %d, want %d", c.n, c.d, got, c.want)
		}
	}
}
