// Package pgtest is the PostgreSQL server the tests and benchmarks use, and
// a schema of their own on it per test.
//
// Without BLOBMARK_TEST_POSTGRES_URL that is the throw-away cluster
// scripts/testdb.sh starts (scripts/setup.sh runs it): the tests rely on
// nothing a machine's own PostgreSQL may or may not be configured with.
// The tests fail, never skip, when it is down, so a green run always means
// both stores were tested.
//
// It imports only the standard library and the pgx driver.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// URLEnv names the variable that points the tests at another server; its
// role must be able to create schemas and roles, and edit pg_hba.conf for
// the passwordless-login test (the superuser of a local cluster).
const URLEnv = "BLOBMARK_TEST_POSTGRES_URL"

// DefaultURL is the throw-away cluster of scripts/testdb.sh.
const DefaultURL = "postgres://postgres@127.0.0.1:55432/test?sslmode=disable"

// URL is the superuser connection of the tests' server.
func URL() string {
	if u := os.Getenv(URLEnv); u != "" {
		return u
	}
	return DefaultURL
}

// Schema creates a schema of the test's own, named prefix_ and random
// characters, dropped when the test ends, and returns URL() with its
// search_path set to it: tests run in parallel without seeing each other's
// rows (River's tables included).
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	schema := ownObject(t, prefix, "CREATE SCHEMA %s", "DROP SCHEMA %s CASCADE")
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatalf("PostgreSQL URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Database creates a database of the test's own on the tests' server,
// named prefix_ and random characters, dropped when the test ends (with
// whatever connections are still open to it), and returns its name: for a
// test that cannot choose its schema by URL, as through a connection
// pooler that passes on no search_path. A template other than "" is
// copied: a database nobody is connected to, migrated once for many.
func Database(t testing.TB, prefix, template string) string {
	t.Helper()
	create := "CREATE DATABASE %s"
	if template != "" {
		create += " TEMPLATE " + template
	}
	return ownObject(t, prefix, create, "DROP DATABASE %s WITH (FORCE)")
}

// ownObject creates an object of the test's own on the tests' server by
// create, a statement with %s for its name (prefix_ and random
// characters), drops it by drop when the test ends, and returns the name.
func ownObject(t testing.TB, prefix, create, drop string) string {
	t.Helper()
	admin, err := sql.Open("pgx", URL())
	if err != nil {
		t.Fatalf("PostgreSQL URL %s: %v", URLEnv, err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(create, name)); err != nil {
		t.Fatalf("PostgreSQL is required for these tests: run scripts/testdb.sh, or set %s to use another server: %v", URLEnv, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf(drop, name)); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

// DatabaseURL returns URL() pointing at database name instead.
func DatabaseURL(t testing.TB, name string) string {
	t.Helper()
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatalf("PostgreSQL URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
