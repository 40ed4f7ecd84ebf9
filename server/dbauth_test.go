package server_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"github.com/blobmark/blobmark/internal/pgtest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/server"
	"github.com/blobmark/blobmark/sqlstore"
)

// adminPostgresURL is the superuser connection the PostgreSQL tests use.
func adminPostgresURL() string { return pgtest.URL() }

// TestPostgresLoginWithEntraToken logs blobmark in to PostgreSQL with the
// access token the fake Entra authority issues to the server's identity.
// The local server trusts loopback connections, so the test first puts a
// rule above the trust rules that makes a dedicated role prove its
// password (SCRAM), and gives that role the token as its password: the
// connection succeeds only if the token flows from the identity to the
// database. It needs to edit the server's pg_hba.conf, as CI can (it runs
// as root beside the database).
func TestPostgresLoginWithEntraToken(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	admin, err := sql.Open("pgx", adminPostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	var b [5]byte
	_, _ = rand.Read(b[:])
	role := "entra_" + hex.EncodeToString(b[:])
	token := azuretest.MintToken(azuretest.TokenClaims{Audience: "https://ossrdbms-aad.database.windows.net",
		TenantID: env.TenantID, ObjectID: azuretest.NewGUID(), Lifetime: 2 * time.Hour})
	if len(token) < 400 {
		t.Fatalf("token of %d bytes; real ones are longer and the test should use one as long", len(token))
	}
	app := env.RegisterApp(azuretest.App{Secret: "db-secret-" + role, AccessToken: token})
	t.Setenv("AZURE_TENANT_ID", app.TenantID)
	t.Setenv("AZURE_CLIENT_ID", app.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", app.Secret)

	var hbaFile string
	if err := admin.QueryRowContext(ctx, "SHOW hba_file").Scan(&hbaFile); err != nil {
		t.Fatalf("PostgreSQL is required (BLOBMARK_TEST_POSTGRES_URL): %v", err)
	}
	orig, err := os.ReadFile(hbaFile)
	if err != nil {
		t.Fatalf("this test edits the database server's %s to require a password; it must run on that machine as root: %v", hbaFile, err)
	}
	rule := "host all " + role + " 127.0.0.1/32 scram-sha-256\nhost all " + role + " ::1/128 scram-sha-256\n"
	if err := os.WriteFile(hbaFile, append([]byte(rule), orig...), 0); err != nil {
		t.Fatalf("cannot edit %s: %v", hbaFile, err)
	}
	mustExec := func(q string) {
		t.Helper()
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		_ = os.WriteFile(hbaFile, orig, 0)
		_, _ = admin.ExecContext(ctx, "SELECT pg_reload_conf()")
		_, _ = admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+role+" CASCADE")
		_, _ = admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+role)
	})
	mustExec("SET password_encryption = 'scram-sha-256'")
	mustExec("CREATE ROLE " + role + " LOGIN PASSWORD '" + token + "'")
	mustExec("CREATE SCHEMA " + role + " AUTHORIZATION " + role)
	mustExec("SELECT pg_reload_conf()")
	time.Sleep(300 * time.Millisecond) // the postmaster rereads the file asynchronously

	u := strings.Replace(adminPostgresURL(), "postgres://postgres@", "postgres://"+role+"@", 1)
	if strings.Contains(u, "?") {
		u += "&search_path=" + role
	} else {
		u += "?search_path=" + role
	}

	// Without the token, and with a wrong one, the role is refused: the
	// rule is in force.
	if db, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: u}); err == nil {
		db.Close()
		t.Fatal("connected without a password: the scram rule is not in force")
	}
	wrong := func(context.Context) (string, error) { return token[:len(token)-4] + "AAAA", nil }
	if db, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: u, PasswordFunc: wrong}); err == nil {
		db.Close()
		t.Fatal("connected with a wrong token")
	}

	// With --database-azure-auth the server's identity's token logs in,
	// migrations run, and new connections reuse the cached token.
	opts := env.Options()
	before := env.Count("token:" + app.ClientID)
	srv, err := server.Open(ctx, server.Config{DatabaseURL: u, DatabaseAzureAuth: true, Azure: opts, SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatalf("open with the Entra token: %v", err)
	}
	defer srv.Close(context.Background())
	pool := srv.DB.SQL()
	pool.SetMaxIdleConns(0) // every query below opens a new connection
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var who string
			if err := pool.QueryRowContext(ctx, "SELECT current_user").Scan(&who); err != nil || who != role {
				t.Errorf("current_user = %q, %v", who, err)
			}
		}()
	}
	wg.Wait()
	if n := env.Count("token:"+app.ClientID) - before; n != 1 {
		t.Errorf("%d token requests for many connections, want 1 (the token is cached)", n)
	}

	// The token source renews a token near its expiry on its own.
	src, err := azureblob.NewDatabaseTokenSource(opts, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := src.Password(ctx)
	if err != nil || got != token {
		t.Fatalf("Password() = %d bytes, %v; want the issued token", len(got), err)
	}
}
