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
//
// Like every program under bench/, it may import any blobmark package.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/bench/listserver"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
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
		benchkit.Check(err)
		benchkit.Check(pprof.StartCPUProfile(f))
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
	benchkit.Check(err)
	db, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler), Secrets: benchkit.SecretBox()})
	benchkit.Check(err)
	p := &blobmark.Project{Title: "bench"}
	benchkit.Check(db.CreateProject(ctx, p))
	s.ProjectID, s.Type, s.Synchronizable = p.ID, "azure", true
	benchkit.Check(db.CreateSourceStorage(ctx, s))
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

// runSync requests a sync as the API does and works its job to the end in
// this goroutine; it returns the job's duration and the final state.
func runSync(ctx context.Context, db *sqlstore.DB, conn *azureblob.Connector, id int64) (time.Duration, *blobmark.SourceStorage) {
	q, err := db.RequestSourceSync(ctx, id)
	benchkit.Check(err)
	jobID, err := strconv.ParseInt(*q.State.LastSyncJob, 10, 64)
	benchkit.Check(err)
	w := &jobs.SyncSourceWorker{Store: db, Source: azureblob.SourceOpener{Connector: conn}}
	start := time.Now()
	err = w.Work(ctx, &river.Job[blobmark.SyncSourceJob]{JobRow: &rivertype.JobRow{ID: jobID, Attempt: 1}, Args: blobmark.SyncSourceJob{StorageID: id}})
	d := time.Since(start)
	benchkit.Check(err)
	st, err := db.FindSourceStorageByID(ctx, id)
	benchkit.Check(err)
	if st.State.Status != blobmark.StatusCompleted {
		fatalf("sync ended %s: %v", st.State.Status, st.State.Traceback)
	}
	return d, st
}

// bareList lists the container flat, 5000 per page, and returns the time.
func bareList(ctx context.Context, c *azureblob.Container, want int) time.Duration {
	start := time.Now()
	n := 0
	benchkit.Check(c.List(ctx, azureblob.ListOptions{Recursive: true, PageSize: 5000}, func(p []azureblob.BlobItem) error {
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
	az := benchkit.StartAzurite()
	defer az.Stop()
	conn := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true})
	connection := blobmark.Connection{"auth_type": "account_key", "account_name": benchkit.Account, "endpoint": az.Endpoint}
	secrets := blobmark.Secrets{"account_key": benchkit.Key}
	var rows []row

	// Files mode.
	c := container(ctx, conn, az, "files")
	benchkit.Upload(ctx, c, blobs, 64, func(i int) (string, []byte) { return fmt.Sprintf("img/%03d/%07d.jpg", i/1000, i), []byte("x") })
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
	tc := container(ctx, conn, az, "tasks")
	benchkit.Upload(ctx, tc, files, 64, func(i int) (string, []byte) {
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
	n, d := benchkit.ListAndDownload(ctx, c, importer.DefaultConcurrency)
	if n != want {
		fatalf("downloaded %d, want %d", n, want)
	}
	return d
}

func container(ctx context.Context, conn *azureblob.Connector, az *benchkit.Azurite, name string) *azureblob.Container {
	c, err := conn.Container(ctx, az.Config(), name)
	benchkit.Check(err)
	az.CreateContainer(ctx, name)
	return c
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
	benchkit.Check(err)
	out, err := exec.Command(self, "-child-scale", strconv.Itoa(n)).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			fatalf("child: %v\n%s", err, ee.Stderr)
		}
		benchkit.Check(err)
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
	conn := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true})
	cfg := azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: benchkit.Account, AccountKey: benchkit.Key, Endpoint: endpoint}
	c, err := conn.Container(ctx, cfg, listserver.DefaultContainer)
	benchkit.Check(err)
	s := &blobmark.SourceStorage{Container: listserver.DefaultContainer, UseBlobURLs: true, RecursiveScan: true,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": benchkit.Account, "endpoint": endpoint},
		Secrets:    blobmark.Secrets{"account_key": benchkit.Key}}
	db, done := store(ctx, s)
	defer done()
	l1 := bareList(ctx, c, n)
	syncT, _ := runSync(ctx, db, conn, s.ID)
	l2 := bareList(ctx, c, n)
	fmt.Printf("ratio=%f\nsync=%f\nrss_mb=%f\n", syncT.Seconds()/min(l1, l2).Seconds(), syncT.Seconds(), float64(benchkit.ProcStatusKB("VmHWM"))/1024)
}

func fatalf(format string, args ...any) { benchkit.Fatal(fmt.Sprintf(format, args...)) }
