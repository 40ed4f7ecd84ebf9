package sqlstore_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/internal/pgtest"
	"github.com/blobmark/blobmark/internal/testclock"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/blobmark/blobmark/storetest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TestConformanceThroughPgBouncer runs the store suite, and a job, through
// PgBouncer in transaction pooling mode, set up as docs/deploy.md says:
// the schema migrated over a direct connection, statements unnamed on the
// server (default_query_exec_mode=exec) and jobs polled for, not LISTENed
// for. PgBouncer has fewer server connections than the store's pool, so
// clients take turns on them, transaction by transaction.
func TestConformanceThroughPgBouncer(t *testing.T) {
	t.Parallel()
	bouncer := startPgBouncer(t)
	// The schema is migrated once, directly, into a template each test's
	// database copies.
	template := pgtest.Database(t, "bouncer", "")
	db, err := sqlstore.Open(t.Context(), withTestBox(t, sqlstore.Config{DatabaseURL: pgtest.DatabaseURL(t, template)}))
	if err != nil {
		t.Fatalf("migrate directly: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	prepare := func(t testing.TB, cfg sqlstore.Config) sqlstore.Config {
		cfg.DatabaseURL = bouncer.String() + pgtest.Database(t, "bouncer", template) + "?sslmode=disable&default_query_exec_mode=exec"
		return withTestBox(t, cfg)
	}
	t.Run("store", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Store { return open(t, prepare(t, sqlstore.Config{})) })
		storetest.RunLabelStream(t, func(t *testing.T) (storetest.Store, storetest.Clock) {
			clock := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			return open(t, prepare(t, sqlstore.Config{Clock: clock.Now})), clock
		})
	})
	t.Run("jobs", func(t *testing.T) {
		db := open(t, prepare(t, sqlstore.Config{}))
		runs := new(atomic.Int32)
		workers := river.NewWorkers()
		river.AddWorker[blobmark.PurgeProjectJob](workers, countingPurgeWorker{&jobs.PurgeProjectWorker{Store: db, BatchSize: 10}, runs})
		if err := db.StartJobs(t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: pollInterval, PollOnly: true}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := db.StopJobs(context.Background()); err != nil {
				t.Errorf("StopJobs: %v", err)
			}
		})
		p, err := seedProject(t.Context(), db, 25)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteProject(t.Context(), p.ID); err != nil {
			t.Fatal(err)
		}
		list := purgeJobs(t, db)
		if job := waitJob(t, db, list[len(list)-1].ID); job.State != rivertype.JobStateCompleted || runs.Load() != 1 {
			t.Fatalf("purge job: %s after %d runs; errors %v", job.State, runs.Load(), job.Errors)
		}
		wantPurged(t, db, p.ID)
	})
}

// startPgBouncer runs PgBouncer in front of the tests' PostgreSQL server
// until the test ends, and returns its URL up to the database name. Every
// database is passed through under the server's own user.
func startPgBouncer(t *testing.T) *url.URL {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/pgbouncer"); err != nil {
			t.Fatal("PgBouncer is required for this test: run scripts/setup.sh")
		}
	}
	server, err := url.Parse(pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	login := "user=" + server.User.Username()
	if password, ok := server.User.Password(); ok {
		login += " password='" + password + "'"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// Its own directory, readable by the account PgBouncer drops to when
	// started as root (it refuses to run as root).
	dir, err := os.MkdirTemp("", "pgbouncer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ini := filepath.Join(dir, "pgbouncer.ini")
	config := fmt.Sprintf(`[databases]
* = host=%s port=%s %s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 2
max_client_conn = 1000
query_wait_timeout = 30
logfile = %s
`, server.Hostname(), server.Port(), login, port, filepath.Join(dir, "pgbouncer.log"))
	if err := os.WriteFile(ini, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{ini}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("PgBouncer will not run as root, and there is no postgres account to run it as: %v", err)
		}
		args = []string{"-u", u.Username, ini}
	}
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("PgBouncer exited: %v\n%s%s", err, out.String(), log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("PgBouncer does not listen on %s:\n%s", addr, out.String())
		}
	}
	return &url.URL{Scheme: "postgres", User: server.User, Host: addr, Path: "/"}
}
