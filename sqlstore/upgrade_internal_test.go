package sqlstore

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/internal/pgtest"
)

// TestUpgradeGivesExistingUsersTheirPowers migrates a database written
// before roles existed, with users in two organizations, and checks what
// the teams migration promises: the earliest user of each organization
// becomes its owner, every other existing user an administrator, so nobody
// loses a power they had; and they all still sign in.
func TestUpgradeGivesExistingUsersTheirPowers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect goose.Dialect
		dir     string
		open    func(t *testing.T) (Config, *sql.DB)
	}{
		{"sqlite", goose.DialectSQLite3, "migrations/sqlite", func(t *testing.T) (Config, *sql.DB) {
			dir := t.TempDir()
			raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "blobmark.db")+"?_pragma=foreign_keys(1)&_time_format=sqlite")
			if err != nil {
				t.Fatal(err)
			}
			return Config{DataDir: dir}, raw
		}},
		{"postgres", goose.DialectPostgres, "migrations/postgres", func(t *testing.T) (Config, *sql.DB) {
			url := pgtest.Schema(t, "upgrade")
			raw, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			return Config{DatabaseURL: url}, raw
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, raw := tc.open(t)
			defer raw.Close()
			sub, err := fs.Sub(migrationsFS, tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(tc.dialect, raw, sub)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 9); err != nil { // the last schema without roles
				t.Fatal(err)
			}
			rebind := func(q string) string {
				if tc.dialect == goose.DialectPostgres {
					return (&core{dialect: Postgres}).rebind(q)
				}
				return q
			}
			pwHash, err := hashPassword("old password")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.ExecContext(ctx, "INSERT INTO organizations (id, title, created_at) VALUES (2, 'Acme', CURRENT_TIMESTAMP)"); err != nil {
				t.Fatal(err)
			}
			for i, u := range []struct {
				email string
				org   int
			}{{"first@example.com", 1}, {"second@example.com", 1}, {"acme-first@example.com", 2}, {"acme-second@example.com", 2}} {
				_, hash := newToken()
				if _, err := raw.ExecContext(ctx, rebind(`INSERT INTO users (email, email_key, password_hash, token_hash, token_prefix, date_joined, organization_id)
					VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP, ?)`), u.email, u.email, pwHash, hash, hash[:6]+string(rune('a'+i)), u.org); err != nil {
					t.Fatal(err)
				}
			}
			raw.Close()

			db, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for email, want := range map[string]blobmark.Role{
				"first@example.com": blobmark.RoleOwner, "second@example.com": blobmark.RoleAdmin,
				"acme-first@example.com": blobmark.RoleOwner, "acme-second@example.com": blobmark.RoleAdmin,
			} {
				u, err := db.AuthenticatePassword(ctx, email, "old password")
				if err != nil {
					t.Fatalf("%s no longer signs in: %v", email, err)
				}
				if u.Role != want {
					t.Errorf("%s is %s after the upgrade, want %s", email, u.Role, want)
				}
			}
		})
	}
}
