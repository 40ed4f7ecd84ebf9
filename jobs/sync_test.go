package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TestMain (azuretest.Main) is shared with the export tests, in export_test.go.

// syncFixture is a real SQLite store, a real Azurite container and a
// project with one source storage over it.
type syncFixture struct {
	t       *testing.T
	env     *azuretest.Env
	db      *sqlstore.DB
	conn    *azureblob.Connector
	cont    *azureblob.Container
	name    string
	project *blobmark.Project
	storage *blobmark.SourceStorage
	// corsCheck is the worker's CORSCheck.
	corsCheck func(context.Context, *blobmark.SourceStorage) *blobmark.CORSReport
}

func newSyncFixture(t *testing.T, configure func(s *blobmark.SourceStorage)) *syncFixture {
	t.Helper()
	env := azuretest.Start(t)
	ctx := t.Context()
	db := openStore(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	p := &blobmark.Project{Title: "p"}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	conn := azureblob.NewConnector(env.Options())
	name := env.NewContainer(t)
	cfg := env.AccountKeyConfig()
	cont, err := conn.Container(ctx, cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	s := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: name, Synchronizable: true, UseBlobURLs: true,
		Connection: blobmark.Connection{"auth_type": string(cfg.AuthType), "account_name": cfg.AccountName, "endpoint": cfg.Endpoint},
		Secrets:    blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}}
	if configure != nil {
		configure(s)
	}
	if err := db.CreateSourceStorage(ctx, s); err != nil {
		t.Fatal(err)
	}
	return &syncFixture{t: t, env: env, db: db, conn: conn, cont: cont, name: name, project: p, storage: s}
}

func (f *syncFixture) put(key, content string) {
	f.t.Helper()
	if _, err := f.cont.UploadBytes(f.t.Context(), key, []byte(content), "application/octet-stream"); err != nil {
		f.t.Fatalf("upload %s: %v", key, err)
	}
}

func (f *syncFixture) del(key string) {
	f.t.Helper()
	if err := f.cont.Delete(f.t.Context(), key); err != nil {
		f.t.Fatalf("delete %s: %v", key, err)
	}
}

// sync requests a sync, as the API does, and works the queued job to its
// end in the test's goroutine.
func (f *syncFixture) sync(store jobs.SourceSyncStore, pageSize int) (*blobmark.SourceStorage, error) {
	f.t.Helper()
	q, err := f.db.RequestSourceSync(f.t.Context(), f.storage.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	jobID, err := strconv.ParseInt(*q.State.LastSyncJob, 10, 64)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.syncJob(f.t.Context(), store, jobID, pageSize)
}

func (f *syncFixture) syncJob(ctx context.Context, store jobs.SourceSyncStore, jobID int64, pageSize int) (*blobmark.SourceStorage, error) {
	w := &jobs.SyncSourceWorker{Store: store, Source: azureblob.SourceOpener{Connector: f.conn}, PageSize: pageSize, ProgressInterval: 50 * time.Millisecond,
		CORSCheck: f.corsCheck}
	err := w.Work(ctx, &river.Job[blobmark.SyncSourceJob]{JobRow: jobRow(jobID), Args: blobmark.SyncSourceJob{StorageID: f.storage.ID}})
	s, ferr := f.db.FindSourceStorageByID(context.Background(), f.storage.ID)
	if ferr != nil {
		f.t.Fatal(ferr)
	}
	return s, err
}

// tasks returns the project's task data, sorted.
func (f *syncFixture) tasks() []string {
	f.t.Helper()
	list, err := f.db.FindTasks(f.t.Context(), blobmark.TaskFilter{ProjectID: f.project.ID, Page: blobmark.Page{Limit: 10000}})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, t := range list.Tasks {
		out = append(out, string(t.Data))
	}
	sort.Strings(out)
	return out
}

func (f *syncFixture) uri(key string) string {
	return fmt.Sprintf(`{"$undefined$":"azure-blob://%s/%s"}`, f.name, key)
}

func meta(t *testing.T, s *blobmark.SourceStorage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(s.State.Meta, &m); err != nil {
		t.Fatalf("meta %s: %v", s.State.Meta, err)
	}
	return m
}

func TestSyncFilesModeTreeRegexAndFolderMarkers(t *testing.T) {
	for _, recursive := range []bool{false, true} {
		t.Run(fmt.Sprintf("recursive=%v", recursive), func(t *testing.T) {
			f := newSyncFixture(t, func(s *blobmark.SourceStorage) {
				s.Prefix, s.RecursiveScan, s.RegexFilter = "data", recursive, `data/.*\.jpg`
			})
			for _, k := range []string{"data/a.jpg", "data/b.txt", "data/l2/c.jpg", "data/l2/l3/d.jpg", "data2/x.jpg", "top.jpg"} {
				f.put(k, "x")
			}
			f.put("data/l2/", "") // a folder marker
			s, err := f.sync(f.db, 2)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{f.uri("data/a.jpg")}
			if recursive {
				want = append(want, f.uri("data/l2/c.jpg"), f.uri("data/l2/l3/d.jpg"))
			}
			sort.Strings(want)
			if got := f.tasks(); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("tasks =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if s.State.Status != blobmark.StatusCompleted || s.State.LastSyncCount == nil || *s.State.LastSyncCount != len(want) {
				t.Fatalf("state = %+v", s.State)
			}
			m := meta(t, s)
			for _, k := range []string{"attempts", "time_queued", "time_in_progress", "time_last_ping", "time_completed", "duration", "tasks_existed", "keys_listed", "tasks_created", "files_failed"} {
				if _, ok := m[k]; !ok {
					t.Errorf("meta lacks %s: %s", k, s.State.Meta)
				}
			}
			// A second sync with nothing new creates nothing.
			s, err = f.sync(f.db, 2)
			if err != nil || len(f.tasks()) != len(want) || *s.State.LastSyncCount != 0 || meta(t, s)["tasks_existed"].(float64) != float64(len(want)) {
				t.Fatalf("re-sync: err %v, %d tasks, state %+v meta %s", err, len(f.tasks()), s.State, s.State.Meta)
			}
		})
	}
}

// TestSyncOfStoredOverlongRegexFails: a storage saved, before regex_filter
// was bounded, with the 120 KB filter that took gigabytes to match two keys
// fails its sync at once, with a traceback naming the field and the bound,
// and imports nothing.
// TestSyncLeavesTheCORSVerdictInMeta checks that a sync stores its CORS
// check's verdict in the storage's meta, with the storage's settings as
// the check saw them, and none when the check has nothing to say.
func TestSyncLeavesTheCORSVerdictInMeta(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.Presign = true })
	f.put("a.jpg", "x")
	var seen *blobmark.SourceStorage
	f.corsCheck = func(_ context.Context, st *blobmark.SourceStorage) *blobmark.CORSReport {
		seen = st
		return &blobmark.CORSReport{Origin: "https://label.example.com", Status: blobmark.CORSMissing, Message: "add a rule"}
	}
	s, err := f.sync(f.db, 0)
	if err != nil {
		t.Fatal(err)
	}
	cors, _ := meta(t, s)[blobmark.MetaCORS].(map[string]any)
	if cors["status"] != blobmark.CORSMissing || cors["message"] != "add a rule" {
		t.Fatalf("meta.cors = %v; want the check's verdict", meta(t, s)[blobmark.MetaCORS])
	}
	if seen == nil || !seen.Presign || seen.Secrets["account_key"] == "" {
		t.Fatalf("the check saw %+v; want the storage with its secrets", seen)
	}
	f.corsCheck = func(context.Context, *blobmark.SourceStorage) *blobmark.CORSReport { return nil }
	if s, err = f.sync(f.db, 0); err != nil {
		t.Fatal(err)
	}
	if v, ok := meta(t, s)[blobmark.MetaCORS]; ok {
		t.Fatalf("meta.cors = %v after a sync whose check had nothing to say; want it gone", v)
	}
}

func TestSyncOfStoredOverlongRegexFails(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) {
		s.RegexFilter = strings.TrimSuffix(strings.Repeat("(abc)|", 20000), "|")
	})
	f.put("a.png", "x")
	f.put("b.png", "x")
	s, err := f.sync(f.db, 0)
	var cancel *river.JobCancelError
	if !errors.As(err, &cancel) {
		t.Fatalf("sync error = %v, want a final one that River does not retry", err)
	}
	if s.State.Status != blobmark.StatusFailed || s.State.Traceback == nil ||
		!strings.Contains(*s.State.Traceback, "regex_filter") || !strings.Contains(*s.State.Traceback, "at most 4096") {
		t.Fatalf("state = %+v, want failed with a traceback naming regex_filter and its bound", s.State)
	}
	if n := len(f.tasks()); n != 0 {
		t.Fatalf("%d tasks imported", n)
	}
}

func TestSyncTasksModeFormatsMalformedChangedDeleted(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) {
		s.UseBlobURLs, s.RecursiveScan, s.SyncChanged, s.SyncDeleted = false, true, true, true
	})
	f.put("one.json", `{"data":{"text":"one"},"predictions":[{"result":[],"score":0.5}]}`)
	f.put("arr.json", `[{"text":"a0"},{"data":{"text":"a1"},"annotations":[{"result":[]}]}]`)
	f.put("lines.jsonl", "{\"text\":\"l0\"}\n{\"text\":\"l1\"}\n")
	f.put("bad.json", `{"text": "unterminated`)
	s, err := f.sync(f.db, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"text":"a0"}`, `{"text":"a1"}`, `{"text":"l0"}`, `{"text":"l1"}`, `{"text":"one"}`}
	if got := f.tasks(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("tasks = %v, want %v", got, want)
	}
	if s.State.Status != blobmark.StatusCompletedWithErrors || s.State.Traceback == nil || !strings.Contains(*s.State.Traceback, "bad.json") {
		t.Fatalf("a malformed file among good ones: state %+v", s.State)
	}
	list, _ := f.db.FindTasks(t.Context(), blobmark.TaskFilter{ProjectID: f.project.ID, Page: blobmark.Page{Limit: 100}})
	if list.TotalAnnotations != 1 || list.TotalPredictions != 1 {
		t.Fatalf("annotations %d predictions %d, want 1 and 1", list.TotalAnnotations, list.TotalPredictions)
	}

	// A changed file rewrites its unannotated tasks; a deleted blob removes
	// its unannotated tasks and keeps (marks) the annotated one.
	f.put("lines.jsonl", "{\"text\":\"l0 v2\"}\n{\"text\":\"l1\"}\n")
	f.del("arr.json")
	f.del("bad.json")
	s, err = f.sync(f.db, 0)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{`{"text":"a1"}`, `{"text":"l0 v2"}`, `{"text":"l1"}`, `{"text":"one"}`}
	if got := f.tasks(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after change and delete: tasks = %v, want %v", got, want)
	}
	m := meta(t, s)
	if m["tasks_updated"].(float64) < 1 || m["tasks_removed"].(float64) != 1 || m["tasks_marked_missing"].(float64) != 1 {
		t.Fatalf("meta = %s", s.State.Meta)
	}
	links, err := f.db.ExistingLinks(t.Context(), f.storage.ID, []string{"arr.json"})
	if err != nil || len(links["arr.json"].Rows) != 1 || !links["arr.json"].Rows[0].Missing {
		t.Fatalf("annotated task of a deleted blob: links %+v, %v", links["arr.json"], err)
	}
}

// cancellingSink is the real store, with the sync's context cancelled
// after a number of committed batches: the process "dies" mid-sync.
type cancellingSink struct {
	*sqlstore.DB
	after  int32
	n      atomic.Int32
	cancel context.CancelFunc
}

func (s *cancellingSink) WriteBatch(ctx context.Context, id int64, b *importer.Batch) (importer.BatchResult, error) {
	r, err := s.DB.WriteBatch(ctx, id, b)
	if s.n.Add(1) == s.after {
		s.cancel()
	}
	return r, err
}

func TestSyncKilledMidwayResumesWithExactCounts(t *testing.T) {
	f := newSyncFixture(t, nil)
	const n = 60
	for i := range n {
		f.put(fmt.Sprintf("img/%03d.jpg", i), "x")
	}
	f.storage.Prefix, f.storage.RecursiveScan = "img", true
	if err := f.db.UpdateSourceStorage(t.Context(), f.storage); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	sink := &cancellingSink{DB: f.db, after: 3, cancel: cancel}
	s, err := f.syncJob(ctx, sink, 42, 10)
	if err == nil || s.State.Status != blobmark.StatusInProgress {
		t.Fatalf("killed sync: err %v, status %s", err, s.State.Status)
	}
	if got := len(f.tasks()); got != 30 {
		t.Fatalf("after the kill: %d tasks, want the 3 committed pages (30)", got)
	}
	// River retries the same job (same id, so the same generation).
	s, err = f.syncJob(t.Context(), f.db, 42, 10)
	if err != nil || s.State.Status != blobmark.StatusCompleted {
		t.Fatalf("resumed sync: err %v, state %+v", err, s.State)
	}
	tasks := f.tasks()
	seen := map[string]bool{}
	for _, d := range tasks {
		if seen[d] {
			t.Fatalf("duplicate task %s", d)
		}
		seen[d] = true
	}
	if len(tasks) != n || *s.State.LastSyncCount != n-30 {
		t.Fatalf("%d tasks (want %d), last_sync_count %d (want %d)", len(tasks), n, *s.State.LastSyncCount, n-30)
	}
}

func TestSyncCancelRequestStopsCleanly(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.RecursiveScan = true })
	for i := range 30 {
		f.put(fmt.Sprintf("%03d.jpg", i), "x")
	}
	if _, err := f.db.RequestSourceSync(t.Context(), f.storage.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.CancelSourceSync(t.Context(), f.storage.ID); err != nil {
		t.Fatal(err)
	}
	s, err := f.sync(f.db, 5)
	var jc *river.JobCancelError
	if !errors.As(err, &jc) || s.State.Status != blobmark.StatusFailed || !strings.Contains(*s.State.Traceback, "cancelled") {
		t.Fatalf("cancelled sync: err %v, state %+v", err, s.State)
	}
	if len(f.tasks()) != 0 {
		t.Fatalf("a sync cancelled before it started created %d tasks", len(f.tasks()))
	}
}

func TestSyncThroughRiverAndConcurrentRequests(t *testing.T) {
	f := newSyncFixture(t, nil)
	for i := range 12 {
		f.put(fmt.Sprintf("%02d.png", i), "x")
	}
	ctx := t.Context()
	a, err := f.db.RequestSourceSync(ctx, f.storage.ID)
	if err != nil || a.State.Status != blobmark.StatusQueued || a.State.LastSyncJob == nil {
		t.Fatalf("first request: %+v, %v", a, err)
	}
	b, err := f.db.RequestSourceSync(ctx, f.storage.ID)
	if err != nil || b.State.Status != blobmark.StatusQueued || *b.State.LastSyncJob != *a.State.LastSyncJob {
		t.Fatalf("second request enqueued again: %+v, %v", b.State, err)
	}
	jobsList, err := f.db.River().JobList(ctx, river.NewJobListParams().Kinds(blobmark.SyncSourceJob{}.Kind()))
	if err != nil || len(jobsList.Jobs) != 1 {
		t.Fatalf("sync jobs = %d, %v; want 1", len(jobsList.Jobs), err)
	}
	workers := f.syncWorkers(t)
	if err := f.db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers, PollInterval: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	defer f.db.StopJobs(context.Background())
	s := waitStatus(t, f.db, f.storage.ID)
	if s.State.Status != blobmark.StatusCompleted || *s.State.LastSyncCount != 12 || len(f.tasks()) != 12 {
		t.Fatalf("state %+v, %d tasks", s.State, len(f.tasks()))
	}
}

func TestScheduledSyncEnqueuesOncePerInterval(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.SyncIntervalMinutes = 60 })
	n, err := f.db.EnqueueDueSourceSyncs(t.Context(), jobs.ScheduleInterval)
	if err != nil || n != 1 {
		t.Fatalf("first schedule: %d, %v", n, err)
	}
	// Another replica's scheduler, or the next tick, finds nothing due.
	if n, err := f.db.EnqueueDueSourceSyncs(t.Context(), jobs.ScheduleInterval); err != nil || n != 0 {
		t.Fatalf("second schedule: %d, %v", n, err)
	}
	if _, err := f.sync(f.db, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := f.db.EnqueueDueSourceSyncs(t.Context(), jobs.ScheduleInterval); err != nil || n != 0 {
		t.Fatalf("within the interval after a sync: %d, %v", n, err)
	}
}

// syncWorkers returns the sync and scheduler workers as the server
// registers them, with the default page size and no fan-out.
func (f *syncFixture) syncWorkers(t *testing.T) *river.Workers {
	t.Helper()
	workers := river.NewWorkers()
	must(t, river.AddWorkerSafely(workers, &jobs.SyncSourceWorker{Store: f.db, Source: azureblob.SourceOpener{Connector: f.conn}}))
	must(t, river.AddWorkerSafely(workers, &jobs.ScheduleSourceSyncsWorker{Store: f.db}))
	return workers
}

func waitStatus(t *testing.T, db *sqlstore.DB, id int64) *blobmark.SourceStorage {
	t.Helper()
	for range 600 {
		s, err := db.FindSourceStorageByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.State.Status != blobmark.StatusQueued && s.State.Status != blobmark.StatusInProgress {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("sync did not finish")
	return nil
}

func jobRow(id int64) *rivertype.JobRow { return &rivertype.JobRow{ID: id, Attempt: 1} }

func TestScheduledSyncRunsWithoutARequest(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.SyncIntervalMinutes = 60 })
	for i := range 3 {
		f.put(fmt.Sprintf("%d.png", i), "x")
	}
	workers := f.syncWorkers(t)
	err := f.db.StartJobs(t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: 50 * time.Millisecond,
		PeriodicJobs: []*river.PeriodicJob{jobs.SchedulePeriodicJob()}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.db.StopJobs(context.Background())
	var s *blobmark.SourceStorage
	for range 600 {
		if s, err = f.db.FindSourceStorageByID(t.Context(), f.storage.ID); err != nil {
			t.Fatal(err)
		}
		if s.State.Status == blobmark.StatusCompleted {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s.State.Status != blobmark.StatusCompleted || len(f.tasks()) != 3 {
		t.Fatalf("scheduled sync: state %+v, %d tasks", s.State, len(f.tasks()))
	}
}
