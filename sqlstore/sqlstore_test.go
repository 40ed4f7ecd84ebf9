package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// TestSQLiteCheckpointsOffTheWriter checks that what the writer commits
// reaches the database file although the writer never checkpoints: the
// checkpointer copies it there.
func TestSQLiteCheckpointsOffTheWriter(t *testing.T) {
	dir := t.TempDir()
	db := open(t, sqlstore.Config{DataDir: dir})
	file := filepath.Join(dir, "blobmark.db")
	before, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE TABLE filler (b BLOB)", "INSERT INTO filler VALUES (randomblob(4000000))"} {
		if _, err := db.SQL().ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= before.Size()+4000000 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes, %d before a 4 MB commit: no checkpoint copied it", fi.Size(), before.Size())
		}
	}
}

// TestSQLiteIsConfigured checks the settings that make SQLite safe under a
// server: every connection must carry them, not just the first.
func TestSQLiteIsConfigured(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	db := open(t, sqlstore.Config{DataDir: dir})
	if db.Dialect() != sqlstore.SQLite {
		t.Fatalf("dialect = %s", db.Dialect())
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
		"busy_timeout": "10000",
		// The writer leaves checkpoints to the checkpointer.
		"wal_autocheckpoint": "0",
	} {
		var got string
		if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if n := db.SQL().Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "blobmark.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
		}
	}
}

func TestOpen(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("ReopenKeepsDataAndMigratesOnce", func(t *testing.T) {
				cfg := b.prepare(t, sqlstore.Config{})
				db, err := sqlstore.Open(t.Context(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				p := &blobmark.Project{Title: "persisted"}
				if err := db.CreateProject(t.Context(), p); err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				cfg.SkipMigrations = true // the schema is current: no migration needed
				again := open(t, cfg)
				got, err := again.FindProjectByID(t.Context(), p.ID)
				if err != nil || got.Title != "persisted" {
					t.Fatalf("after reopening: %+v, %v", got, err)
				}
				if err := again.Migrate(t.Context()); err != nil {
					t.Fatalf("Migrate on a current schema: %v", err)
				}
				if err := again.Ping(t.Context()); err != nil {
					t.Fatalf("Ping: %v", err)
				}
			})
			t.Run("SkipMigrationsRefusesAnOldSchema", func(t *testing.T) {
				cfg := b.prepare(t, sqlstore.Config{SkipMigrations: true})
				_, err := sqlstore.Open(t.Context(), cfg)
				if blobmark.ErrorCode(err) != blobmark.EUNAVAILABLE {
					t.Fatalf("Open on an empty database without migrations = %v, want unavailable", err)
				}
			})
			t.Run("ConcurrentStartsMigrateSafely", func(t *testing.T) {
				cfg := b.prepare(t, sqlstore.Config{})
				var wg sync.WaitGroup
				errs := make([]error, 3)
				for i := range errs {
					wg.Go(func() {
						db, err := sqlstore.Open(t.Context(), cfg)
						if err == nil {
							err = db.Close()
						}
						errs[i] = err
					})
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatalf("concurrent Open: %v (%v)", err, errors.Unwrap(err))
					}
				}
			})
		})
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	_, err := sqlstore.Open(t.Context(), sqlstore.Config{DatabaseURL: "mysql://localhost/blobmark"})
	if blobmark.ErrorCode(err) != blobmark.EINVALID {
		t.Fatalf("Open(mysql URL) = %v, want invalid", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err = sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"})
	if blobmark.ErrorCode(err) != blobmark.EUNAVAILABLE {
		t.Fatalf("Open(unreachable PostgreSQL) = %v, want unavailable", err)
	}
	if msg := blobmark.ErrorMessage(err); msg != "cannot connect to PostgreSQL" {
		t.Fatalf("client message = %q", msg)
	}
}
