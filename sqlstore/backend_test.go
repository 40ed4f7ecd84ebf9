package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
)

// postgresURLEnv overrides where the PostgreSQL tests connect. Without it they
// use the local server CI starts; they fail (never skip) when it is down, so a
// green run always means both stores were tested.
const postgresURLEnv = "BLOBMARK_TEST_POSTGRES_URL"

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// backend opens fresh, empty stores of one dialect.
type backend struct {
	name string
	// prepare returns cfg pointing at a new, empty database of this backend,
	// dropped when the test ends, with testBox unless cfg has a box. Several
	// stores may open it (a restart).
	prepare func(t testing.TB, cfg sqlstore.Config) sqlstore.Config
}

var backends = []backend{
	{name: "sqlite", prepare: prepareSQLite},
	{name: "postgres", prepare: preparePostgres},
}

// testKey is the server key of the tests that do not choose their own.
var testKey = bytes.Repeat([]byte{9}, seal.KeySize)

// withTestBox gives cfg a box under testKey unless it has one.
func withTestBox(t testing.TB, cfg sqlstore.Config) sqlstore.Config {
	t.Helper()
	if cfg.Secrets == nil {
		box, err := seal.New(testKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Secrets = box
	}
	return cfg
}

func prepareSQLite(t testing.TB, cfg sqlstore.Config) sqlstore.Config {
	cfg.DatabaseURL = ""
	cfg.DataDir = t.TempDir()
	return withTestBox(t, cfg)
}

// preparePostgres creates a schema of its own for the test and points the
// connection's search_path at it, so tests run in parallel without seeing
// each other's rows (River's tables included).
func preparePostgres(t testing.TB, cfg sqlstore.Config) sqlstore.Config {
	t.Helper()
	base := os.Getenv(postgresURLEnv)
	if base == "" {
		base = defaultPostgresURL
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("PostgreSQL URL %s: %v", postgresURLEnv, err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("PostgreSQL is required for these tests (set %s to use another server): %v", postgresURLEnv, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("PostgreSQL URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	cfg.DatabaseURL = u.String()
	return withTestBox(t, cfg)
}

// open opens a store on cfg and closes it when the test ends.
func open(t *testing.T, cfg sqlstore.Config) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}
