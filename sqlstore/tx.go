package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Tx is one store transaction, handed to hooks so that what they write — above
// all the jobs they enqueue — commits or rolls back with the domain write that
// caused it.
type Tx struct {
	// Exactly one of tx and pg is set: tx on SQLite, through database/sql;
	// pg on PostgreSQL, through pgx's own API, so that a bulk insert copies
	// rows (copyRows) and statements go together in pipelines (pipeline)
	// on the transaction's connection.
	tx *sql.Tx
	pg pgx.Tx
	db *core
	// kept holds SQLite statements prepared or bound for the rest of the
	// transaction (prepareKept, cached); the transaction closes them when
	// it ends. pgx keeps PostgreSQL's prepared statements per connection
	// itself.
	kept map[string]*sql.Stmt
	// numbered holds the task numbers tx took on PostgreSQL, in order
	// (takeTaskNumbers), to give back if it rolls back.
	numbered []numberRange
}

// InsertJob enqueues a River job in this transaction: it becomes visible to
// workers only if the transaction commits.
func (tx *Tx) InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := tx.insertJob(ctx, args, opts); err != nil {
		return wrapInternal("enqueue "+args.Kind(), err)
	}
	return nil
}

// insertJob enqueues a River job in tx through the insert-only client of
// tx's driver.
func (tx *Tx) insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if tx.pg != nil {
		return tx.db.riverPG.InsertTx(ctx, tx.pg, args, opts)
	}
	return tx.db.river.InsertTx(ctx, tx.tx, args, opts)
}

// riverExecutor is River's driver on tx, for the queue's own queries.
func (tx *Tx) riverExecutor() riverdriver.ExecutorTx {
	if tx.pg != nil {
		return riverpgxv5.New(nil).UnwrapExecutor(tx.pg)
	}
	return tx.db.riverDriver().UnwrapExecutor(tx.tx)
}

// EventKind names a domain write that hooks can react to.
type EventKind string

// The domain writes that run hooks. Annotation exports (target_storage.go)
// and webhook deliveries (webhooks.go) are enqueued from them.
const (
	ProjectCreated    EventKind = "project.created"
	ProjectUpdated    EventKind = "project.updated"
	ProjectDeleted    EventKind = "project.deleted"
	TasksImported     EventKind = "tasks.imported"
	TaskUpdated       EventKind = "task.updated"
	TaskDeleted       EventKind = "task.deleted"
	AnnotationCreated EventKind = "annotation.created"
	AnnotationUpdated EventKind = "annotation.updated"
	AnnotationDeleted EventKind = "annotation.deleted"
)

// Event describes a domain write to the hooks that run in its transaction.
// IDs that do not apply are zero.
type Event struct {
	Kind         EventKind
	ProjectID    int64
	TaskID       int64
	AnnotationID int64
	// TaskIDs lists the tasks an import created, in import order.
	TaskIDs []int64
}

// Hook runs inside the transaction of a domain write, after the write. An
// error rolls the whole transaction back and is returned to the caller.
type Hook func(ctx context.Context, tx *Tx, ev Event) error

// inTx runs fn in a write transaction and commits it when fn succeeds, so
// every store write and the hooks it fires are all-or-nothing.
func (db *core) inTx(ctx context.Context, op string, fn func(tx *Tx) error) (err error) {
	tx, err := db.begin(ctx, op)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			tx.rollback(ctx, op)
			panic(p)
		}
		if err != nil {
			tx.rollback(ctx, op)
		}
	}()
	if err = fn(tx); err != nil {
		return translate(op, err)
	}
	if err = tx.commit(ctx); err != nil {
		return translate(op+": commit", err)
	}
	db.writeStmts.warm(context.WithoutCancel(ctx))
	return nil
}

// begin starts a write transaction, for writes that cannot run inside one
// callback (inTx is the usual way). Commit or roll it back.
func (db *core) begin(ctx context.Context, op string) (*Tx, error) {
	if db.pool != nil {
		pg, err := db.pool.Begin(ctx)
		if err != nil {
			return nil, translate(op+": begin", err)
		}
		return &Tx{pg: pg, db: db}, nil
	}
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(op+": begin", err)
	}
	return &Tx{tx: sqlTx, db: db}, nil
}

// commit commits tx. The task numbers it took are the commit's from then
// on, even if it fails: the commit may have reached the database.
func (tx *Tx) commit(ctx context.Context) error {
	tx.numbered = nil
	if tx.pg != nil {
		return tx.pg.Commit(ctx)
	}
	return tx.tx.Commit()
}

// rollback rolls tx back, unless it has ended (a cancelled context ends
// it), and gives back the task numbers it took, unless it was committed.
// Numbers given back while the rollback is still under way are safe: an
// import that takes them again waits on the unique index of task numbers
// until the rows are gone.
func (tx *Tx) rollback(ctx context.Context, op string) {
	var err error
	if tx.pg != nil {
		// Even for a cancelled caller: the connection goes back to the
		// pool clean, not closed.
		err = tx.pg.Rollback(context.WithoutCancel(ctx))
	} else {
		err = tx.tx.Rollback()
	}
	if err != nil && !errors.Is(err, sql.ErrTxDone) && !errors.Is(err, pgx.ErrTxClosed) && ctx.Err() == nil {
		tx.db.logger.WarnContext(ctx, "rollback failed", "op", op, "err", err)
	}
	if len(tx.numbered) > 0 {
		tx.db.giveBackNumbers(ctx, tx.numbered)
	}
}

// resultRows are the rows of a query on either driver: *sql.Rows, or pgx's
// (pgxRows).
type resultRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// resultRow is the one row of a query on either driver: *sql.Row, or
// pgx's. Its Scan reports a missing row as sql.ErrNoRows (pgx.ErrNoRows
// wraps it).
type resultRow interface {
	Scan(dest ...any) error
}

// pgxRows are pgx's rows as resultRows.
type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}

// sqlRows and pgRows return a query's rows as resultRows, nil with an
// error.
func sqlRows(r *sql.Rows, err error) (resultRows, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

func pgRows(r pgx.Rows, err error) (resultRows, error) {
	if err != nil {
		return nil, err
	}
	return pgxRows{r}, nil
}

// pgxResult is what a pgx statement did, as database/sql's sql.Result.
type pgxResult pgconn.CommandTag

func (r pgxResult) LastInsertId() (int64, error) {
	return 0, errors.New("PostgreSQL has no last insert id: use RETURNING")
}

func (r pgxResult) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

// stmt is a statement ready to run with its arguments: prepared on SQLite
// (sqlStmt), the query text on PostgreSQL (pgxStmt).
type stmt interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, args ...any) (resultRows, error)
	Close() error
}

// sqlStmt is a prepared SQLite statement as a stmt.
type sqlStmt struct{ *sql.Stmt }

func (s sqlStmt) QueryContext(ctx context.Context, args ...any) (resultRows, error) {
	return sqlRows(s.Stmt.QueryContext(ctx, args...))
}

// pgxStmt runs its query in a PostgreSQL transaction. pgx prepares it on
// first use and keeps it, per connection, unless the database URL's
// default_query_exec_mode says otherwise (core.unprepared).
type pgxStmt struct {
	tx    pgx.Tx
	query string
}

func (s pgxStmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	tag, err := s.tx.Exec(ctx, s.query, args...)
	return pgxResult(tag), err
}

func (s pgxStmt) QueryContext(ctx context.Context, args ...any) (resultRows, error) {
	return pgRows(s.tx.Query(ctx, s.query, args...))
}

func (pgxStmt) Close() error { return nil }

// prepare returns query ready to run in tx, for the caller to close:
// prepared on SQLite; on PostgreSQL pgx prepares it.
func (tx *Tx) prepare(ctx context.Context, query string) (stmt, error) {
	if tx.pg != nil {
		return pgxStmt{tx.pg, query}, nil
	}
	st, err := tx.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err // not a nil *sql.Stmt in a non-nil stmt
	}
	return sqlStmt{st}, nil
}

// prepareKept returns query prepared in tx, preparing it on first use only:
// for statements a transaction runs again and again, whose preparation
// would otherwise cost as much as running them.
func (tx *Tx) prepareKept(ctx context.Context, query string) (stmt, error) {
	if st, ok := tx.kept[query]; ok {
		return sqlStmt{st}, nil
	}
	st, err := tx.prepare(ctx, query)
	if p, ok := st.(sqlStmt); ok {
		tx.keep(query, p.Stmt)
	}
	return st, err
}

// keep holds st for the rest of the transaction under query.
func (tx *Tx) keep(query string, st *sql.Stmt) *sql.Stmt {
	if tx.kept == nil {
		tx.kept = map[string]*sql.Stmt{}
	}
	tx.kept[query] = st
	return st
}

// fire runs the hooks for ev in tx.
func (tx *Tx) fire(ctx context.Context, ev Event) error {
	for _, h := range tx.db.hooks {
		if err := h(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// exec, query and queryRow run a ?-placeholder query in the transaction,
// through the writer's statement cache where there is one.
func (tx *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q = tx.db.rebind(q)
	if tx.pg != nil {
		tag, err := tx.pg.Exec(ctx, q, args...)
		return pgxResult(tag), err
	}
	if st := tx.cached(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, q, args...)
}

func (tx *Tx) query(ctx context.Context, q string, args ...any) (resultRows, error) {
	q = tx.db.rebind(q)
	if tx.pg != nil {
		return pgRows(tx.pg.Query(ctx, q, args...))
	}
	if st := tx.cached(ctx, q); st != nil {
		return sqlRows(st.QueryContext(ctx, args...))
	}
	return sqlRows(tx.tx.QueryContext(ctx, q, args...))
}

func (tx *Tx) queryRow(ctx context.Context, q string, args ...any) resultRow {
	q = tx.db.rebind(q)
	if tx.pg != nil {
		return tx.pg.QueryRow(ctx, q, args...)
	}
	if st := tx.cached(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, q, args...)
}

// cached returns the writer's cached statement for q bound to this SQLite
// transaction, or nil. It is bound once per transaction and kept: a
// transaction that runs a statement thousands of times holds one binding,
// not one per run.
func (tx *Tx) cached(ctx context.Context, q string) *sql.Stmt {
	if st, ok := tx.kept[q]; ok {
		return st
	}
	if st := tx.db.writeStmts.lookup(q); st != nil {
		return tx.keep(q, tx.tx.StmtContext(ctx, st))
	}
	return nil
}

// query and queryRow on the DB read outside any transaction: from the read
// pool through its statement cache on SQLite, from pgx's pool on
// PostgreSQL.
func (db *core) query(ctx context.Context, q string, args ...any) (resultRows, error) {
	q = db.rebind(q)
	if db.pool != nil {
		return pgRows(db.pool.Query(ctx, q, args...))
	}
	if st := db.readStmts.get(ctx, q); st != nil {
		return sqlRows(st.QueryContext(ctx, args...))
	}
	return sqlRows(db.read.QueryContext(ctx, q, args...))
}

func (db *core) queryRow(ctx context.Context, q string, args ...any) resultRow {
	q = db.rebind(q)
	if db.pool != nil {
		return db.pool.QueryRow(ctx, q, args...)
	}
	if st := db.readStmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, q, args...)
}
