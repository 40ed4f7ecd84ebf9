package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// TestSourceStorages runs the source storage store and the importer Sink on
// every backend.
func TestSourceStorages(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			testSecretsSealed(t, db)
			testSinkIdempotentAndReconcile(t, db)
			testSinkRetriedLargeBatch(t, db)
			testSinkRewriteAddsAnnotations(t, db)
			testSyncStateMachine(t, db)
			testConcurrentSyncRequestsEnqueueOnce(t, db)
		})
	}
}

func newStorage(t *testing.T, db *sqlstore.DB) *blobmark.SourceStorage {
	t.Helper()
	p := &blobmark.Project{Title: "p"}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	s := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c", Synchronizable: true,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"},
		Secrets:    blobmark.Secrets{"account_key": "TOPSECRETKEYVALUE=="}}
	if err := db.CreateSourceStorage(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func testSecretsSealed(t *testing.T, db *sqlstore.DB) {
	s := newStorage(t, db)
	var raw string
	if err := db.SQL().QueryRowContext(t.Context(), db.Rebind("SELECT secrets FROM source_storages WHERE id = ?"), s.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw == "" || strings.Contains(raw, "TOPSECRET") {
		t.Fatalf("secrets column %q is not sealed", raw)
	}
	// The sealed text is a JSON object of the plain values, as it always
	// was: a Secret encodes as a redaction marker, so sealing one through an
	// encoder would store the marker and lose the key.
	if opened, err := box(t, testKey).Open(raw); err != nil || opened != `{"account_key":"TOPSECRETKEYVALUE=="}` {
		t.Fatalf("the secrets column opens to %q, %v", opened, err)
	}
	plain, err := db.FindSourceStorageByID(t.Context(), s.ID)
	if err != nil || plain.Secrets != nil || plain.Connection["account_name"] != "acct" {
		t.Fatalf("read back without secrets: %+v, %v; want the connection and no secrets", plain, err)
	}
	got, err := db.FindSourceStorageWithSecrets(t.Context(), s.ID)
	if err != nil || got.Secrets["account_key"] != "TOPSECRETKEYVALUE==" || got.Connection["account_name"] != "acct" {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	got.Title, got.Secrets = "t2", blobmark.Secrets{}
	if err := db.UpdateSourceStorage(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	if again, _ := db.FindSourceStorageWithSecrets(t.Context(), s.ID); again.Title != "t2" || len(again.Secrets) != 0 {
		t.Fatalf("after update: %+v", again)
	}
}

func task(s string) *blobmark.TaskImport {
	return &blobmark.TaskImport{Data: json.RawMessage(`{"text":"` + s + `"}`)}
}

func testSinkIdempotentAndReconcile(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	s := newStorage(t, db)
	b := &importer.Batch{Generation: 1, Create: []importer.NewTask{
		{Key: "a", Row: 0, ETag: "e1", Size: 1, Task: task("a")},
		{Key: "b", Row: 0, ETag: "e1", Size: 1, Task: task("b0")},
		{Key: "b", Row: 1, ETag: "e1", Size: 1, Task: task("b1")},
	}}
	r, err := db.WriteBatch(ctx, s.ID, b)
	if err != nil || r.Created != 3 {
		t.Fatalf("first write: %+v, %v", r, err)
	}
	if list, err := db.FindSourceStorages(ctx, s.ProjectID); err != nil || len(list) != 1 || list[0].TaskCount != 3 {
		t.Fatalf("task count after the first write: %+v, %v", list, err)
	}
	// The same batch again (a retried page) creates nothing.
	if r, err := db.WriteBatch(ctx, s.ID, b); err != nil || r.Created != 0 {
		t.Fatalf("retried write: %+v, %v", r, err)
	}
	links, err := db.ExistingLinks(ctx, s.ID, []string{"a", "b", "zzz"})
	if err != nil || len(links) != 2 || len(links["b"].Rows) != 2 || links["a"].ETag != "e1" {
		t.Fatalf("links = %+v, %v", links, err)
	}
	// Annotate b's row 0; then only "a" is seen by generation 2.
	if err := db.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: links["b"].Rows[0].TaskID, Result: json.RawMessage(`[]`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteBatch(ctx, s.ID, &importer.Batch{Generation: 2, Seen: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	stale, err := db.StaleLinks(ctx, s.ID, 2, "", 10)
	if err != nil || len(stale) != 1 || stale[0].Key != "b" || !stale[0].Rows[0].Annotated {
		t.Fatalf("stale = %+v, %v", stale, err)
	}
	r, err = db.WriteBatch(ctx, s.ID, &importer.Batch{Generation: 2, Remove: []int64{stale[0].Rows[0].TaskID, stale[0].Rows[1].TaskID}})
	if err != nil || r.Removed != 1 || r.Marked != 1 {
		t.Fatalf("remove: %+v, %v", r, err)
	}
	list, err := db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: s.ProjectID, Page: blobmark.Page{Limit: 10}})
	if err != nil || list.Total != 2 || len(list.Tasks) != 2 {
		t.Fatalf("tasks after reconcile: %+v, %v", list, err)
	}
	// The storage counts the tasks it backs now, not one sync's new ones.
	if got, err := db.FindSourceStorageByID(ctx, s.ID); err != nil || got.TaskCount != 2 {
		t.Fatalf("task count after reconcile: %+v, %v", got, err)
	}
	// A task deleted by hand takes its link with it, so the next sync
	// imports its blob again.
	if err := db.DeleteTask(ctx, links["a"].Rows[0].TaskID); err != nil {
		t.Fatal(err)
	}
	if got, err := db.ExistingLinks(ctx, s.ID, []string{"a"}); err != nil || len(got) != 0 {
		t.Fatalf("links of a deleted task: %+v, %v", got, err)
	}
	if got, err := db.FindSourceStorageByID(ctx, s.ID); err != nil || got.TaskCount != 1 {
		t.Fatalf("task count after deleting a task: %+v, %v", got, err)
	}
	// Deleting the storage keeps its tasks and takes its links.
	if err := db.DeleteSourceStorage(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := db.ExistingLinks(ctx, s.ID, []string{"a", "b"}); err != nil || len(got) != 0 {
		t.Fatalf("links of a deleted storage: %+v, %v", got, err)
	}
	if list, _ := db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: s.ProjectID, Page: blobmark.Page{Limit: 10}}); list.Total != 1 {
		t.Fatalf("tasks after deleting the storage: %d", list.Total)
	}
}

// testSinkRetriedLargeBatch writes a batch large enough to be copied on
// PostgreSQL, then half of it again with new keys: the conflict of the
// copied links is detected and only the new keys create tasks.
func testSinkRetriedLargeBatch(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	s := newStorage(t, db)
	batch := func(from, to int) *importer.Batch {
		b := &importer.Batch{Generation: 1}
		for i := from; i < to; i++ {
			b.Create = append(b.Create, importer.NewTask{Key: fmt.Sprintf("k%04d", i), Task: task(strconv.Itoa(i))})
		}
		return b
	}
	if r, err := db.WriteBatch(ctx, s.ID, batch(0, 300)); err != nil || r.Created != 300 {
		t.Fatalf("first write: %+v, %v", r, err)
	}
	if r, err := db.WriteBatch(ctx, s.ID, batch(150, 450)); err != nil || r.Created != 150 {
		t.Fatalf("overlapping write: %+v, %v; want 150 created", r, err)
	}
	got, err := db.FindSourceStorageByID(ctx, s.ID)
	if err != nil || got.TaskCount != 450 {
		t.Fatalf("task count: %+v, %v; want 450", got, err)
	}
	// The write that conflicted left no gap in the task numbers.
	var n, last int
	if err := db.SQL().QueryRowContext(ctx, db.Rebind("SELECT COUNT(*), MAX(inner_id) FROM tasks WHERE project_id = ?"), s.ProjectID).Scan(&n, &last); err != nil || n != 450 || last != 450 {
		t.Fatalf("%d tasks numbered up to %d, %v; want 450 and 450", n, last, err)
	}
}

// testSinkRewriteAddsAnnotations rewrites tasks from a changed file whose
// rows now carry annotations: an unannotated task gets them, with its and
// the project's counters, as a first import would; an annotated one is kept.
func testSinkRewriteAddsAnnotations(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	s := newStorage(t, db)
	r, err := db.WriteBatch(ctx, s.ID, &importer.Batch{Generation: 1, Create: []importer.NewTask{
		{Key: "f.jsonl", Row: 0, ETag: "e1", Task: task("a")},
		{Key: "f.jsonl", Row: 1, ETag: "e1", Task: task("b")},
	}})
	if err != nil || r.Created != 2 {
		t.Fatalf("create: %+v, %v", r, err)
	}
	links, err := db.ExistingLinks(ctx, s.ID, []string{"f.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	fresh, kept := links["f.jsonl"].Rows[0].TaskID, links["f.jsonl"].Rows[1].TaskID
	if err := db.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: kept, Result: json.RawMessage(`[]`)}); err != nil {
		t.Fatal(err)
	}
	annotated := func(text string) *blobmark.TaskImport {
		ti := task(text)
		ti.Annotations = []*blobmark.Annotation{
			{Result: json.RawMessage(`[{"type":"choices","value":{"choices":["x"]}}]`)},
			{Result: json.RawMessage(`[]`), WasCancelled: true},
		}
		return ti
	}
	r, err = db.WriteBatch(ctx, s.ID, &importer.Batch{Generation: 2,
		Update: []importer.TaskRewrite{
			{TaskID: fresh, Key: "f.jsonl", Row: 0, Task: annotated("a2")},
			{TaskID: kept, Key: "f.jsonl", Row: 1, Task: annotated("b2")},
		},
		Versions: []importer.LinkVersion{{Key: "f.jsonl", ETag: "e2"}}})
	if err != nil || r.Updated != 1 || r.Kept != 1 {
		t.Fatalf("rewrite: %+v, %v", r, err)
	}
	got, err := db.FindTaskByID(ctx, fresh)
	if err != nil || !strings.Contains(string(got.Data), "a2") || got.TotalAnnotations != 1 || !got.IsLabeled {
		t.Fatalf("rewritten task: %+v, %v", got, err)
	}
	anns, err := db.FindAnnotations(ctx, fresh)
	if err != nil || len(anns) != 2 {
		t.Fatalf("annotations of the rewritten task: %d, %v", len(anns), err)
	}
	if anns, err := db.FindAnnotations(ctx, kept); err != nil || len(anns) != 1 {
		t.Fatalf("the annotated task gained annotations: %d, %v", len(anns), err)
	}
	p, err := db.FindProjectByID(ctx, s.ProjectID)
	if err != nil || p.TotalAnnotationsNumber != 2 || p.NumTasksWithAnnotations != 2 {
		t.Fatalf("project counters: annotations %d, tasks with annotations %d, %v",
			p.TotalAnnotationsNumber, p.NumTasksWithAnnotations, err)
	}
	// Once annotated, the task is kept by the next rewrite.
	r, err = db.WriteBatch(ctx, s.ID, &importer.Batch{Generation: 3,
		Update: []importer.TaskRewrite{{TaskID: fresh, Key: "f.jsonl", Row: 0, Task: annotated("a3")}}})
	if err != nil || r.Updated != 0 || r.Kept != 1 {
		t.Fatalf("second rewrite: %+v, %v", r, err)
	}
}

func testSyncStateMachine(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := newStorage(t, db)
	q, err := db.RequestSourceSync(ctx, s.ID)
	if err != nil || q.State.Status != blobmark.StatusQueued || q.State.LastSyncJob == nil {
		t.Fatalf("queued: %+v, %v", q, err)
	}
	again, err := db.RequestSourceSync(ctx, s.ID)
	if err != nil || *again.State.LastSyncJob != *q.State.LastSyncJob {
		t.Fatalf("second request: %+v, %v", again, err)
	}
	if c, err := db.StartSourceSync(ctx, s.ID, 1); err != nil || c {
		t.Fatalf("start: %v, %v", c, err)
	}
	if _, err := db.CancelSourceSync(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := db.UpdateSourceSyncProgress(ctx, s.ID, 3, map[string]any{"keys_listed": 7}); err != nil || !c {
		t.Fatalf("progress after cancel: %v, %v", c, err)
	}
	if err := db.FinishSourceSync(ctx, s.ID, 1, blobmark.StatusCompleted, 3, "", map[string]any{"tasks_created": 3}); err != nil {
		t.Fatal(err)
	}
	got, _ := db.FindSourceStorageByID(ctx, s.ID)
	var m map[string]any
	_ = json.Unmarshal(got.State.Meta, &m)
	if got.State.Status != blobmark.StatusCompleted || got.State.LastSync == nil || *got.State.LastSyncCount != 3 ||
		m["attempts"] != 1.0 || m["keys_listed"] != 7.0 || m["time_completed"] == nil {
		t.Fatalf("finished: %+v meta %s", got.State, got.State.Meta)
	}
	// A re-sync clears last_sync, as Label Studio does, and keeps its time
	// as previous_sync, through a failed sync too.
	completed := got.State.LastSync.UTC().Format(time.RFC3339Nano)
	for i, finish := range []string{blobmark.StatusFailed, ""} {
		again, err := db.RequestSourceSync(ctx, s.ID)
		m = nil
		_ = json.Unmarshal(again.State.Meta, &m)
		if err != nil || again.State.LastSync != nil || m[blobmark.MetaPreviousSync] != completed {
			t.Fatalf("re-sync %d queued: %+v meta %s, %v; want previous_sync %s", i, again.State, again.State.Meta, err, completed)
		}
		if finish != "" {
			if err := db.FinishSourceSync(ctx, s.ID, int64(i+2), finish, 0, "boom", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestStaleSyncCanBeRequestedAgain: a sync whose process died stops
// reporting; after StaleSyncAfter a new request enqueues a fresh job
// instead of answering "in progress" until the queue rescues the old one.
func TestStaleSyncCanBeRequestedAgain(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := prepareSQLite(t, sqlstore.Config{Clock: func() time.Time { return now }})
	db := open(t, cfg)
	ctx := t.Context()
	s := newStorage(t, db)
	first, err := db.RequestSourceSync(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	job, _ := strconv.ParseInt(*first.State.LastSyncJob, 10, 64)
	if _, err := db.StartSourceSync(ctx, s.ID, job); err != nil {
		t.Fatal(err)
	}
	now = now.Add(sqlstore.StaleSyncAfter / 2)
	if again, _ := db.RequestSourceSync(ctx, s.ID); *again.State.LastSyncJob != *first.State.LastSyncJob {
		t.Fatalf("a live sync was replaced: %s then %s", *first.State.LastSyncJob, *again.State.LastSyncJob)
	}
	now = now.Add(sqlstore.StaleSyncAfter)
	again, err := db.RequestSourceSync(ctx, s.ID)
	if err != nil || again.State.Status != blobmark.StatusQueued || *again.State.LastSyncJob == *first.State.LastSyncJob {
		t.Fatalf("a stale sync was not replaced: %+v, %v", again.State, err)
	}
}

func testConcurrentSyncRequestsEnqueueOnce(t *testing.T, db *sqlstore.DB) {
	s := newStorage(t, db)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.RequestSourceSync(context.Background(), s.ID)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && blobmark.ErrorCode(err) != blobmark.EUNAVAILABLE { // a serialisation failure is retryable
			t.Fatal(err)
		}
	}
	res, err := db.River().JobList(context.Background(), river.NewJobListParams().Kinds(blobmark.SyncSourceJob{}.Kind()).First(100))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range res.Jobs {
		var a blobmark.SyncSourceJob
		if json.Unmarshal(j.EncodedArgs, &a) == nil && a.StorageID == s.ID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("8 concurrent requests enqueued %d sync jobs, want 1", n)
	}
}

// TestProjectRowKeepsItsTasks checks that a project's row cannot be
// deleted while tasks point at it, on both databases: SQLite by the
// foreign key, PostgreSQL by a statement trigger (migration 00023). The
// purge deletes a project's tasks first and relies on this to never leave
// tasks without their project.
func TestProjectRowKeepsItsTasks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			ctx := t.Context()
			p := createProject(t, db, "p")
			if _, err := db.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{task("a")}); err != nil {
				t.Fatal(err)
			}
			deleteRow := func() error {
				_, err := db.SQL().ExecContext(ctx, db.Rebind("DELETE FROM projects WHERE id = ?"), p.ID)
				return err
			}
			if err := deleteRow(); err == nil {
				t.Fatal("a project's row was deleted while a task pointed at it")
			}
			if _, err := db.SQL().ExecContext(ctx, db.Rebind("DELETE FROM tasks WHERE project_id = ?"), p.ID); err != nil {
				t.Fatal(err)
			}
			if err := deleteRow(); err != nil {
				t.Fatalf("deleting a project without tasks: %v", err)
			}
		})
	}
}
