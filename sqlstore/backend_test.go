package sqlstore_test

import (
	"bytes"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/internal/pgtest"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
)

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

// preparePostgres points cfg at a schema of the test's own on the tests'
// PostgreSQL server (pgtest.Schema).
func preparePostgres(t testing.TB, cfg sqlstore.Config) sqlstore.Config {
	t.Helper()
	cfg.DatabaseURL = pgtest.Schema(t, "test")
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

// createProject creates a project titled title in db.
func createProject(t *testing.T, db *sqlstore.DB, title string) *blobmark.Project {
	t.Helper()
	p := &blobmark.Project{Title: title}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}
