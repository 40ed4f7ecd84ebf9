package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/riverqueue/river"
)

// Tx is one store transaction, handed to hooks so that what they write — above
// all the jobs they enqueue — commits or rolls back with the domain write that
// caused it.
type Tx struct {
	tx *sql.Tx
	db *core
	// conn is the connection tx runs on, on PostgreSQL, where a bulk
	// insert copies rows through pgx (copyRows); nil on SQLite. End
	// releases it.
	conn *sql.Conn
	// kept holds statements prepared or bound for the rest of the
	// transaction (prepareKept, cached); the transaction closes them when
	// it ends.
	kept map[string]*sql.Stmt
	// numbered holds the task numbers tx took on PostgreSQL, in order
	// (takeTaskNumbers), to give back if it rolls back.
	numbered []numberRange
}

// SQL returns the underlying transaction, for hooks that must read or write
// rows of their own in it. Write queries with ? and pass them through
// (*DB).Rebind.
func (tx *Tx) SQL() *sql.Tx { return tx.tx }

// InsertJob enqueues a River job in this transaction: it becomes visible to
// workers only if the transaction commits.
func (tx *Tx) InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := tx.db.river.InsertTx(ctx, tx.tx, args, opts); err != nil {
		return wrapInternal("enqueue "+args.Kind(), err)
	}
	return nil
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
	defer tx.release()
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
	if err = tx.commit(); err != nil {
		return translate(op+": commit", err)
	}
	db.writeStmts.warm(context.WithoutCancel(ctx))
	return nil
}

// begin starts a write transaction, for writes that cannot run inside one
// callback (inTx is the usual way). Call release once it is committed or
// rolled back.
func (db *core) begin(ctx context.Context, op string) (*Tx, error) {
	if db.dialect == SQLite {
		sqlTx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return nil, translate(op+": begin", err)
		}
		return &Tx{tx: sqlTx, db: db}, nil
	}
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, translate(op+": begin", err)
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		_ = conn.Close()
		return nil, translate(op+": begin", err)
	}
	return &Tx{tx: sqlTx, db: db, conn: conn}, nil
}

// commit commits tx. The task numbers it took are the commit's from then
// on, even if it fails: the commit may have reached the database.
func (tx *Tx) commit() error {
	tx.numbered = nil
	return tx.tx.Commit()
}

// rollback rolls tx back, unless it has ended (a cancelled context ends
// it), and gives back the task numbers it took, unless it was committed.
// Numbers given back while the rollback is still under way are safe: an
// import that takes them again waits on the unique index of task numbers
// until the rows are gone.
func (tx *Tx) rollback(ctx context.Context, op string) {
	if err := tx.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		tx.db.logger.WarnContext(ctx, "rollback failed", "op", op, "err", err)
	}
	if len(tx.numbered) > 0 {
		tx.db.giveBackNumbers(ctx, tx.numbered)
	}
}

// release hands an ended transaction's connection back to the pool.
func (tx *Tx) release() {
	if tx.conn != nil {
		_ = tx.conn.Close()
	}
}

// stmt is a statement ready to run with its arguments: prepared, or the
// query text alone (unprepared).
type stmt interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
	Close() error
}

// unprepared runs its query in tx as it is, for a store that must not
// name statements on the server (core.unprepared).
type unprepared struct {
	tx    *sql.Tx
	query string
}

func (u unprepared) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return u.tx.ExecContext(ctx, u.query, args...)
}

func (u unprepared) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	return u.tx.QueryContext(ctx, u.query, args...)
}

func (unprepared) Close() error { return nil }

// prepare returns query prepared in tx, for the caller to close; or
// unprepared, where the store prepares nothing.
func (tx *Tx) prepare(ctx context.Context, query string) (stmt, error) {
	if tx.db.unprepared {
		return unprepared{tx.tx, query}, nil
	}
	st, err := tx.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err // not a nil *sql.Stmt in a non-nil stmt
	}
	return st, nil
}

// prepareKept returns query prepared in tx, preparing it on first use only:
// for statements a transaction runs again and again, whose preparation
// would otherwise cost as much as running them.
func (tx *Tx) prepareKept(ctx context.Context, query string) (stmt, error) {
	if st, ok := tx.kept[query]; ok {
		return st, nil
	}
	st, err := tx.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	if p, ok := st.(*sql.Stmt); ok {
		return tx.keep(query, p), nil
	}
	return st, nil
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
	if st := tx.cached(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, q, args...)
}

func (tx *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = tx.db.rebind(q)
	if st := tx.cached(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.tx.QueryContext(ctx, q, args...)
}

func (tx *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = tx.db.rebind(q)
	if st := tx.cached(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, q, args...)
}

// cached returns the writer's cached statement for q bound to this
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

// query and queryRow on the DB read from the read pool, outside any
// transaction, through its statement cache where there is one.
func (db *core) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = db.rebind(q)
	if st := db.readStmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.read.QueryContext(ctx, q, args...)
}

func (db *core) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = db.rebind(q)
	if st := db.readStmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, q, args...)
}
