package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// copyMinRows is the least number of rows a bulk insert on PostgreSQL
// copies (COPY … FROM STDIN) rather than inserts: COPY first asks for the
// table's column types, a round trip that a few rows do not earn back.
const copyMinRows = 100

// copyRows writes n rows into table through PostgreSQL's COPY, in the
// transaction, on its connection: the rows stream to the server in pgx's
// binary format, with neither statement text nor parameters to parse. bind
// appends row i's values to args, as for bulkInsert. Triggers and
// constraints apply as for an INSERT; a conflict fails the whole COPY, so
// inserts that resolve conflicts stay INSERTs.
func (tx *Tx) copyRows(ctx context.Context, table string, columns []string, n int, bind func(i int, args []any) []any) error {
	_, err := tx.pg.Conn().CopyFrom(ctx, pgx.Identifier{table}, columns, &boundRows{n: n, bind: bind})
	return err
}

// boundRows is a pgx.CopyFromSource over a bind function; pgx encodes each
// row before asking for the next, so one slice serves every row.
type boundRows struct {
	n, next int
	bind    func(i int, args []any) []any
	row     []any
}

func (r *boundRows) Next() bool {
	if r.next == r.n {
		return false
	}
	r.row = r.bind(r.next, r.row[:0])
	r.next++
	return true
}

func (r *boundRows) Values() ([]any, error) { return r.row, nil }
func (r *boundRows) Err() error             { return nil }

// newIDs takes n ids from the sequence of table's id column, in order, in
// one round trip: the ids a copy gives its rows, which it cannot return.
// The sequence is looked up once, in a subquery that OFFSET 0 keeps from
// being folded into the outer one: pg_get_serial_sequence is only stable,
// so called per row it would read the catalog n times (8× the cost).
func (tx *Tx) newIDs(ctx context.Context, table string, n int) ([]int64, error) {
	rows, err := tx.query(ctx, "SELECT nextval(s.seq) FROM (SELECT pg_get_serial_sequence(?, 'id')::regclass AS seq OFFSET 0) s, generate_series(1, ?)", table, n)
	if err != nil {
		return nil, err
	}
	ids, err := scanIDs(rows)
	if err == nil && len(ids) != n {
		err = fmt.Errorf("%d new ids for %s, want %d", len(ids), table, n)
	}
	return ids, err
}
