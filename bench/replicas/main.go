// Command replicas measures how source syncs behave with several blobmark
// replicas on one PostgreSQL database, and what the database costs a
// single replica:
//
//   - Tasks mode (JSONL task files in Azurite, downloaded and parsed): the
//     sync's throughput with 1, 2 and 3 replicas working jobs on
//     PostgreSQL, and the scaling ratio against one replica;
//   - Files mode against the synthetic List Blobs server
//     (bench/listserver), one replica: SQLite vs PostgreSQL, each ÷ a bare
//     listing of the same container.
//
// Replicas are blobmark servers assembled by package server exactly as
// `blobmark serve` assembles them, each with its own River client and
// connection pool, in this one process (the machine's cores are shared
// either way). Run it with `go run ./bench/replicas`; it prints numbers and
// never fails on timing. PostgreSQL comes from BLOBMARK_TEST_POSTGRES_URL,
// else the local server the tests use.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/bench/listserver"
	"github.com/blobmark/blobmark/server"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	files := flag.Int("files", 2000, "Tasks-mode JSONL files in Azurite")
	perFile := flag.Int("per-file", 50, "tasks per JSONL file")
	keys := flag.Int("keys", 100_000, "Files-mode keys of the synthetic container")
	flag.Parse()
	ctx := context.Background()
	pg := os.Getenv("BLOBMARK_TEST_POSTGRES_URL")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}

	type row struct{ name, value, note string }
	var rows []row

	// Tasks mode with 1, 2, 3 replicas.
	az := benchkit.StartAzurite()
	az.CreateContainer(ctx, "tasks")
	conn := azureblob.NewConnector(azureblob.Options{})
	c, err := conn.Container(ctx, az.Config(), "tasks")
	benchkit.Check(err)
	benchkit.Upload(ctx, c, *files, 16, func(i int) (string, []byte) {
		var b strings.Builder
		for j := range *perFile {
			fmt.Fprintf(&b, "{\"text\":\"file %d task %d\"}\n", i, j)
		}
		return fmt.Sprintf("tasks/%05d.jsonl", i), []byte(b.String())
	})
	tasks := *files * *perFile
	source := func(container, endpoint string, blobURLs bool) *blobmark.SourceStorage {
		return &blobmark.SourceStorage{Type: "azure", Synchronizable: true, Container: container, UseBlobURLs: blobURLs, RecursiveScan: true,
			Connection: blobmark.Connection{"auth_type": "account_key", "account_name": benchkit.Account, "endpoint": endpoint},
			Secrets:    blobmark.Connection{"account_key": benchkit.Key}}
	}
	var one float64
	for n := 1; n <= 3; n++ {
		d := timeSync(ctx, schemaURL(ctx, pg), n, source("tasks", az.Endpoint, false), tasks)
		rate := float64(tasks) / d.Seconds()
		if n == 1 {
			one = rate
		}
		rows = append(rows, row{fmt.Sprintf("Tasks, %d JSONL × %d on PostgreSQL, %d replica(s)", *files, *perFile, n),
			fmt.Sprintf("%.0f tasks/s", rate), fmt.Sprintf("%.2f× one replica", rate/one)})
	}
	az.Stop()
	dropSchemas(ctx, pg) // the Files part starts on a database without the Tasks runs' rows

	// Files mode, one replica: SQLite vs PostgreSQL against the synthetic server.
	ls := listserver.Start(*keys)
	defer ls.Close()
	endpoint := ls.URL + "/" + listserver.DefaultAccount + "/"
	cfg := azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: benchkit.Account, AccountKey: benchkit.Key, Endpoint: endpoint}
	lc, err := conn.Container(ctx, cfg, listserver.DefaultContainer)
	benchkit.Check(err)
	list := bareList(ctx, lc, *keys)
	sqliteDir, err := os.MkdirTemp("", "blobmark-bench-replicas")
	benchkit.Check(err)
	defer os.RemoveAll(sqliteDir)
	for _, db := range []struct{ name, url string }{{"SQLite", ""}, {"PostgreSQL", schemaURL(ctx, pg)}} {
		d := timeSyncIn(ctx, db.url, sqliteDir, 1, source(listserver.DefaultContainer, endpoint, true), *keys)
		rows = append(rows, row{fmt.Sprintf("Files, %d synthetic keys, 1 replica on %s", *keys, db.name),
			fmt.Sprintf("%.0f keys/s", float64(*keys)/d.Seconds()), fmt.Sprintf("sync ÷ bare list %.2f", d.Seconds()/list.Seconds())})
	}
	rows = append(rows, row{fmt.Sprintf("  bare list of the %d keys (SDK, 5000 per page)", *keys), list.Round(time.Millisecond).String(), ""})

	fmt.Printf("\n%-62s %-16s %s\n", "measure", "value", "ratio")
	fmt.Println(strings.Repeat("-", 100))
	for _, r := range rows {
		fmt.Printf("%-62s %-16s %s\n", r.name, r.value, r.note)
	}
	dropSchemas(ctx, pg)
}

var schemas []string

// schemaURL creates an empty schema and returns pg pointing at it.
func schemaURL(ctx context.Context, pg string) string {
	admin, err := sql.Open("pgx", pg)
	benchkit.Check(err)
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "bench_" + hex.EncodeToString(b[:])
	_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+name)
	benchkit.Check(err)
	schemas = append(schemas, name)
	benchkit.AtExit(func() { dropSchemas(context.Background(), pg) })
	u, err := url.Parse(pg)
	benchkit.Check(err)
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func dropSchemas(ctx context.Context, pg string) {
	admin, err := sql.Open("pgx", pg)
	if err != nil {
		return
	}
	defer admin.Close()
	for _, s := range schemas {
		_, _ = admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+s+" CASCADE")
	}
	schemas = nil
}

func timeSync(ctx context.Context, dbURL string, replicas int, s *blobmark.SourceStorage, want int) time.Duration {
	return timeSyncIn(ctx, dbURL, "", replicas, s, want)
}

// timeSyncIn starts replicas servers on the database, requests one sync
// of s as the API does, and returns the time until it completed.
func timeSyncIn(ctx context.Context, dbURL, dataDir string, replicas int, s *blobmark.SourceStorage, want int) time.Duration {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if dataDir != "" {
		var err error
		dataDir, err = os.MkdirTemp(dataDir, "db")
		benchkit.Check(err)
	}
	var srvs []*server.Server
	for range replicas {
		srv, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, DataDir: dataDir, SecretKey: key,
			JobPollInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		benchkit.Check(err)
		benchkit.Check(srv.StartJobs(ctx))
		srvs = append(srvs, srv)
	}
	defer func() {
		for _, srv := range srvs {
			_ = srv.Close(ctx)
		}
	}()
	db := srvs[0].DB
	p := &blobmark.Project{Title: "bench"}
	benchkit.Check(db.CreateProject(ctx, p))
	s.ID, s.ProjectID = 0, p.ID
	benchkit.Check(db.CreateSourceStorage(ctx, s))
	start := time.Now()
	_, err := db.RequestSourceSync(ctx, s.ID)
	benchkit.Check(err)
	for {
		st, err := db.FindSourceStorageByID(ctx, s.ID)
		benchkit.Check(err)
		switch st.State.Status {
		case blobmark.StatusCompleted:
			d := time.Since(start)
			if got := *st.State.LastSyncCount; got != want {
				benchkit.Fatal(fmt.Sprintf("sync created %d tasks, want %d", got, want))
			}
			return d
		case blobmark.StatusFailed, blobmark.StatusCompletedWithErrors:
			benchkit.Fatal(fmt.Sprintf("sync %s: %s", st.State.Status, st.State.Meta))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bareList lists the container flat, 5000 per page, and returns the time.
func bareList(ctx context.Context, c *azureblob.Container, want int) time.Duration {
	start := time.Now()
	n := 0
	benchkit.Check(c.List(ctx, azureblob.ListOptions{Recursive: true, PageSize: 5000}, func(p []azureblob.BlobItem) error {
		n += len(p)
		return nil
	}))
	if n != want {
		benchkit.Fatal(fmt.Sprintf("listed %d blobs, want %d", n, want))
	}
	return time.Since(start)
}
