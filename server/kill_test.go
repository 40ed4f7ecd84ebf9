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
	"sync"
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

// TestSyncSurvivesProcessKill kills the process running a sync with
// SIGKILL, starts another on the same database, requests the sync again
// once the dead one has gone stale, and checks that every blob ends up as
// exactly one task.
func TestSyncSurvivesProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts blobmark processes and uploads thousands of blobs")
	}
	const n = 3000
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

	dir := t.TempDir()
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(certFile, env.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// The test's own view of the database: it sets up, requests syncs and
	// reads progress as the API would, and never works a job.
	srv, err := server.Open(ctx, server.Config{DataDir: dir, StaleSyncAfter: staleAfter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	db := srv.DB
	p := &blobmark.Project{Title: "killed"}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	st := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: name, Synchronizable: true, UseBlobURLs: true,
		RecursiveScan: true,
		Connection:    blobmark.Connection{"auth_type": string(cfg.AuthType), "account_name": cfg.AccountName, "endpoint": cfg.Endpoint},
		Secrets:       blobmark.Connection{"account_key": cfg.AccountKey}}
	if err := db.CreateSourceStorage(ctx, st); err != nil {
		t.Fatal(err)
	}

	first := startChild(t, dir, certFile)
	q, err := db.RequestSourceSync(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	firstJob := *q.State.LastSyncJob
	// Kill as soon as progress shows tasks created, long before the end.
	for {
		s, err := db.FindSourceStorageByID(ctx, st.ID)
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
	before := countTasks(t, srv, p.ID)
	if before == 0 || before >= n {
		t.Fatalf("%d of %d tasks existed when the process was killed; want a sync caught midway", before, n)
	}
	t.Logf("killed with %d of %d tasks committed", before, n)
	if s, _ := db.FindSourceStorageByID(ctx, st.ID); s.State.Status != blobmark.StatusInProgress {
		t.Fatalf("status after the kill = %s, want in_progress (nobody is left to record anything)", s.State.Status)
	}

	second := startChild(t, dir, certFile)
	// A request is refused while the dead sync's last report is recent, and
	// replaces it once that report is older than the staleness limit.
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := db.RequestSourceSync(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if *s.State.LastSyncJob != firstJob {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead sync was never replaced: %+v", s.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	final := waitFinished(t, srv, st.ID, second)
	if final.State.Status != blobmark.StatusCompleted {
		t.Fatalf("status = %s, meta %s:\n%s", final.State.Status, final.State.Meta, second.log())
	}

	// Every blob is exactly one task: counted by the project, by the links
	// and by the task data, which names each blob once.
	uris := taskURIs(t, srv, p.ID)
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
	for _, k := range keys {
		if want := fmt.Sprintf("azure-blob://%s/%s", name, k); !seen[want] {
			t.Fatalf("no task for %s", want)
		}
	}
	var links, linkedTasks int
	if err := db.SQL().QueryRowContext(ctx, db.Rebind(
		"SELECT COUNT(*), COUNT(DISTINCT task_id) FROM source_storage_links WHERE storage_id = ?"), st.ID).Scan(&links, &linkedTasks); err != nil {
		t.Fatal(err)
	}
	if links != n || linkedTasks != n {
		t.Fatalf("%d link rows over %d tasks, want %d and %d", links, linkedTasks, n, n)
	}
	if proj, err := db.FindProjectByID(ctx, p.ID); err != nil || proj.TaskNumber != n {
		t.Fatalf("project task_number = %d, %v; want %d", proj.TaskNumber, err, n)
	}
	// The second sync created exactly what the first had not committed.
	if got := created(t, final); got != n-before {
		t.Fatalf("second sync created %d tasks, want %d (meta %s)", got, n-before, final.State.Meta)
	}
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
