package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/exporter"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/internal/pgtest"
	"github.com/blobmark/blobmark/server"
)

// replica is one `blobmark serve` process of the cluster under test.
type replica struct {
	base    string
	cmd     *exec.Cmd
	logFile string
	exited  chan struct{}
}

func (r *replica) kill() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
}

func (r *replica) log() string {
	b, _ := os.ReadFile(r.logFile)
	return string(b)
}

// api calls a replica's REST API as one user.
type api struct {
	t     *testing.T
	token string
}

func (a api) call(base string, want int, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	req.Header.Set("Authorization", "Token "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s%s: %d %s", method, base, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (a api) must(base string, want int, method, path string, body, out any) {
	a.t.Helper()
	if err := a.call(base, want, method, path, body, out); err != nil {
		a.t.Fatal(err)
	}
}

// postgresSchemaURL is a schema of the test's own on the tests' PostgreSQL.
func postgresSchemaURL(t *testing.T) string { return pgtest.Schema(t, "replicas") }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildBlobmark starts building the command for the test, in the
// background so that the test seeds its blobs meanwhile, and returns a
// function that waits for the build and returns the executable.
func buildBlobmark(t *testing.T) func() string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "blobmark")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/blobmark")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out []byte
	var err error
	done := make(chan struct{})
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	t.Cleanup(func() { <-done })
	return func() string {
		t.Helper()
		<-done
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		return bin
	}
}

// startReplica starts `blobmark serve` and waits until it is ready.
func startReplica(t *testing.T, bin string, env []string) *replica {
	t.Helper()
	addr := freeAddr(t)
	r := &replica{base: "http://" + addr, logFile: filepath.Join(t.TempDir(), "log"), exited: make(chan struct{})}
	logf, err := os.Create(r.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	r.cmd = exec.Command(bin, "serve")
	r.cmd.Env = append(append(os.Environ(), env...), "BLOBMARK_ADDR="+addr, "BLOBMARK_ALLOW_PRIVATE_NETWORK=true")
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.kill)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(r.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		select {
		case <-r.exited:
			t.Fatalf("replica exited:\n%s", r.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not ready:\n%s", r.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicas runs three `blobmark serve` processes on one PostgreSQL
// database: a 20,000-blob sync is requested through one replica's API, the
// replica running it is killed with SIGKILL midway, 1,000 annotations are
// created and some updated through the other replicas' APIs, and a
// scheduled sync runs beside it all, and so does a Tasks-mode sync whose
// files are read in chunks by every replica, started just before the kill.
// Afterwards there are exactly 20,000 tasks, every row of every task file
// once, every annotation is exported in its latest state, and the scheduled
// sync ran at most once per interval (exactly once per interval is shown
// by TestScheduledSyncOncePerIntervalOnReplicas).
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three blobmark processes and uploads 20,000 blobs")
	}
	// Most of its time is spent waiting (for Azurite, for the stuck-job
	// rescue), so the package's other long tests run beside it.
	t.Parallel()
	const (
		nBlobs       = 20000
		nAnnotations = 1000
		rescueAfter  = 15 * time.Second
		// A Tasks-mode sync of nTaskFiles JSONL files in chunks of
		// chunkFiles runs beside it, its chunks spread over the replicas.
		nTaskFiles  = 300
		rowsPerFile = 4
		chunkFiles  = 10
	)
	env := azuretest.Start(t)
	ctx := t.Context()
	built := buildBlobmark(t)
	dbURL := postgresSchemaURL(t)

	// The blobs, through Azurite's IP-style endpoint with the account key,
	// which the child processes reach with the default transport.
	src, dst, small := env.NewContainer(t), env.NewContainer(t), env.NewContainer(t)
	cfg := azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: azuretest.AccountName,
		AccountKey: azuretest.AccountKey, Endpoint: env.IPEndpoint}
	conn := azureblob.NewConnector(env.Options())
	cont, err := conn.Container(ctx, cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, nBlobs)
	for i := range keys {
		keys[i] = fmt.Sprintf("img/%02d/%05d.png", i%50, i)
	}
	seedStart := time.Now()
	upload(t, cont, keys)
	smallCont, err := conn.Container(ctx, cfg, small)
	if err != nil {
		t.Fatal(err)
	}
	upload(t, smallCont, []string{"a.png", "b.png", "c.png"})
	taskFiles := env.NewContainer(t)
	taskCont, err := conn.Container(ctx, cfg, taskFiles)
	if err != nil {
		t.Fatal(err)
	}
	for i := range nTaskFiles {
		var b strings.Builder
		for j := range rowsPerFile {
			fmt.Fprintf(&b, "{\"file\": %d, \"row\": %d}\n", i, j)
		}
		if _, err := taskCont.UploadBytes(ctx, fmt.Sprintf("tasks/%03d.jsonl", i), []byte(b.String()), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seeded %d blobs in %s", nBlobs, time.Since(seedStart).Round(time.Millisecond))

	certFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(certFile, env.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	childEnv := []string{"BLOBMARK_DATABASE_URL=" + dbURL, "BLOBMARK_SECRET_KEY=" + hex.EncodeToString(secret),
		"BLOBMARK_JOB_RESCUE_AFTER=" + rescueAfter.String(), "BLOBMARK_LOG_LEVEL=info", "SSL_CERT_FILE=" + certFile,
		"BLOBMARK_DATA_DIR=" + t.TempDir(), fmt.Sprintf("BLOBMARK_SYNC_CHUNK_FILES=%d", chunkFiles)}
	// The test's own view of the database: it reads, and works no job.
	srv, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })

	// The scheduled storage exists before the replicas start, so the
	// scheduler's first tick, run when a leader is elected, finds it due
	// whatever the moment of that election.
	scheduledProject := &blobmark.Project{Title: "scheduled"}
	if err := srv.DB.CreateProject(ctx, scheduledProject); err != nil {
		t.Fatal(err)
	}
	scheduled := &blobmark.SourceStorage{ProjectID: scheduledProject.ID, Type: "azure", Container: small, Synchronizable: true,
		UseBlobURLs: true, SyncIntervalMinutes: 1,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": azuretest.AccountName, "endpoint": env.IPEndpoint},
		Secrets:    blobmark.Secrets{"account_key": azuretest.AccountKey}}
	if err := srv.DB.CreateSourceStorage(ctx, scheduled); err != nil {
		t.Fatal(err)
	}
	scheduleStart := time.Now()

	bin := built()
	replicas := make([]*replica, 3)
	for i := range replicas {
		replicas[i] = startReplica(t, bin, childEnv)
	}
	_, token, err := srv.DB.CreateUser(ctx, "replicas@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	a := api{t: t, token: token}
	r0 := replicas[0].base

	var project struct{ ID int64 }
	a.must(r0, 201, "POST", "/api/projects/", map[string]any{"title": "replicas"}, &project)
	source := map[string]any{"project": project.ID, "account_name": azuretest.AccountName, "account_key": azuretest.AccountKey,
		"endpoint": env.IPEndpoint, "container": src, "use_blob_urls": true, "recursive_scan": true}
	var st struct{ ID int64 }
	a.must(r0, 201, "POST", "/api/storages/azure/", source, &st)
	a.must(replicas[1].base, 201, "POST", "/api/storages/export/azure", map[string]any{"project": project.ID,
		"account_name": azuretest.AccountName, "account_key": azuretest.AccountKey, "endpoint": env.IPEndpoint,
		"container": dst, "prefix": "out"}, nil)
	var tasksProject struct{ ID int64 }
	a.must(r0, 201, "POST", "/api/projects/", map[string]any{"title": "task files"}, &tasksProject)
	var tasksStorage struct{ ID int64 }
	a.must(replicas[1].base, 201, "POST", "/api/storages/azure/", map[string]any{"project": tasksProject.ID,
		"account_name": azuretest.AccountName, "account_key": azuretest.AccountKey, "endpoint": env.IPEndpoint,
		"container": taskFiles, "prefix": "tasks", "use_blob_urls": false}, &tasksStorage)

	syncStart := time.Now()
	a.must(r0, 200, "POST", fmt.Sprintf("/api/storages/azure/%d/sync", st.ID), nil, nil)

	// Kill the replica that runs the sync once it has committed enough
	// tasks to annotate, long before the end. Each replica logs the id of
	// its River client, which River records on the jobs it works.
	var victim int = -1
	var victimClient string
	for deadline := time.Now().Add(90 * time.Second); victim < 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the sync never got going:\n%s", replicas[0].log())
		}
		time.Sleep(20 * time.Millisecond)
		if countTasks(t, srv, project.ID) < 2*nAnnotations {
			continue
		}
		var attemptedBy string
		if err := srv.DB.SQL().QueryRowContext(ctx, `SELECT attempted_by[array_upper(attempted_by, 1)] FROM river_job
			WHERE kind = 'sync_source_storage' AND state = 'running'`).Scan(&attemptedBy); err != nil {
			t.Fatalf("the running sync job: %v", err)
		}
		for i, r := range replicas {
			if strings.Contains(r.log(), "client_id="+attemptedBy+"\n") {
				victim, victimClient = i, attemptedBy
			}
		}
		if victim < 0 {
			t.Fatalf("no replica logged River client %s", attemptedBy)
		}
	}
	// The Tasks-mode sync starts now, so that the victim (which works chunks
	// like every replica) is likely to die holding one; the outcome must be
	// the same either way.
	a.must(replicas[(victim+1)%3].base, 200, "POST", fmt.Sprintf("/api/storages/azure/%d/sync", tasksStorage.ID), nil, nil)
	victimChunks := 0
	for deadline := time.Now().Add(3 * time.Second); victimChunks == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := srv.DB.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job
			WHERE kind = 'sync_source_files' AND $1 = ANY(attempted_by)`, victimClient).Scan(&victimChunks); err != nil {
			t.Fatal(err)
		}
	}
	before := countTasks(t, srv, project.ID)
	replicas[victim].kill()
	t.Logf("killed replica %d running the sync with %d of %d tasks committed, %s after the request",
		victim+1, before, nBlobs, time.Since(syncStart).Round(time.Millisecond))
	if before >= nBlobs {
		t.Fatal("the sync had finished before the kill")
	}
	var live []string
	for i, r := range replicas {
		if i != victim {
			live = append(live, r.base)
		}
	}

	// 1,000 annotations, round-robin over the live replicas' APIs, then a
	// second version of every third one through another replica.
	var taskIDs []int64
	rows, err := srv.DB.SQL().QueryContext(ctx, "SELECT id FROM tasks WHERE project_id = $1 ORDER BY id LIMIT $2", project.ID, nAnnotations)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		taskIDs = append(taskIDs, id)
	}
	rows.Close()
	if len(taskIDs) != nAnnotations {
		t.Fatalf("%d tasks to annotate", len(taskIDs))
	}
	result := func(label string) []any {
		return []any{map[string]any{"from_name": "choice", "to_name": "image", "type": "choices",
			"value": map[string]any{"choices": []string{label}}}}
	}
	latest := make([]string, nAnnotations)
	annIDs := make([]int64, nAnnotations)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, nAnnotations)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= nAnnotations {
					return
				}
				label := fmt.Sprintf("v1-%d", i)
				var ann struct{ ID int64 }
				if err := a.call(live[(i+w)%len(live)], 201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", taskIDs[i]),
					map[string]any{"result": result(label)}, &ann); err != nil {
					errs <- err
					return
				}
				annIDs[i], latest[i] = ann.ID, label
				if i%3 == 0 {
					label = fmt.Sprintf("v2-%d", i)
					if err := a.call(live[(i+w+1)%len(live)], 200, "PATCH", fmt.Sprintf("/api/annotations/%d/", ann.ID),
						map[string]any{"result": result(label)}, nil); err != nil {
						errs <- err
						return
					}
					latest[i] = label
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// The killed sync is rescued by a live replica and finishes.
	final := waitFinished(t, srv, st.ID, &child{stderr: replicas[(victim+1)%3].logFile})
	if final.State.Status != blobmark.StatusCompleted {
		t.Fatalf("sync %s: %s", final.State.Status, final.State.Meta)
	}
	t.Logf("sync finished %s after the request", time.Since(syncStart).Round(time.Millisecond))
	var attempts int
	var runners int
	if err := srv.DB.SQL().QueryRowContext(ctx, `SELECT attempt, cardinality(attempted_by) FROM river_job
		WHERE kind = 'sync_source_storage' AND args->>'storage_id' = $1::text ORDER BY id DESC LIMIT 1`,
		fmt.Sprint(st.ID)).Scan(&attempts, &runners); err != nil {
		t.Fatal(err)
	}
	if attempts < 2 {
		jobs, _ := srv.DB.SQL().QueryContext(ctx, `SELECT id, state, attempt, attempted_by::text, args::text, created_at FROM river_job
			WHERE kind = 'sync_source_storage' ORDER BY id`)
		for jobs.Next() {
			var id, attempt int
			var state, by, args string
			var at time.Time
			_ = jobs.Scan(&id, &state, &attempt, &by, &args, &at)
			t.Logf("job %d %s attempt %d by %s args %s created %s", id, state, attempt, by, args, at.Sub(syncStart))
		}
		jobs.Close()
		t.Errorf("the sync job ran %d attempt(s); the killed attempt should have been rescued and retried", attempts)
	}

	// Exactly one task per blob.
	uris := taskURIs(t, srv, project.ID)
	seen := map[string]bool{}
	for _, u := range uris {
		if seen[u] {
			t.Fatalf("duplicate task for %s", u)
		}
		seen[u] = true
	}
	if len(uris) != nBlobs || len(seen) != nBlobs {
		t.Fatalf("%d tasks (%d distinct), want %d", len(uris), len(seen), nBlobs)
	}

	// The Tasks-mode sync finished with every row of every file once, its
	// chunks worked by the replicas, those the victim held rescued.
	tasksFinal := waitFinished(t, srv, tasksStorage.ID, &child{stderr: replicas[(victim+1)%3].logFile})
	if tasksFinal.State.Status != blobmark.StatusCompleted {
		t.Fatalf("Tasks-mode sync %s: %s", tasksFinal.State.Status, tasksFinal.State.Meta)
	}
	rowsSeen := map[string]bool{}
	for _, d := range taskData(t, srv, tasksProject.ID) {
		if rowsSeen[d] {
			t.Fatalf("duplicate task %s", d)
		}
		rowsSeen[d] = true
	}
	if len(rowsSeen) != nTaskFiles*rowsPerFile {
		t.Fatalf("Tasks-mode sync made %d distinct tasks, want %d", len(rowsSeen), nTaskFiles*rowsPerFile)
	}
	// Chunk jobs: none given up. The victim's may still be waiting for their
	// rescue when the sync has finished (it counted their work, or queued
	// their files again), so they may be running, retryable or cancelled.
	states := map[string]int{}
	rows, err = srv.DB.SQL().QueryContext(ctx, `SELECT state, COUNT(*) FROM river_job WHERE kind = 'sync_source_files' GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			t.Fatal(err)
		}
		states[state] = n
	}
	rows.Close()
	var chunkClients int
	if err := srv.DB.SQL().QueryRowContext(ctx, `SELECT COUNT(DISTINCT c) FROM river_job, unnest(attempted_by) c
		WHERE kind = 'sync_source_files'`).Scan(&chunkClients); err != nil {
		t.Fatal(err)
	}
	if states["discarded"] > 0 || states["completed"] < nTaskFiles/chunkFiles-victimChunks {
		t.Fatalf("chunk jobs by state %v: none may be discarded, and all but the victim's %d completed", states, victimChunks)
	}
	t.Logf("Tasks-mode sync (meta %s): chunk jobs by state %v, worked by %d River clients; the killed replica had taken %d",
		tasksFinal.State.Meta, states, chunkClients, victimChunks)

	// Every annotation is exported exactly once, in its latest state.
	out, err := conn.Container(ctx, cfg, dst)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i, id := range annIDs {
		want[exporter.ObjectKey("out", exporter.FormatAnnotation, id, 0, false)] = latest[i]
	}
	var stale []string
	for deadline := time.Now().Add(60 * time.Second); ; {
		stale = stale[:0]
		var names []string
		if err := out.List(ctx, azureblob.ListOptions{Recursive: true}, func(page []azureblob.BlobItem) error {
			for _, b := range page {
				names = append(names, b.Name)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
		}
		for name, label := range want {
			if !have[name] {
				stale = append(stale, name+" missing")
				continue
			}
			d, err := out.Download(ctx, name, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(d.Body)
			d.Body.Close()
			if !strings.Contains(string(body), `"`+label+`"`) {
				stale = append(stale, name+" not at "+label)
			}
		}
		if len(stale) == 0 && len(names) == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d objects (want %d); %d stale or missing, e.g. %v", len(names), len(want), len(stale), stale[:min(5, len(stale))])
		}
		time.Sleep(time.Second)
	}

	// The scheduled storage synced at most once per interval, cluster-wide.
	var scheduledRuns int
	if err := srv.DB.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job
		WHERE kind = 'sync_source_storage' AND args->>'storage_id' = $1::text`, fmt.Sprint(scheduled.ID)).Scan(&scheduledRuns); err != nil {
		t.Fatal(err)
	}
	intervals := int(time.Since(scheduleStart)/time.Minute) + 1
	if scheduledRuns < 1 || scheduledRuns > intervals {
		t.Fatalf("scheduled storage synced %d times in %d interval(s)", scheduledRuns, intervals)
	}
	if n := countTasks(t, srv, scheduledProject.ID); n != 3 {
		t.Fatalf("scheduled storage made %d tasks, want 3", n)
	}
	t.Logf("scheduled sync ran %d time(s) in %d interval(s); the sync job took %d attempts on %d clients", scheduledRuns, intervals, attempts, runners)
}
