// Command sync measures source storage syncs against their physical limit,
// measured in the same run, and prints a table of ratios:
//
//   - Files mode, N blobs in Azurite: sync ÷ a bare listing with the same
//     SDK (flat, 5000 per page), and a re-sync with nothing new ÷ that
//     listing;
//   - Files mode at scale against the synthetic List Blobs server
//     (bench/listserver): sync ÷ bare listing, and the peak RSS of a sync
//     of the small and the large container, each in a process of its own;
//   - Tasks mode, F JSONL files of T tasks in Azurite: sync ÷ (listing +
//     downloading every file at the importer's concurrency).
//
// Run it with `go run ./bench/sync`; flags shrink or skip parts. It never
// fails on timing: it prints numbers.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/listserver"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Azurite's well-known development account.
const (
	account    = "devstoreaccount1"
	accountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

type row struct {
	name, value, goal string
}

func main() {
	blobs := flag.Int("blobs", 20_000, "Files-mode blobs in Azurite")
	small := flag.Int("scale-small", 100_000, "keys of the smaller synthetic container")
	large := flag.Int("scale", 1_000_000, "keys of the larger synthetic container")
	files := flag.Int("files", 2000, "Tasks-mode JSONL files in Azurite")
	perFile := flag.Int("per-file", 50, "tasks per JSONL file")
	skipAzurite := flag.Bool("skip-azurite", false, "skip the Azurite parts")
	skipScale := flag.Bool("skip-scale", false, "skip the synthetic-server part")
	child := flag.Int("child-scale", 0, "internal: run one synthetic sync of N keys and print its measures")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process (with -child-scale: of one synthetic sync) to this file")
	flag.Parse()
	ctx := context.Background()

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	if *child > 0 {
		childScale(ctx, *child)
		return
	}
	var rows []row
	if !*skipAzurite {
		rows = append(rows, azuriteParts(ctx, *blobs, *files, *perFile)...)
	}
	if !*skipScale {
		rows = append(rows, scaleParts(*small, *large)...)
	}
	fmt.Printf("\n%-62s %-14s %s\n", "measure", "value", "goal")
	fmt.Println(strings.Repeat("-", 90))
	for _, r := range rows {
		fmt.Printf("%-62s %-14s %s\n", r.name, r.value, r.goal)
	}
}

// store opens a fresh SQLite store with one project and one storage.
func store(ctx context.Context, s *blobmark.SourceStorage) (*sqlstore.DB, func()) {
	dir, err := os.MkdirTemp("", "blobmark-bench-sync")
	check(err)
	db, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	check(err)
	p := &blobmark.Project{Title: "bench"}
	check(db.CreateProject(ctx, p))
	s.ProjectID, s.Type, s.Synchronizable = p.ID, "azure", true
	check(db.CreateSourceStorage(ctx, s))
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

// runSync requests a sync as the API does and works its job to the end in
// this goroutine; it returns the job's duration and the final state.
func runSync(ctx context.Context, db *sqlstore.DB, conn *azureblob.Connector, id int64) (time.Duration, *blobmark.SourceStorage) {
	q, err := db.RequestSourceSync(ctx, id)
	check(err)
	jobID, err := strconv.ParseInt(*q.State.LastSyncJob, 10, 64)
	check(err)
	w := &jobs.SyncSourceWorker{Store: db, Connector: conn}
	start := time.Now()
	err = w.Work(ctx, &river.Job[blobmark.SyncSourceJob]{JobRow: &rivertype.JobRow{ID: jobID, Attempt: 1}, Args: blobmark.SyncSourceJob{StorageID: id}})
	d := time.Since(start)
	check(err)
	st, err := db.FindSourceStorageByID(ctx, id)
	check(err)
	if st.State.Status != blobmark.StatusCompleted {
		fatalf("sync ended %s: %v", st.State.Status, st.State.Traceback)
	}
	return d, st
}

// bareList lists the container flat, 5000 per page, and returns the time.
func bareList(ctx context.Context, c *azureblob.Container, want int) time.Duration {
	start := time.Now()
	n := 0
	check(c.List(ctx, azureblob.ListOptions{Recursive: true, PageSize: 5000}, func(p []azureblob.BlobItem) error {
		n += len(p)
		return nil
	}))
	d := time.Since(start)
	if n != want {
		fatalf("listed %d blobs, want %d", n, want)
	}
	return d
}

// median of the durations.
func median(ds ...time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func ratio(a, b time.Duration) string { return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds()) }

func azuriteParts(ctx context.Context, blobs, files, perFile int) []row {
	endpoint, stop := startAzurite()
	defer stop()
	conn := azureblob.NewConnector(azureblob.Options{})
	cfg := azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: account, AccountKey: accountKey, Endpoint: endpoint}
	connection := blobmark.Connection{"auth_type": "account_key", "account_name": account, "endpoint": endpoint}
	secrets := blobmark.Connection{"account_key": accountKey}
	var rows []row

	// Files mode.
	c := container(ctx, conn, cfg, "files")
	upload(ctx, c, blobs, func(i int) (string, []byte) { return fmt.Sprintf("img/%03d/%07d.jpg", i/1000, i), []byte("x") })
	s := &blobmark.SourceStorage{Container: "files", UseBlobURLs: true, RecursiveScan: true, Connection: connection, Secrets: secrets}
	db, done := store(ctx, s)
	l1 := bareList(ctx, c, blobs)
	syncT, _ := runSync(ctx, db, conn, s.ID)
	l2 := bareList(ctx, c, blobs)
	resyncT, st := runSync(ctx, db, conn, s.ID)
	l3 := bareList(ctx, c, blobs)
	done()
	list := median(l1, l2, l3)
	_ = st
	rows = append(rows,
		row{fmt.Sprintf("Files, %d blobs in Azurite: bare list", blobs), list.Round(time.Millisecond).String(), ""},
		row{"  sync", syncT.Round(time.Millisecond).String(), ""},
		row{"  sync ÷ list", ratio(syncT, list), "≤ 1.3"},
		row{"  re-sync (nothing new) ÷ list", ratio(resyncT, list), "≤ 1.1"},
	)

	// Tasks mode.
	tc := container(ctx, conn, cfg, "tasks")
	upload(ctx, tc, files, func(i int) (string, []byte) {
		var b strings.Builder
		for j := range perFile {
			fmt.Fprintf(&b, "{\"text\":\"file %d task %d\"}\n", i, j)
		}
		return fmt.Sprintf("tasks/%05d.jsonl", i), []byte(b.String())
	})
	ts := &blobmark.SourceStorage{Container: "tasks", UseBlobURLs: false, RecursiveScan: true, Connection: connection, Secrets: secrets}
	tdb, tdone := store(ctx, ts)
	b1 := listAndDownload(ctx, tc, files)
	tsync, tst := runSync(ctx, tdb, conn, ts.ID)
	b2 := listAndDownload(ctx, tc, files)
	tdone()
	if *tst.State.LastSyncCount != files*perFile {
		fatalf("tasks sync created %d tasks, want %d", *tst.State.LastSyncCount, files*perFile)
	}
	base := min(b1, b2)
	rows = append(rows,
		row{fmt.Sprintf("Tasks, %d JSONL × %d: list + download all (c=%d)", files, perFile, importer.DefaultConcurrency), base.Round(time.Millisecond).String(), ""},
		row{"  sync", tsync.Round(time.Millisecond).String(), ""},
		row{"  sync ÷ (list + download)", ratio(tsync, base), "≤ 1.5"},
	)
	return rows
}

// listAndDownload lists the container and downloads every blob with the
// importer's default concurrency: the floor of a Tasks-mode sync.
func listAndDownload(ctx context.Context, c *azureblob.Container, want int) time.Duration {
	start := time.Now()
	keys := make(chan string, 5000)
	var wg sync.WaitGroup
	var n sync.Mutex
	count := 0
	for range importer.DefaultConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				d, err := c.Download(ctx, k, 0, 0)
				check(err)
				_, err = io.Copy(io.Discard, d.Body)
				check(err)
				d.Body.Close()
				n.Lock()
				count++
				n.Unlock()
			}
		}()
	}
	check(c.List(ctx, azureblob.ListOptions{Recursive: true, PageSize: 5000}, func(p []azureblob.BlobItem) error {
		for _, b := range p {
			keys <- b.Name
		}
		return nil
	}))
	close(keys)
	wg.Wait()
	if count != want {
		fatalf("downloaded %d, want %d", count, want)
	}
	return time.Since(start)
}

func container(ctx context.Context, conn *azureblob.Connector, cfg azureblob.Config, name string) *azureblob.Container {
	c, err := conn.Container(ctx, cfg, name)
	check(err)
	// Creating through the SDK directly is not part of the connector's API;
	// a PUT with the account key is the simplest way.
	check(createContainer(ctx, cfg, name))
	return c
}

// upload writes n blobs with 64 writers.
func upload(ctx context.Context, c *azureblob.Container, n int, blob func(i int) (string, []byte)) {
	idx := make(chan int, 1024)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				k, v := blob(i)
				_, err := c.UploadBytes(ctx, k, v, "application/octet-stream")
				check(err)
			}
		}()
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
}

// scaleParts runs the synthetic syncs, each in a child process so its
// peak RSS is its own.
func scaleParts(small, large int) []row {
	a := runChild(small)
	b := runChild(large)
	return []row{
		{fmt.Sprintf("Files at scale, %d keys (synthetic server): sync ÷ bare list", large), fmt.Sprintf("%.2f", b["ratio"]), "≤ 1.5"},
		{fmt.Sprintf("  sync %d keys", large), fmt.Sprintf("%.1fs", b["sync"]), ""},
		{fmt.Sprintf("  sync ÷ bare list at %d keys", small), fmt.Sprintf("%.2f", a["ratio"]), ""},
		{fmt.Sprintf("  peak RSS at %d keys", small), fmt.Sprintf("%.0f MB", a["rss_mb"]), ""},
		{fmt.Sprintf("  peak RSS at %d keys", large), fmt.Sprintf("%.0f MB", b["rss_mb"]), "< 200 MB"},
		{"  peak RSS growth, large ÷ small", fmt.Sprintf("%+.0f%%", (b["rss_mb"]/a["rss_mb"]-1)*100), "≤ +20%"},
	}
}

func runChild(n int) map[string]float64 {
	self, err := os.Executable()
	check(err)
	out, err := exec.Command(self, "-child-scale", strconv.Itoa(n)).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			fatalf("child: %v\n%s", err, ee.Stderr)
		}
		check(err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			f, _ := strconv.ParseFloat(v, 64)
			m[k] = f
		}
	}
	return m
}

// childScale syncs n synthetic keys and prints key=value measures.
func childScale(ctx context.Context, n int) {
	srv := listserver.Start(n)
	defer srv.Close()
	endpoint := srv.URL + "/" + listserver.DefaultAccount + "/"
	conn := azureblob.NewConnector(azureblob.Options{})
	cfg := azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: account, AccountKey: accountKey, Endpoint: endpoint}
	c, err := conn.Container(ctx, cfg, listserver.DefaultContainer)
	check(err)
	s := &blobmark.SourceStorage{Container: listserver.DefaultContainer, UseBlobURLs: true, RecursiveScan: true,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": account, "endpoint": endpoint},
		Secrets:    blobmark.Connection{"account_key": accountKey}}
	db, done := store(ctx, s)
	defer done()
	l1 := bareList(ctx, c, n)
	syncT, _ := runSync(ctx, db, conn, s.ID)
	l2 := bareList(ctx, c, n)
	fmt.Printf("ratio=%f\nsync=%f\nrss_mb=%f\n", syncT.Seconds()/min(l1, l2).Seconds(), syncT.Seconds(), peakRSSMB())
}

// peakRSSMB reads the process's peak resident set size (VmHWM).
func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	check(err)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// startAzurite runs the repository's pinned Azurite on a free loopback port,
// over HTTP and in memory, and returns the account endpoint.
func startAzurite() (string, func()) {
	bin, err := findAzurite()
	check(err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "azurite-bench")
	check(err)
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--inMemoryPersistence",
		"--skipApiVersionCheck", "--disableTelemetry", "--silent")
	cmd.Dir = dir
	check(cmd.Start())
	var once sync.Once
	stop := func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) }) }
	atExit = append(atExit, stop)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d/%s/", port, account)
	for range 300 {
		if resp, err := http.Get(endpoint + "?comp=list"); err == nil {
			resp.Body.Close()
			return endpoint, stop
		}
		time.Sleep(100 * time.Millisecond)
	}
	fatal("azurite did not start")
	return "", nil
}

// findAzurite looks for node_modules/.bin/azurite-blob beside go.mod.
func findAzurite() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("azurite is not installed: run npm ci in %s", dir)
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// atExit holds what must be stopped even when the benchmark fails
// (Azurite runs as a separate process).
var atExit []func()

func check(err error) {
	if err != nil {
		fatal(err)
	}
}

func fatal(v ...any) {
	for _, f := range atExit {
		f()
	}
	log.Fatal(v...)
}

// createContainer creates a container with the SDK directly: the connector
// never creates containers.
func createContainer(ctx context.Context, cfg azureblob.Config, name string) error {
	key, err := service.NewSharedKeyCredential(cfg.AccountName, cfg.AccountKey)
	if err != nil {
		return err
	}
	svc, err := service.NewClientWithSharedKeyCredential(cfg.Endpoint, key, nil)
	if err != nil {
		return err
	}
	_, err = svc.CreateContainer(ctx, name, nil)
	return err
}

func fatalf(format string, args ...any) { fatal(fmt.Sprintf(format, args...)) }
