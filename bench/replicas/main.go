// Command replicas measures how source syncs behave with several blobmark
// replicas on one PostgreSQL database, and what the database costs a
// single replica:
//
//   - Tasks mode (JSONL task files in Azurite, downloaded and parsed): the
//     sync's throughput with 1, 2 and 3 `blobmark worker` processes on
//     PostgreSQL, whose chunk jobs spread the files over every process
//     (--sync-chunk-files), the scaling ratio against one process, one
//     process with the files read by the sync job alone, and each ÷ the
//     bare download of every file from this process (the limit Azurite and
//     the machine's cores set); and the same task rows written straight to
//     the store, the database's limit;
//
//   - the same files served by a synthetic service that answers at once
//     (bench/listserver), one process, ÷ the database's limit: where the
//     database, not Azurite, is the limit;
//
//   - the same where every download waits -latency on a synthetic service
//     (bench/listserver), as downloads from Azure wait on the network: here
//     a process is bound by the downloads it keeps in flight, not by the
//     cores, and each ratio is against a bare download of every file with
//     as many in flight;
//
//   - Files mode against the synthetic List Blobs server
//     (bench/listserver), one replica: SQLite vs PostgreSQL, each ÷ a bare
//     listing of the same container.
//
//   - annotation saves by -writers annotators at once on one project,
//     through 1 and 3 `blobmark serve` processes: p50, p99 and saves/s.
//
// Run it with `go run ./bench/replicas [-parts saves,azurite,database,wait,files]`;
// it prints numbers and never fails on timing. -runs repeats the database
// and Files-mode parts, whose ratios move with whatever else shares the
// cores, and
// -cpuprofile profiles those on PostgreSQL. PostgreSQL comes from
// BLOBMARK_TEST_POSTGRES_URL, else the local server the tests use. All
// processes share this machine's cores, so scaling shows only where one
// process leaves them idle.
//
// Like every program under bench/, it may import any blobmark package.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"github.com/blobmark/blobmark/internal/pgtest"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/bench/listserver"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/server"
	"github.com/blobmark/blobmark/sqlstore"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	files := flag.Int("files", 2000, "Tasks-mode JSONL files in Azurite")
	perFile := flag.Int("per-file", 50, "tasks per JSONL file")
	keys := flag.Int("keys", 100_000, "Files-mode keys of the synthetic container")
	waitFiles := flag.Int("wait-files", 20_000, "one-task files of the synthetic service that answers after -latency")
	latency := flag.Duration("latency", 20*time.Millisecond, "time the synthetic service takes to answer a Get Blob")
	chunk := flag.String("chunk", "", "task files per chunk (--sync-chunk-files); empty means the server's default")
	writers := flag.Int("writers", 50, "annotators saving annotations on one project at once")
	saves := flag.Int("saves", 20, "annotations each annotator saves")
	dbLatency := flag.Duration("db-latency", 0, "saves: delay each way between the serving processes and PostgreSQL, as across a network (e.g. 500us)")
	parts := flag.String("parts", "saves,azurite,database,wait,files", "the parts to measure, comma-separated, in this order")
	runs := flag.Int("runs", 1, "times the database and files parts are measured, each on a fresh store (a row each)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the Files-mode syncs on PostgreSQL to this file")
	flag.Parse()
	b := &bench{ctx: context.Background(), pg: pgtest.URL(), files: *files, perFile: *perFile, chunk: *chunk}
	defer dropSchemas(b.ctx, b.pg)
	if strings.TrimSpace(*parts) != "files" { // the one part that starts no worker process
		b.bin = benchkit.BuildBlobmark()
	}
	var rows []row
	for _, part := range strings.Split(*parts, ",") {
		switch strings.TrimSpace(part) {
		case "saves":
			rows = append(rows, b.saves(*writers, *saves, *dbLatency)...)
		case "azurite":
			rows = append(rows, b.azurite()...)
		case "database":
			rows = append(rows, b.database(*runs)...)
		case "wait":
			rows = append(rows, b.wait(*waitFiles, *latency)...)
		case "files":
			dropSchemas(b.ctx, b.pg) // the Files part starts on a database without other parts' rows
			rows = append(rows, filesParts(b.ctx, b.pg, *keys, *runs, *cpuprofile)...)
		default:
			benchkit.Fatal(fmt.Sprintf("unknown part %q: want saves, azurite, database, wait or files", part))
		}
	}
	printRows(rows)
}

// bench holds what the parts share: the PostgreSQL server, the blobmark
// binary the worker processes run, and the Tasks-mode files.
type bench struct {
	ctx            context.Context
	pg, bin, chunk string
	files, perFile int
}

func (b *bench) tasks() int { return b.files * b.perFile }

// saves measures annotation saves on one project through 1 and 3 replicas,
// whose connections to the database wait latency each way.
func (b *bench) saves(writers, saves int, latency time.Duration) []row {
	var rows []row
	for _, n := range []int{1, 3} {
		url := schemaURL(b.ctx, b.pg)
		serveURL := url
		if latency > 0 {
			u, err := neturl.Parse(url)
			benchkit.Check(err)
			var stop func()
			u.Host, stop = benchkit.LatencyProxy(u.Host, latency)
			defer stop()
			serveURL = u.String()
		}
		p50, p99, rate := timeSaves(b.ctx, b.bin, url, serveURL, n, writers, saves)
		name := fmt.Sprintf("Annotation saves, %d writers on one project, %d replica(s)", writers, n)
		if latency > 0 {
			name += fmt.Sprintf(", database %s away", latency)
		}
		rows = append(rows, row{name, fmt.Sprintf("%.0f saves/s", rate), fmt.Sprintf("p50 %s, p99 %s", benchkit.Round(p50), benchkit.Round(p99))})
	}
	return rows
}

// azurite measures Tasks mode from Azurite with 1, 2 and 3 worker
// processes, and one without fan-out, each ÷ the bare download.
func (b *bench) azurite() []row {
	ctx := b.ctx
	az := benchkit.StartAzurite()
	defer az.Stop()
	az.CreateContainer(ctx, "tasks")
	conn := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true})
	c, err := conn.Container(ctx, az.Config(), "tasks")
	benchkit.Check(err)
	benchkit.Upload(ctx, c, b.files, 16, func(i int) (string, []byte) {
		var s strings.Builder
		for j := range b.perFile {
			fmt.Fprintf(&s, "{\"text\":\"file %d task %d\"}\n", i, j)
		}
		return fmt.Sprintf("tasks/%05d.jsonl", i), []byte(s.String())
	})
	tasks := b.tasks()
	_, limit := benchkit.ListAndDownload(ctx, c, 96)
	limitRate := float64(tasks) / limit.Seconds()
	name := func(n int) string {
		return fmt.Sprintf("Tasks, %d JSONL × %d on PostgreSQL, %d worker process(es)", b.files, b.perFile, n)
	}
	alone, busy := timeSyncProcesses(ctx, b.bin, schemaURL(ctx, b.pg), 1, source("tasks", az.Endpoint, false), tasks, "0")
	rows := []row{{name(1) + ", no fan-out", fmt.Sprintf("%.0f tasks/s", float64(tasks)/alone.Seconds()),
		fmt.Sprintf("÷ download limit %.2f; %s", float64(tasks)/alone.Seconds()/limitRate, busy)}}
	var one float64
	for n := 1; n <= 3; n++ {
		d, busy := timeSyncProcesses(ctx, b.bin, schemaURL(ctx, b.pg), n, source("tasks", az.Endpoint, false), tasks, b.chunk)
		rate := float64(tasks) / d.Seconds()
		if n == 1 {
			one = rate
		}
		rows = append(rows, row{name(n), fmt.Sprintf("%.0f tasks/s", rate),
			fmt.Sprintf("%.2f× one process, ÷ download limit %.2f; %s", rate/one, rate/limitRate, busy)})
	}
	return append(rows, row{"  download limit: list + GET every file, 96 at once, here", fmt.Sprintf("%.0f tasks/s", limitRate), limit.Round(time.Millisecond).String()})
}

// database measures Tasks mode where the database is the limit: the same
// files from the synthetic service, which answers at once and costs the
// cores little, against the same task rows written straight to the store.
func (b *bench) database(runs int) []row {
	ctx, tasks := b.ctx, b.tasks()
	ts := listserver.Start(b.files, listserver.WithTasksPerBlob(b.perFile))
	defer ts.Close()
	endpoint := ts.URL + "/" + listserver.DefaultAccount + "/"
	var rows []row
	ratios := map[string][]float64{}
	for range runs {
		// The best of two: the first write into a new database runs cold
		// and would flatter the ratios.
		write, busy := storeLimit(ctx, schemaURL(ctx, b.pg), b.files, b.perFile)
		if again, againBusy := storeLimit(ctx, schemaURL(ctx, b.pg), b.files, b.perFile); again < write {
			write, busy = again, againBusy
		}
		writeRate := float64(tasks) / write.Seconds()
		rows = append(rows, row{"  database limit: the same task batches written by one writer, best of 2", fmt.Sprintf("%.0f tasks/s", writeRate),
			write.Round(time.Millisecond).String() + "; " + busy})
		for _, c := range []struct{ name, chunk string }{{"no fan-out", "0"}, {"chunks", b.chunk}} {
			d, busy := timeSyncProcesses(ctx, b.bin, schemaURL(ctx, b.pg), 1, source(listserver.DefaultContainer, endpoint, false), tasks, c.chunk)
			rate := float64(tasks) / d.Seconds()
			rows = append(rows, row{fmt.Sprintf("Tasks, %d synthetic JSONL × %d, no wait, 1 worker process, %s", b.files, b.perFile, c.name),
				fmt.Sprintf("%.0f tasks/s", rate), fmt.Sprintf("÷ database limit %.2f; %s", rate/writeRate, busy)})
			ratios[c.name] = append(ratios[c.name], rate/writeRate)
		}
		dropSchemas(ctx, b.pg) // each run starts on a database without the last one's rows
	}
	for _, name := range []string{"no fan-out", "chunks"} {
		rows = append(rows, medianRow("  Tasks, no wait, "+name+" ÷ database limit", ratios[name])...)
	}
	return rows
}

// medianRow is a row with the median of a measure's ratios over several
// runs, which a single run on shared cores can miss either way; none for
// one run.
func medianRow(name string, ratios []float64) []row {
	if len(ratios) < 2 {
		return nil
	}
	sorted := slices.Sorted(slices.Values(ratios))
	m := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		m = (sorted[len(sorted)/2-1] + m) / 2
	}
	return []row{{name + fmt.Sprintf(", median of %d runs", len(ratios)), fmt.Sprintf("%.2f", m),
		fmt.Sprintf("from %.2f to %.2f", sorted[0], sorted[len(sorted)-1])}}
}

// wait measures Tasks mode where downloads wait on the network, as against
// Azure: a synthetic service answering each Get Blob after latency.
func (b *bench) wait(files int, latency time.Duration) []row {
	ctx := b.ctx
	ws := listserver.Start(files, listserver.WithGetLatency(latency), listserver.WithBlobSize(200))
	defer ws.Close()
	endpoint := ws.URL + "/" + listserver.DefaultAccount + "/"
	wc, err := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true}).Container(ctx, azureblob.Config{AuthType: azureblob.AuthAccountKey,
		AccountName: benchkit.Account, AccountKey: benchkit.Key, Endpoint: endpoint}, listserver.DefaultContainer)
	benchkit.Check(err)
	perProcess := sqlstore.DefaultQueues(sqlstore.Postgres, 0)[blobmark.QueueSyncFiles].MaxWorkers * importer.DefaultConcurrency
	name := func(n int) string {
		return fmt.Sprintf("Tasks, %d one-task files, GET after %s, %d worker process(es)", files, latency, n)
	}
	alone, busy := timeSyncProcesses(ctx, b.bin, schemaURL(ctx, b.pg), 1, source(listserver.DefaultContainer, endpoint, false), files, "0")
	_, limit := benchkit.ListAndDownload(ctx, wc, importer.DefaultConcurrency)
	rows := []row{{name(1) + ", no fan-out", fmt.Sprintf("%.0f tasks/s", float64(files)/alone.Seconds()),
		fmt.Sprintf("÷ bare download, %d in flight %.2f; %s", importer.DefaultConcurrency, limit.Seconds()/alone.Seconds(), busy)}}
	var one float64
	for n := 1; n <= 3; n++ {
		d, busy := timeSyncProcesses(ctx, b.bin, schemaURL(ctx, b.pg), n, source(listserver.DefaultContainer, endpoint, false), files, b.chunk)
		rate := float64(files) / d.Seconds()
		if n == 1 {
			one = rate
		}
		_, limit := benchkit.ListAndDownload(ctx, wc, n*perProcess)
		rows = append(rows, row{name(n), fmt.Sprintf("%.0f tasks/s", rate),
			fmt.Sprintf("%.2f× one process, ÷ bare download, %d in flight %.2f; %s", rate/one, n*perProcess, limit.Seconds()/d.Seconds(), busy)})
	}
	return rows
}

// source is an Azure source storage of container at endpoint.
func source(container, endpoint string, blobURLs bool) *blobmark.SourceStorage {
	return &blobmark.SourceStorage{Type: "azure", Synchronizable: true, Container: container, UseBlobURLs: blobURLs, RecursiveScan: true,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": benchkit.Account, "endpoint": endpoint},
		Secrets:    blobmark.Secrets{"account_key": benchkit.Key}}
}

// filesParts syncs keys synthetic keys in Files mode with one replica,
// runs times on SQLite then runs times on PostgreSQL (each on a fresh
// store), each ÷ a bare listing of the same container taken just before
// it. With cpuprofile set, the PostgreSQL syncs are profiled.
func filesParts(ctx context.Context, pg string, keys, runs int, cpuprofile string) []row {
	ls := listserver.Start(keys)
	defer ls.Close()
	endpoint := ls.URL + "/" + listserver.DefaultAccount + "/"
	cfg := azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: benchkit.Account, AccountKey: benchkit.Key, Endpoint: endpoint}
	lc, err := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true}).Container(ctx, cfg, listserver.DefaultContainer)
	benchkit.Check(err)
	sqliteDir, err := os.MkdirTemp("", "blobmark-bench-replicas")
	benchkit.Check(err)
	defer os.RemoveAll(sqliteDir)
	var rows []row
	for _, db := range []struct{ name, url string }{{"SQLite", ""}, {"PostgreSQL", pg}} {
		if cpuprofile != "" && db.url != "" {
			f, err := os.Create(cpuprofile)
			benchkit.Check(err)
			benchkit.Check(pprof.StartCPUProfile(f))
		}
		var ratios []float64
		for range runs {
			url := db.url
			if url != "" {
				url = schemaURL(ctx, pg)
			}
			cpu := benchkit.ReadCPU()
			list := bareList(ctx, lc, keys)
			listBusy := benchkit.BusySince(cpu)
			d, busy := timeSyncIn(ctx, url, sqliteDir, 1, source(listserver.DefaultContainer, endpoint, true), keys)
			rows = append(rows, row{fmt.Sprintf("Files, %d synthetic keys, 1 replica on %s", keys, db.name),
				fmt.Sprintf("%.0f keys/s", float64(keys)/d.Seconds()),
				fmt.Sprintf("sync ÷ bare list %.2f (list %s, %s); %s", d.Seconds()/list.Seconds(), list.Round(time.Millisecond), listBusy, busy)})
			ratios = append(ratios, d.Seconds()/list.Seconds())
		}
		rows = append(rows, medianRow("  Files on "+db.name+", sync ÷ bare list", ratios)...)
		if cpuprofile != "" && db.url != "" {
			pprof.StopCPUProfile()
		}
	}
	return rows
}

// row is one measure of the table main prints.
type row struct{ name, value, note string }

func printRows(rows []row) {
	fmt.Printf("\n%-62s %-16s %s\n", "measure", "value", "ratio")
	fmt.Println(strings.Repeat("-", 100))
	for _, r := range rows {
		fmt.Printf("%-62s %-16s %s\n", r.name, r.value, r.note)
	}
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
	u, err := neturl.Parse(pg)
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

// timeSyncIn starts replicas servers in this process on the database,
// requests one sync of s as the API does, and returns the time until it
// completed and how busy the cores were meanwhile.
func timeSyncIn(ctx context.Context, dbURL, dataDir string, replicas int, s *blobmark.SourceStorage, want int) (time.Duration, string) {
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
			AllowPrivateNetwork: true, Logger: slog.New(slog.DiscardHandler)})
		benchkit.Check(err)
		benchkit.Check(srv.StartJobs(ctx))
		srvs = append(srvs, srv)
	}
	defer func() {
		for _, srv := range srvs {
			_ = srv.Close(ctx)
		}
	}()
	return runSync(ctx, srvs[0].DB, s, want)
}

// timeSyncProcesses starts n `blobmark worker` processes on the database
// (with --sync-chunk-files chunk), requests one sync of s from this
// process, which works no job, and returns the time until it completed and
// how busy the cores were meanwhile.
func timeSyncProcesses(ctx context.Context, bin, dbURL string, n int, s *blobmark.SourceStorage, want int, chunk string) (time.Duration, string) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	srv, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, SecretKey: key, AllowPrivateNetwork: true, Logger: slog.New(slog.DiscardHandler)})
	benchkit.Check(err)
	defer srv.Close(ctx)
	dir, err := os.MkdirTemp("", "blobmark-bench-workers")
	benchkit.Check(err)
	defer os.RemoveAll(dir)
	for i := range n {
		_, stop := startProcess(bin, "worker", filepath.Join(dir, strconv.Itoa(i)), "BLOBMARK_DATABASE_URL="+dbURL,
			"BLOBMARK_SECRET_KEY="+hex.EncodeToString(key), "BLOBMARK_SYNC_CHUNK_FILES="+chunk)
		defer stop()
	}
	return runSync(ctx, srv.DB, s, want)
}

// startProcess starts `blobmark command` (worker or serve) with env, its
// data and log in dir, and waits until it is ready at addr; stop kills it.
func startProcess(bin, command, dir string, env ...string) (addr string, stop func()) {
	benchkit.Check(os.MkdirAll(dir, 0o700))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	benchkit.Check(err)
	addr = l.Addr().String()
	l.Close()
	logPath := filepath.Join(dir, "log")
	logf, err := os.Create(logPath)
	benchkit.Check(err)
	defer logf.Close()
	cmd := exec.Command(bin, command)
	cmd.Env = append(append(os.Environ(), env...), "BLOBMARK_ADDR="+addr, "BLOBMARK_DATA_DIR="+dir, "BLOBMARK_LOG_LEVEL=warn", "BLOBMARK_ALLOW_PRIVATE_NETWORK=true")
	cmd.Stdout, cmd.Stderr = logf, logf
	benchkit.Check(cmd.Start())
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	benchkit.AtExit(stop)
	for range 300 {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, stop
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	benchkit.Fatal(command + " not ready:\n" + string(log))
	return "", nil
}

// timeSaves has writers annotators save saves annotations each, on tasks
// of their own in one project, at once, through replicas `blobmark serve`
// processes on the database at serveURL (annotator i through replica i mod
// replicas), after setting the project up at dbURL, and returns the saves'
// p50 and p99 and their rate.
func timeSaves(ctx context.Context, bin, dbURL, serveURL string, replicas, writers, saves int) (p50, p99 time.Duration, rate float64) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	srv, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, SecretKey: key, Logger: slog.New(slog.DiscardHandler)})
	benchkit.Check(err)
	defer srv.Close(ctx)
	user, token, err := srv.DB.CreateUser(ctx, "bench@example.com", "bench password 123")
	benchkit.Check(err)
	p := &blobmark.Project{Title: "saves"}
	benchkit.Check(srv.DB.CreateProject(blobmark.NewContextWithUser(ctx, user), p))
	tasks := make([]*blobmark.TaskImport, writers*saves)
	for i := range tasks {
		tasks[i] = &blobmark.TaskImport{Data: []byte(fmt.Sprintf(`{"text":"task %d"}`, i))}
	}
	res, err := srv.DB.ImportTasks(ctx, p.ID, tasks)
	benchkit.Check(err)
	dir, err := os.MkdirTemp("", "blobmark-bench-serve")
	benchkit.Check(err)
	defer os.RemoveAll(dir)
	var addrs []string
	for i := range replicas {
		addr, stop := startProcess(bin, "serve", filepath.Join(dir, strconv.Itoa(i)), "BLOBMARK_DATABASE_URL="+serveURL,
			"BLOBMARK_SECRET_KEY="+hex.EncodeToString(key))
		defer stop()
		addrs = append(addrs, addr)
	}
	latencies := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			client := &http.Client{}
			for i := range saves {
				_, took := benchkit.Call(client, token, "POST", fmt.Sprintf("http://%s/api/tasks/%d/annotations/", addrs[w%replicas],
					res.TaskIDs[w*saves+i]), `{"result":[]}`, http.StatusCreated)
				latencies[w] = append(latencies[w], took)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(latencies...)
	return benchkit.Percentile(all, 50), benchkit.Percentile(all, 99), float64(len(all)) / elapsed.Seconds()
}

// storeLimit writes the rows of a Tasks-mode sync of files × perFile
// straight to the store, in the sync's batches (importer.DefaultMaxBatchTasks
// tasks, whole files), one after the other: what the database takes
// without listing, downloading or parsing, and how busy the cores were.
func storeLimit(ctx context.Context, dbURL string, files, perFile int) (time.Duration, string) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	srv, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, SecretKey: key, AllowPrivateNetwork: true, Logger: slog.New(slog.DiscardHandler)})
	benchkit.Check(err)
	defer srv.Close(ctx)
	db := srv.DB
	p := &blobmark.Project{Title: "bench"}
	benchkit.Check(db.CreateProject(ctx, p))
	s := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "tasks",
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": benchkit.Account},
		Secrets:    blobmark.Secrets{"account_key": benchkit.Key}}
	benchkit.Check(db.CreateSourceStorage(ctx, s))
	var batches []*importer.Batch
	b := &importer.Batch{Generation: 1}
	for i := range files {
		for j := range perFile {
			b.Create = append(b.Create, importer.NewTask{Key: fmt.Sprintf("tasks/%05d.jsonl", i), Row: j, ETag: `"0x8D"`, Size: 1000,
				Task: &blobmark.TaskImport{Data: []byte(fmt.Sprintf(`{"text":"file %d task %d"}`, i, j))}})
		}
		if len(b.Create) >= importer.DefaultMaxBatchTasks || i == files-1 {
			batches = append(batches, b)
			b = &importer.Batch{Generation: 1}
		}
	}
	benchkit.Checkpoint(ctx, db)
	start, cpu := time.Now(), benchkit.ReadCPU()
	for _, b := range batches {
		_, err := db.WriteBatch(ctx, s.ID, b)
		benchkit.Check(err)
	}
	return time.Since(start), benchkit.BusySince(cpu)
}

// runSync creates a project and s on db, requests a sync as the API does
// and returns the time until it completed with want tasks, and how busy
// the cores were meanwhile (benchkit.BusySince).
//
// The end is the sync's own completion time (last_sync), so the poll can
// be slow: reading a storage counts its links, and a poll every few
// milliseconds would load the database with work that is not the sync's.
func runSync(ctx context.Context, db *sqlstore.DB, s *blobmark.SourceStorage, want int) (time.Duration, string) {
	p := &blobmark.Project{Title: "bench"}
	benchkit.Check(db.CreateProject(ctx, p))
	s.ID, s.ProjectID = 0, p.ID
	benchkit.Check(db.CreateSourceStorage(ctx, s))
	benchkit.Checkpoint(ctx, db)
	start, cpu := time.Now(), benchkit.ReadCPU()
	_, err := db.RequestSourceSync(ctx, s.ID)
	benchkit.Check(err)
	for {
		st, err := db.FindSourceStorageByID(ctx, s.ID)
		benchkit.Check(err)
		switch st.State.Status {
		case blobmark.StatusCompleted:
			d, busy := st.State.LastSync.Sub(start), benchkit.BusySince(cpu)
			if got := *st.State.LastSyncCount; got != want {
				benchkit.Fatal(fmt.Sprintf("sync created %d tasks, want %d", got, want))
			}
			return d, busy
		case blobmark.StatusFailed, blobmark.StatusCompletedWithErrors:
			traceback := ""
			if st.State.Traceback != nil {
				traceback = *st.State.Traceback
			}
			benchkit.Fatal(fmt.Sprintf("sync %s: %s\n%s", st.State.Status, st.State.Meta, traceback))
		}
		time.Sleep(250 * time.Millisecond)
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
