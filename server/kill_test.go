package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/server"
)

// childDataDirEnv makes the test binary a blobmark process working jobs
// over the SQLite database in the directory it names, until it is killed.
const childDataDirEnv = "BLOBMARK_TEST_CHILD_DATA_DIR"

// Tuning shared by the test and its child processes: small pages and
// frequent progress reports so a sync of a few thousand blobs can be seen
// midway, and a short staleness limit so a dead sync can be replaced
// without waiting minutes. The limit stays well above the report period.
const (
	childPageSize       = 50
	childProgressPeriod = 100 * time.Millisecond
	staleAfter          = time.Second
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDataDirEnv); dir != "" {
		serveJobs(dir)
		return
	}
	azuretest.Main(m)
}

// serveJobs assembles blobmark as `blobmark serve` does and works jobs
// until the process is killed. It reaches Azurite with the default HTTP
// transport, trusting the harness certificate through SSL_CERT_FILE as any
// deployment trusts its CA.
func serveJobs(dir string) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := server.Open(ctx, server.Config{DataDir: dir, Logger: logger, JobPollInterval: 50 * time.Millisecond, AllowPrivateNetwork: true,
		SyncPageSize: childPageSize, SyncProgressInterval: childProgressPeriod, StaleSyncAfter: staleAfter})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	if err := s.StartJobs(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "start jobs:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	select {}
}

// child is a blobmark process started by the test.
type child struct {
	cmd    *exec.Cmd
	stderr string
	exited chan struct{}
}

// startChild starts a blobmark process over dir and waits until it works jobs.
func startChild(t *testing.T, dir, certFile string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{stderr: filepath.Join(t.TempDir(), "stderr"), exited: make(chan struct{})}
	errf, err := os.Create(c.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	c.cmd = exec.Command(exe, "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childDataDirEnv+"="+dir, "SSL_CERT_FILE="+certFile)
	c.cmd.Stderr = errf
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
		for sc.Scan() {
		}
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() { c.kill(t) })
	select {
	case ok := <-ready:
		if !ok {
			c.kill(t)
			t.Fatalf("child did not start:\n%s", c.log())
		}
	case <-time.After(30 * time.Second):
		c.kill(t)
		t.Fatalf("child did not start in time:\n%s", c.log())
	}
	return c
}

// kill sends SIGKILL, the death that gives no chance to clean up, and
// waits for the process to be gone.
func (c *child) kill(t *testing.T) {
	select {
	case <-c.exited:
		return
	default:
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Logf("kill: %v", err)
	}
	<-c.exited
}

func (c *child) log() string {
	b, _ := os.ReadFile(c.stderr)
	return string(b)
}

// killedSync is a sync of n blobs whose process was killed with SIGKILL
// midway, with the test's own view of the database: it sets up, requests
// syncs and reads progress as the API would, and never works a job.
type killedSync struct {
	srv      *server.Server
	dir      string // the data directory
	certFile string // the Azurite harness CA, for the child processes
	project  *blobmark.Project
	storage  *blobmark.SourceStorage
	name     string   // the container
	keys     []string // its blobs
	firstJob string   // the killed sync's job
	before   int      // tasks committed when it was killed
	killedAt time.Time
}

// killMidSync uploads n blobs, starts a blobmark process, requests a sync
// and kills the process with SIGKILL as soon as progress shows tasks
// created, long before the end.
func killMidSync(t *testing.T, n int) *killedSync {
	t.Helper()
	env := azuretest.Start(t)
	ctx := t.Context()

	name := env.NewContainer(t)
	cfg := azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: azuretest.AccountName,
		AccountKey: azuretest.AccountKey, Endpoint: env.IPEndpoint}
	cont, err := azureblob.NewConnector(env.Options()).Container(ctx, cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("img/%05d.png", i)
	}
	upload(t, cont, keys)

	k := &killedSync{dir: t.TempDir(), certFile: filepath.Join(t.TempDir(), "ca.pem"), name: name, keys: keys}
	if err := os.WriteFile(k.certFile, env.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if k.srv, err = server.Open(ctx, server.Config{DataDir: k.dir, StaleSyncAfter: staleAfter}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.srv.Close(context.Background()) })
	db := k.srv.DB
	k.project = &blobmark.Project{Title: "killed"}
	if err := db.CreateProject(ctx, k.project); err != nil {
		t.Fatal(err)
	}
	k.storage = &blobmark.SourceStorage{ProjectID: k.project.ID, Type: "azure", Container: name, Synchronizable: true, UseBlobURLs: true,
		RecursiveScan: true,
		Connection:    blobmark.Connection{"auth_type": string(cfg.AuthType), "account_name": cfg.AccountName, "endpoint": cfg.Endpoint},
		Secrets:       blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}}
	if err := db.CreateSourceStorage(ctx, k.storage); err != nil {
		t.Fatal(err)
	}

	first := startChild(t, k.dir, k.certFile)
	q, err := db.RequestSourceSync(ctx, k.storage.ID)
	if err != nil {
		t.Fatal(err)
	}
	k.firstJob = *q.State.LastSyncJob
	for {
		s, err := db.FindSourceStorageByID(ctx, k.storage.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.State.Status == blobmark.StatusCompleted || s.State.Status == blobmark.StatusFailed {
			t.Fatalf("the sync ended (%s) before it could be killed:\n%s", s.State.Status, first.log())
		}
		if created(t, s) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	first.kill(t)
	k.killedAt = time.Now()
	k.before = countTasks(t, k.srv, k.project.ID)
	if k.before == 0 || k.before >= n {
		t.Fatalf("%d of %d tasks existed when the process was killed; want a sync caught midway", k.before, n)
	}
	t.Logf("killed with %d of %d tasks committed", k.before, n)
	if s, _ := db.FindSourceStorageByID(ctx, k.storage.ID); s.State.Status != blobmark.StatusInProgress {
		t.Fatalf("status after the kill = %s, want in_progress (nobody is left to record anything)", s.State.Status)
	}
	return k
}

// checkExactlyOnce checks that the sync that finished as final made every
// blob exactly one task: counted by the project, by the links and by the
// task data, which names each blob once; and that it created exactly what
// the killed one had not committed.
func (k *killedSync) checkExactlyOnce(t *testing.T, final *blobmark.SourceStorage) {
	t.Helper()
	n := len(k.keys)
	uris := taskURIs(t, k.srv, k.project.ID)
	if len(uris) != n {
		t.Fatalf("%d tasks, want %d", len(uris), n)
	}
	seen := map[string]bool{}
	for _, u := range uris {
		if seen[u] {
			t.Fatalf("duplicate task for %s", u)
		}
		seen[u] = true
	}
	for _, key := range k.keys {
		if want := fmt.Sprintf("azure-blob://%s/%s", k.name, key); !seen[want] {
			t.Fatalf("no task for %s", want)
		}
	}
	db := k.srv.DB
	var links, linkedTasks int
	if err := db.SQL().QueryRowContext(t.Context(), db.Rebind(
		"SELECT COUNT(*), COUNT(DISTINCT task_id) FROM source_storage_links WHERE storage_id = ?"), k.storage.ID).Scan(&links, &linkedTasks); err != nil {
		t.Fatal(err)
	}
	if links != n || linkedTasks != n {
		t.Fatalf("%d link rows over %d tasks, want %d and %d", links, linkedTasks, n, n)
	}
	if proj, err := db.FindProjectByID(t.Context(), k.project.ID); err != nil || proj.TaskNumber != n {
		t.Fatalf("project task_number = %d, %v; want %d", proj.TaskNumber, err, n)
	}
	if got := created(t, final); got != n-k.before {
		t.Fatalf("the sync after the kill created %d tasks, want %d (meta %s)", got, n-k.before, final.State.Meta)
	}
}

// TestSyncSurvivesProcessKill kills the process running a sync with
// SIGKILL, starts another on the same database, requests the sync again
// once the dead one has gone stale, and checks that every blob ends up as
// exactly one task. The new process is given a job lock held elsewhere, as
// if another process worked the database's jobs too, so it cannot resume
// the dead sync itself (TestSyncResumesAtRestartAfterKill).
func TestSyncSurvivesProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts blobmark processes and uploads thousands of blobs")
	}
	t.Parallel()
	k := killMidSync(t, 3000)
	ctx := t.Context()
	db := k.srv.DB
	holdJobLock(t, k.dir)

	second := startChild(t, k.dir, k.certFile)
	// A request is refused while the dead sync's last report is recent, and
	// replaces it once that report is older than the staleness limit.
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := db.RequestSourceSync(ctx, k.storage.ID)
		if err != nil {
			t.Fatal(err)
		}
		if *s.State.LastSyncJob != k.firstJob {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead sync was never replaced: %+v", s.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	final := waitFinished(t, k.srv, k.storage.ID, second)
	if final.State.Status != blobmark.StatusCompleted {
		t.Fatalf("status = %s, meta %s:\n%s", final.State.Status, final.State.Meta, second.log())
	}
	k.checkExactlyOnce(t, final)
}

// holdJobLock takes the SQLite job lock of the database in dir, as a live
// process working its jobs would hold it, until the test ends.
func holdJobLock(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "blobmark.db.jobs-lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the job lock is held: %v", err)
	}
}

// TestSyncResumesAtRestartAfterKill kills the process running a sync with
// SIGKILL and starts another on the same SQLite database, which nothing
// else works: the new process resumes the same sync job at start, without
// a request and without waiting for the stuck-job rescue (an hour), and it
// completes with every blob exactly one task. It logs how long after the
// restart the sync was running again.
func TestSyncResumesAtRestartAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts blobmark processes and uploads thousands of blobs")
	}
	t.Parallel()
	k := killMidSync(t, 3000)
	ctx := t.Context()
	db := k.srv.DB

	restart := time.Now()
	second := startChild(t, k.dir, k.certFile)
	ready := time.Since(restart)
	// The sync is running again once its job has marked the storage
	// in_progress after the kill.
	var resumed time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for resumed == 0 {
		s, err := db.FindSourceStorageByID(ctx, k.storage.ID)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Started time.Time `json:"time_in_progress"`
		}
		if err := json.Unmarshal(s.State.Meta, &m); err != nil {
			t.Fatalf("meta %s: %v", s.State.Meta, err)
		}
		switch {
		case m.Started.After(k.killedAt):
			resumed = time.Since(restart)
		case s.State.Status == blobmark.StatusCompleted:
			t.Fatalf("the sync completed without being seen to start again: %s", s.State.Meta)
		case time.Now().After(deadline):
			t.Fatalf("the dead sync was not resumed: %s, meta %s\n%s", s.State.Status, s.State.Meta, second.log())
		}
		time.Sleep(time.Millisecond)
	}
	final := waitFinished(t, k.srv, k.storage.ID, second)
	t.Logf("restart to resumed sync after kill -9: %s (the process was ready after %s); to completed: %s",
		resumed.Round(time.Millisecond), ready.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))
	if final.State.Status != blobmark.StatusCompleted || final.State.LastSyncJob == nil || *final.State.LastSyncJob != k.firstJob {
		t.Fatalf("status = %s, job %v (the killed one was %s), meta %s:\n%s", final.State.Status, final.State.LastSyncJob,
			k.firstJob, final.State.Meta, second.log())
	}
	k.checkExactlyOnce(t, final)
	if job, err := db.River().JobGet(ctx, mustInt(t, k.firstJob)); err != nil || job.Attempt != 2 {
		t.Fatalf("the resumed job: %+v, %v; want its second attempt", job, err)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// upload puts an empty-ish blob at each key, 16 at a time.
func upload(t *testing.T, c *azureblob.Container, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	work := make(chan string)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				if _, err := c.UploadBytes(t.Context(), k, []byte("x"), "image/png"); err != nil {
					errs <- fmt.Errorf("upload %s: %w", k, err)
				}
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// created returns tasks_created from a storage's meta.
func created(t *testing.T, s *blobmark.SourceStorage) int {
	t.Helper()
	var m struct {
		TasksCreated int `json:"tasks_created"`
	}
	if len(s.State.Meta) == 0 {
		return 0
	}
	if err := json.Unmarshal(s.State.Meta, &m); err != nil {
		t.Fatalf("meta %s: %v", s.State.Meta, err)
	}
	return m.TasksCreated
}

// waitFinished waits until the storage's sync has ended.
func waitFinished(t *testing.T, srv *server.Server, id int64, c *child) *blobmark.SourceStorage {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := srv.DB.FindSourceStorageByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch s.State.Status {
		case blobmark.StatusCompleted, blobmark.StatusCompletedWithErrors, blobmark.StatusFailed:
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync still %s:\n%s", s.State.Status, c.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countTasks(t *testing.T, srv *server.Server, projectID int64) int {
	t.Helper()
	var n int
	if err := srv.DB.SQL().QueryRowContext(t.Context(), srv.DB.Rebind("SELECT COUNT(*) FROM tasks WHERE project_id = ?"),
		projectID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// taskURIs returns the blob URI of each task of the project.
func taskURIs(t *testing.T, srv *server.Server, projectID int64) []string {
	t.Helper()
	var out []string
	for _, d := range taskData(t, srv, projectID) {
		var data map[string]string
		if err := json.Unmarshal([]byte(d), &data); err != nil || len(data) != 1 {
			t.Fatalf("task data %s: %v", d, err)
		}
		for _, u := range data {
			out = append(out, u)
		}
	}
	return out
}

// taskData returns the data of each task of the project, as stored.
func taskData(t *testing.T, srv *server.Server, projectID int64) []string {
	t.Helper()
	rows, err := srv.DB.SQL().QueryContext(t.Context(), srv.DB.Rebind("SELECT data FROM tasks WHERE project_id = ?"), projectID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
