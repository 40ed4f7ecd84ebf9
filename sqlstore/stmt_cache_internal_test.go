package sqlstore

import (
	"context"
	"fmt"
	"testing"
)

// TestStatementCache checks that SQLite reads and writes run from prepared
// statements after their first use, that a write missed inside a
// transaction is prepared once the writer is free, and that the cache stays
// bounded without changing any answer.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cached := func(c *stmtCache, q string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.m[q] != nil
	}

	const read = "SELECT COUNT(*) FROM projects WHERE id > ?"
	var n int
	if err := db.queryRow(ctx, read, 0).Scan(&n); err != nil || n != 0 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if !cached(db.readStmts, read) {
		t.Fatal("a read was not kept prepared")
	}

	const write = "UPDATE organizations SET title = title WHERE id = ?"
	for round := range 2 {
		err := db.inTx(ctx, "touch", func(tx *Tx) error {
			if got := cached(db.writeStmts, write); got != (round > 0) {
				t.Errorf("round %d: cached before the statement ran = %v", round, got)
			}
			res, err := tx.exec(ctx, write, 1)
			if err != nil {
				return err
			}
			if rows, _ := res.RowsAffected(); rows != 1 {
				t.Errorf("round %d: %d rows updated, want 1", round, rows)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !cached(db.writeStmts, write) {
			t.Fatalf("round %d: the write was not prepared after its transaction", round)
		}
	}

	for i := range stmtCacheSize + 10 {
		var got int
		if err := db.queryRow(ctx, fmt.Sprintf("SELECT %d + ?", i), 1).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("query %d = %d, %v", i, got, err)
		}
	}
	db.readStmts.mu.Lock()
	size := len(db.readStmts.m)
	db.readStmts.mu.Unlock()
	if size > stmtCacheSize {
		t.Fatalf("the cache holds %d statements, more than its bound %d", size, stmtCacheSize)
	}
	if err := db.queryRow(ctx, read, 0).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after eviction: count = %d, %v", n, err)
	}
}
