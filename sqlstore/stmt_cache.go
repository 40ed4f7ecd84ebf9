package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCacheSize bounds a statement cache. The store's own queries number a
// few hundred; Data Manager filters build more shapes, and a cache that
// filled up with rare ones starts again from empty rather than growing.
const stmtCacheSize = 512

// stmtCache keeps SQLite statements prepared, by query text, for the life
// of a pool. SQLite parses and plans every statement it is handed, and under
// load that parsing was a third of the server's CPU: the label stream and
// the access checks run the same few statements thousands of times a
// second. database/sql keeps a cached *sql.Stmt prepared on each connection
// it has run on, and a transaction reuses it (Tx.StmtContext), so after the
// first use a query costs only its bind and step. PostgreSQL needs no cache
// of ours: pgx keeps its own per connection.
//
// The writer's pool has a single connection, held by the transaction that
// runs the query, so a statement cannot be prepared on the pool there and
// then: the writer's cache notes what it missed, and warm prepares those
// once the transaction has let the connection go.
type stmtCache struct {
	pool   *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	missed map[string]bool
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, m: map[string]*sql.Stmt{}, missed: map[string]bool{}}
}

// lookup returns query's cached statement, or nil after noting the miss
// for warm. A nil cache caches nothing.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.m[query]
	if st == nil && len(c.missed) < stmtCacheSize {
		c.missed[query] = true
	}
	return st
}

// get returns query prepared on the pool, preparing it now on a miss; nil
// when it cannot be prepared (the caller then runs it unprepared, which
// reports the error as usual).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if st := c.lookup(query); st != nil || c == nil {
		return st
	}
	c.warm(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// warm prepares the statements missed since it last ran.
func (c *stmtCache) warm(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	missed := c.missed
	c.missed = map[string]bool{}
	c.mu.Unlock()
	for query := range missed {
		st, err := c.pool.PrepareContext(ctx, query)
		if err != nil {
			continue
		}
		c.keep(query, st)
	}
}

// keep caches st for query, unless another caller prepared it meanwhile.
func (c *stmtCache) keep(query string, st *sql.Stmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[query] != nil {
		_ = st.Close()
		return
	}
	if len(c.m) >= stmtCacheSize {
		// Closing is safe while others use a statement: database/sql
		// finalises it only once their rows are closed.
		for q, old := range c.m {
			_ = old.Close()
			delete(c.m, q)
		}
	}
	c.m[query] = st
}

// close closes every cached statement, before the pool itself.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}
