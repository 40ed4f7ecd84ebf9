package sqlstore

import (
	"context"
	"testing"

	"github.com/blobmark/blobmark/internal/pgtest"
)

// TestUnnamedStatementsLeaveNoneOnTheServer checks that a PostgreSQL URL
// choosing a query exec mode without pgx's statement cache (as behind
// PgBouncer's transaction pooling) also keeps the store's own statements
// off the server: a bulk insert of several full chunks that cannot be
// copied (ON CONFLICT) prepares, and keeps to the end of its transaction,
// a statement by default, and none in that mode.
func TestUnnamedStatementsLeaveNoneOnTheServer(t *testing.T) {
	for _, c := range []struct {
		params   string
		prepared bool
	}{
		{"", true},
		{"&default_query_exec_mode=exec", false},
		{"&default_query_exec_mode=cache_describe", false},
	} {
		db, err := Open(context.Background(), Config{DatabaseURL: pgtest.Schema(t, "unnamed") + c.params})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var named int
		err = db.inTx(t.Context(), "test", func(tx *Tx) error {
			if _, err := tx.exec(t.Context(), "CREATE TEMP TABLE rows (a INTEGER, b TEXT) ON COMMIT DROP"); err != nil {
				return err
			}
			err := tx.bulkInsert(t.Context(), "rows", []string{"a", "b"}, "ON CONFLICT DO NOTHING", 3*maxParamsPerStatement,
				func(i int, args []any) []any { return append(args, i, "x") }, nil)
			if err != nil {
				return err
			}
			return tx.queryRow(t.Context(), "SELECT COUNT(*) FROM pg_prepared_statements").Scan(&named)
		})
		if err != nil {
			t.Fatal(err)
		}
		if (named > 0) != c.prepared {
			t.Errorf("URL parameters %q: %d statements prepared on the server; want any: %v", c.params, named, c.prepared)
		}
	}
}
