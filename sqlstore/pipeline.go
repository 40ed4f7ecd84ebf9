package sqlstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipedQuery is one statement of a pipeline: q, with ? placeholders, and
// its arguments; scan, when set, reads the statement's one row (a missing
// row is sql.ErrNoRows, as from queryRow).
type pipedQuery struct {
	q    string
	args []any
	scan func(resultRow) error
}

// pipeline runs queries in tx, in order, where none needs another's
// result: on PostgreSQL in one round trip (a pgx batch on the
// transaction's connection), on SQLite one after the other, with no
// network to save. It stops at the first error and returns it; on
// PostgreSQL the later statements have been sent already, so a caller
// whose first statement finds nothing must roll back, as every store write
// does on an error.
//
// A write's round trips are most of its time when the database is across
// a network (Azure Database for PostgreSQL from a cluster: about a
// millisecond each), not on the machine.
func (tx *Tx) pipeline(ctx context.Context, queries ...pipedQuery) error {
	if tx.pg == nil {
		for _, p := range queries {
			var err error
			if p.scan != nil {
				err = p.scan(tx.queryRow(ctx, p.q, p.args...))
			} else {
				_, err = tx.exec(ctx, p.q, p.args...)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	b := &pgx.Batch{}
	for _, p := range queries {
		qq := b.Queue(tx.db.rebind(p.q), p.args...)
		if scan := p.scan; scan != nil {
			qq.QueryRow(func(row pgx.Row) error { return scan(row) })
		} else {
			qq.Exec(func(pgconn.CommandTag) error { return nil })
		}
	}
	return tx.pg.SendBatch(ctx, b).Close()
}
