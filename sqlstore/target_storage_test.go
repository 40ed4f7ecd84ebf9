package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

func openWithKey(t *testing.T, b backend) *sqlstore.DB {
	box, err := seal.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return open(t, b.prepare(t, sqlstore.Config{Secrets: box}))
}

// exportJobs returns the queued export jobs' args.
func exportJobs(t *testing.T, db *sqlstore.DB) []blobmark.ExportAnnotationJob {
	t.Helper()
	res, err := db.River().JobList(context.Background(), river.NewJobListParams().Kinds("export_annotation").First(1000))
	if err != nil {
		t.Fatal(err)
	}
	var out []blobmark.ExportAnnotationJob
	for _, j := range res.Jobs {
		var a blobmark.ExportAnnotationJob
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestTargetStorages(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db := openWithKey(t, b)
			p := &blobmark.Project{Title: "p", LabelConfig: `<View><Text name="t" value="$text"/></View>`}
			if err := db.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			res, err := db.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
				{Data: json.RawMessage(`{"text":"a"}`), Predictions: []*blobmark.Prediction{{Result: json.RawMessage(`[]`), ModelVersion: "m1"}}},
				{Data: json.RawMessage(`{"text":"b"}`)},
			})
			if err != nil {
				t.Fatal(err)
			}
			t1, t2 := res.TaskIDs[0], res.TaskIDs[1]

			// CRUD, with the secret sealed at rest and opened on read.
			const secret = "very-secret-account-key"
			yes := true
			ann := &blobmark.TargetStorage{ProjectID: p.ID, Type: "azure", Title: "ann", Container: "c", Prefix: "x/",
				CanDeleteObjects: false, Connection: blobmark.Connection{"account_name": "acc"}, Secrets: blobmark.Secrets{"account_key": blobmark.Secret(secret)}}
			if err := db.CreateTargetStorage(ctx, ann, true); err != nil {
				t.Fatal(err)
			}
			if ann.State.Status != blobmark.StatusQueued || ann.State.LastSyncJob == nil {
				t.Fatalf("create with initial sync left state %+v", ann.State)
			}
			task := &blobmark.TargetStorage{ProjectID: p.ID, Type: "azure_spi", Title: "task", Container: "c", ExportFormat: "task", FileExtension: &yes}
			if err := db.CreateTargetStorage(ctx, task, false); err != nil {
				t.Fatal(err)
			}
			var raw string
			if err := db.SQL().QueryRowContext(ctx, db.Rebind("SELECT secrets FROM target_storages WHERE id = ?"), ann.ID).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if raw == "" || strings.Contains(raw, secret) {
				t.Fatalf("secrets column %q is not sealed", raw)
			}
			if plain, err := db.FindTargetStorageByID(ctx, ann.ID); err != nil || plain.Secrets != nil || plain.Title != "ann" {
				t.Fatalf("find without secrets: %+v, %v", plain, err)
			}
			got, err := db.FindTargetStorageWithSecrets(ctx, ann.ID)
			if err != nil || got.Secrets["account_key"] != secret || got.Connection["account_name"] != "acc" || got.ExportFormat != "annotation" {
				t.Fatalf("find: %+v, %v", got, err)
			}
			list, err := db.FindTargetStorages(ctx, blobmark.TargetStorageFilter{ProjectID: p.ID})
			if err != nil || len(list) != 2 {
				t.Fatalf("list: %d, %v", len(list), err)
			}
			list, _ = db.FindTargetStorages(ctx, blobmark.TargetStorageFilter{ProjectID: p.ID, Type: "azure_spi"})
			if len(list) != 1 || *list[0].FileExtension != true {
				t.Fatalf("typed list %+v", list)
			}
			got.Title, got.Prefix = "renamed", "y"
			if got, err = db.UpdateTargetStorage(ctx, got); err != nil || got.Title != "renamed" {
				t.Fatalf("update: %+v, %v", got, err)
			}
			if kept, err := db.FindTargetStorageWithSecrets(ctx, ann.ID); err != nil || kept.Secrets["account_key"] != secret {
				t.Fatalf("secret after update: %+v, %v", kept, err)
			}
			bad := *got
			bad.ExportFormat = "csv"
			if _, err := db.UpdateTargetStorage(ctx, &bad); blobmark.ErrorCode(err) != blobmark.EINVALID {
				t.Fatalf("update with format csv: %v", err)
			}

			// Every annotation write enqueues one job per storage in its
			// transaction; a deletion only where it changes the container.
			a := &blobmark.Annotation{TaskID: t1, Result: json.RawMessage(`[{"v":1}]`)}
			if err := db.CreateAnnotation(ctx, a); err != nil {
				t.Fatal(err)
			}
			if jobs := exportJobs(t, db); len(jobs) != 2 {
				t.Fatalf("after one create: %+v, want one job per storage", jobs)
			}
			// Waiting duplicates collapse.
			if _, err := db.UpdateAnnotation(ctx, a.ID, blobmark.AnnotationUpdate{Result: json.RawMessage(`[{"v":2}]`)}); err != nil {
				t.Fatal(err)
			}
			if jobs := exportJobs(t, db); len(jobs) != 2 {
				t.Fatalf("after an update: %d jobs, want the waiting ones reused", len(jobs))
			}
			a2 := &blobmark.Annotation{TaskID: t2, Result: json.RawMessage(`[{"v":3}]`)}
			if err := db.CreateAnnotation(ctx, a2); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteAnnotation(ctx, a2.ID); err != nil {
				t.Fatal(err)
			}
			jobs := exportJobs(t, db)
			var forA2 []int64
			for _, j := range jobs {
				if j.AnnotationID == a2.ID {
					forA2 = append(forA2, j.StorageID)
					if j.TaskID != t2 {
						t.Fatalf("job %+v does not carry the task", j)
					}
				}
			}
			if len(forA2) != 2 {
				t.Fatalf("jobs for a created-then-deleted annotation: %v", forA2)
			}

			// Export links and only_new.
			src := db.ExportStore()
			refs, err := src.FindAnnotationsToExport(ctx, exporter.ExportQuery{StorageID: ann.ID, ProjectID: p.ID, OnlyNew: true, Limit: 10})
			if err != nil || len(refs) != 1 || refs[0] != (exporter.AnnotationRef{ID: a.ID, TaskID: t1}) {
				t.Fatalf("only_new before any export: %v, %v", refs, err)
			}
			cur, _ := db.FindAnnotationByID(ctx, a.ID)
			link := &exporter.ExportLink{StorageID: ann.ID, Key: "y/1", AnnotationID: a.ID, TaskID: t1, ETag: "e1", ContentHash: "h1",
				SourceUpdatedAt: cur.UpdatedAt, AnnotationCount: 1, ExportedAt: time.Now()}
			if err := src.RecordExport(ctx, link); err != nil {
				t.Fatal(err)
			}
			link.ETag = "e2"
			if err := src.RecordExport(ctx, link); err != nil {
				t.Fatal(err)
			}
			l, err := src.FindExportLink(ctx, ann.ID, "y/1")
			if err != nil || l.ETag != "e2" || !l.SourceUpdatedAt.Equal(cur.UpdatedAt) {
				t.Fatalf("link %+v, %v", l, err)
			}
			// The storage counts what is in its container, once per link
			// however often it was rewritten, whoever exported it.
			if got, err := db.FindTargetStorageByID(ctx, ann.ID); err != nil || got.AnnotationCount != 1 {
				t.Fatalf("annotation count after an export: %+v, %v", got, err)
			}
			refs, _ = src.FindAnnotationsToExport(ctx, exporter.ExportQuery{StorageID: ann.ID, ProjectID: p.ID, OnlyNew: true, Limit: 10})
			if len(refs) != 0 {
				t.Fatalf("only_new after the export: %v", refs)
			}
			refs, _ = src.FindAnnotationsToExport(ctx, exporter.ExportQuery{StorageID: ann.ID, ProjectID: p.ID, Limit: 10})
			if len(refs) != 1 {
				t.Fatalf("full: %v", refs)
			}
			time.Sleep(2 * time.Millisecond) // a later updated_at than the link's
			if _, err := db.UpdateAnnotation(ctx, a.ID, blobmark.AnnotationUpdate{Result: json.RawMessage(`[{"v":4}]`)}); err != nil {
				t.Fatal(err)
			}
			refs, _ = src.FindAnnotationsToExport(ctx, exporter.ExportQuery{StorageID: ann.ID, ProjectID: p.ID, OnlyNew: true, Limit: 10})
			if len(refs) != 1 {
				t.Fatalf("only_new after an update: %v", refs)
			}

			tasks, err := src.FindTasksToExport(ctx, exporter.ExportQuery{StorageID: task.ID, ProjectID: p.ID, OnlyNew: true, Limit: 10})
			if err != nil || !slices.Equal(tasks, []int64{t1}) {
				t.Fatalf("task only_new: %v, %v", tasks, err)
			}
			cur, _ = db.FindAnnotationByID(ctx, a.ID)
			if err := src.RecordExport(ctx, &exporter.ExportLink{StorageID: task.ID, Key: fmt.Sprint(t1, ".json"), TaskID: t1, ContentHash: "h",
				SourceUpdatedAt: cur.UpdatedAt, AnnotationCount: 1, ExportedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if tasks, _ = src.FindTasksToExport(ctx, exporter.ExportQuery{StorageID: task.ID, ProjectID: p.ID, OnlyNew: true, Limit: 10}); len(tasks) != 0 {
				t.Fatalf("task only_new after the export: %v", tasks)
			}
			if err := db.DeleteAnnotation(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			if tasks, _ = src.FindTasksToExport(ctx, exporter.ExportQuery{StorageID: task.ID, ProjectID: p.ID, OnlyNew: true, Limit: 10}); !slices.Equal(tasks, []int64{t1}) {
				t.Fatalf("task only_new after its last annotation went: %v (its file must be removed)", tasks)
			}
			if err := src.DeleteExportLink(ctx, ann.ID, "y/1"); err != nil {
				t.Fatal(err)
			}
			if _, err := src.FindExportLink(ctx, ann.ID, "y/1"); blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
				t.Fatalf("deleted link: %v", err)
			}
			if list, err := db.FindTargetStorages(ctx, blobmark.TargetStorageFilter{ProjectID: p.ID}); err != nil || len(list) != 2 ||
				list[0].AnnotationCount+list[1].AnnotationCount != 1 {
				t.Fatalf("annotation counts after the deletion (the task file stays until its export): %+v, %v", list, err)
			}
			preds, err := src.FindPredictions(ctx, t1)
			if err != nil || len(preds) != 1 || preds[0].ModelVersion != "m1" {
				t.Fatalf("predictions %+v, %v", preds, err)
			}

			// State, then delete.
			n := 3
			now := time.Now()
			if err := db.SetTargetStorageState(ctx, ann.ID, blobmark.StorageState{Status: blobmark.StatusCompleted, LastSync: &now,
				LastSyncCount: &n, Meta: json.RawMessage(`{"uploaded":3}`)}); err != nil {
				t.Fatal(err)
			}
			stale := "not-the-latest-job"
			if err := db.SetTargetStorageState(ctx, ann.ID, blobmark.StorageState{Status: blobmark.StatusFailed, LastSyncJob: &stale}); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.FindTargetStorageByID(ctx, ann.ID); got.State.Status != blobmark.StatusCompleted {
				t.Fatalf("a superseded sync overwrote the state: %+v", got.State)
			}
			if err := db.FailTargetStorage(ctx, task.ID, "key revoked"); err != nil {
				t.Fatal(err)
			}
			got, _ = db.FindTargetStorageByID(ctx, ann.ID)
			failed, _ := db.FindTargetStorageByID(ctx, task.ID)
			if got.State.Status != "completed" || *got.State.LastSyncCount != 3 || failed.State.Status != "failed" || *failed.State.Traceback != "key revoked" {
				t.Fatalf("states %+v / %+v", got.State, failed.State)
			}
			if err := db.DeleteTargetStorage(ctx, task.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := db.FindTargetStorageByID(ctx, task.ID); blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
				t.Fatalf("deleted storage: %v", err)
			}
			if err := src.RecordExport(ctx, &exporter.ExportLink{StorageID: task.ID, Key: "late", ContentHash: "h", ExportedAt: time.Now()}); err != nil {
				t.Fatalf("a late link of a deleted storage: %v", err)
			}

			// The project export streams every task, in id order.
			var out bytes.Buffer
			if err := db.ExportProject(ctx, p.ID, "JSON", blobmark.ExportFilter{AllTasks: true}, &out); err != nil {
				t.Fatal(err)
			}
			var items []struct {
				ID          int64
				Predictions []json.RawMessage
			}
			if err := json.Unmarshal(out.Bytes(), &items); err != nil || len(items) != 2 || items[0].ID != t1 || len(items[0].Predictions) != 1 {
				t.Fatalf("project export %s (%v)", out.Bytes(), err)
			}
			if err := db.ExportProject(ctx, 99999, "JSON", blobmark.ExportFilter{}, &out); blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
				t.Fatalf("export of a missing project: %v", err)
			}
		})
	}
}
