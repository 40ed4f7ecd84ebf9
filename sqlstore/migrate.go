package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"

	"github.com/blobmark/blobmark"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/rivermigrate"
)

// migrationsFS holds one folder of goose migrations per dialect: the schemas
// are the same, the column types are not.
//
//go:embed migrations
var migrationsFS embed.FS

// migrationLockKey is the PostgreSQL advisory lock that serialises replicas
// migrating at the same start-up ("blobmark" in ASCII, as a number).
const migrationLockKey = 0x626c6f626d61726b

// Migrate brings blobmark's tables and River's tables up to date. Open calls
// it unless Config.SkipMigrations; `blobmark migrate` calls it on its own.
// It is safe for several processes to run it at once: they take turns on an
// advisory lock (PostgreSQL) or a file lock beside the database (SQLite).
// A current PostgreSQL schema is left without taking the lock, which lives
// on a session: through PgBouncer's transaction pooling, a process started
// after `blobmark migrate` ran directly against the server never takes it.
func (db *DB) Migrate(ctx context.Context) error {
	if db.dialect == Postgres {
		if db.checkMigrated(ctx) == nil {
			return nil
		}
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return wrapUnavailable("migrate", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLockKey)); err != nil {
			return wrapUnavailable("migrate: lock", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLockKey))
		}()
	} else {
		unlock, err := db.lockMigrations(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	p, err := db.gooseProvider()
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return wrapInternal("migrate: blobmark schema", err)
	}
	for _, r := range results {
		db.logger.InfoContext(ctx, "applied migration", "source", r.Source.Path, "duration", r.Duration)
	}
	m, err := db.riverMigrator()
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return wrapInternal("migrate: job queue schema", err)
	}
	return nil
}

// checkMigrated fails unless both schemas are current, so a tool opened with
// SkipMigrations never runs against a schema it does not know.
func (db *DB) checkMigrated(ctx context.Context) error {
	p, err := db.gooseProvider()
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return wrapInternal("check migrations", err)
	}
	m, err := db.riverMigrator()
	if err != nil {
		return err
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		return wrapInternal("check job queue migrations", err)
	}
	if pending || len(existing) < len(m.AllVersions()) {
		return blobmark.Errorf(blobmark.EUNAVAILABLE, "the database schema is not up to date: run `blobmark migrate`")
	}
	return nil
}

func (db *DB) gooseProvider() (*goose.Provider, error) {
	dialect, dir := goose.DialectSQLite3, "migrations/sqlite"
	if db.dialect == Postgres {
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
	}
	sub, err := fs.Sub(migrationsFS, dir)
	if err != nil {
		return nil, wrapInternal("migrations", err)
	}
	p, err := goose.NewProvider(dialect, db.write, sub)
	if err != nil {
		return nil, wrapInternal("migrations", err)
	}
	return p, nil
}

func (db *DB) riverMigrator() (*rivermigrate.Migrator[*sql.Tx], error) {
	m, err := rivermigrate.New(db.riverDriver(), &rivermigrate.Config{Logger: db.logger})
	if err != nil {
		return nil, wrapInternal("job queue migrations", err)
	}
	return m, nil
}
