package sqlstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

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

// TestPostgresURLParametersReachEverySession checks that settings given as
// parameters of the PostgreSQL URL (statement_timeout, lock_timeout) hold
// on every connection the store opens: the pool's, a transaction's, and
// the one a worker listens for jobs on.
func TestPostgresURLParametersReachEverySession(t *testing.T) {
	db, err := Open(context.Background(), Config{DatabaseURL: pgtest.Schema(t, "params") + "&statement_timeout=1234&lock_timeout=567"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const q = "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
	show := func(r resultRow) string {
		var statement, lock string
		if err := r.Scan(&statement, &lock); err != nil {
			t.Fatal(err)
		}
		return statement + " " + lock
	}
	const want = "1234ms 567ms"
	if got := show(db.queryRow(t.Context(), q)); got != want {
		t.Errorf("pool: %s, want %s", got, want)
	}
	if got := show(db.read.QueryRowContext(t.Context(), q)); got != want {
		t.Errorf("the pool through database/sql: %s, want %s", got, want)
	}
	err = db.inTx(t.Context(), "test", func(tx *Tx) error {
		if got := show(tx.queryRow(t.Context(), q)); got != want {
			t.Errorf("transaction: %s, want %s", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	listener, err := pgxpool.NewWithConfig(t.Context(), db.pgxConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	var statement string
	if err := listener.QueryRow(t.Context(), "SHOW statement_timeout").Scan(&statement); err != nil || statement != "1234ms" {
		t.Errorf("listener: statement_timeout %q (%v), want 1234ms", statement, err)
	}
}

// TestBulkInsertThatCannotBePreparedFails checks that a bulk insert whose
// statement cannot be prepared returns the error, on both databases and
// in both ways of running statements, rather than closing a statement it
// never had.
func TestBulkInsertThatCannotBePreparedFails(t *testing.T) {
	for name, url := range map[string]string{
		"sqlite":           "",
		"postgres":         pgtest.Schema(t, "noprepare"),
		"postgres unnamed": pgtest.Schema(t, "noprepare") + "&default_query_exec_mode=exec",
	} {
		cfg := Config{DatabaseURL: url}
		if url == "" {
			cfg.DataDir = t.TempDir()
		}
		db, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		err = db.inTx(t.Context(), "test", func(tx *Tx) error {
			return tx.bulkInsert(t.Context(), "no_such_table", []string{"a"}, "", 5,
				func(i int, args []any) []any { return append(args, i) }, nil)
		})
		if err == nil || errors.Unwrap(err) == nil || !strings.Contains(errors.Unwrap(err).Error(), "no_such_table") {
			t.Errorf("%s: bulk insert into a missing table: %v", name, err)
		}
	}
}
