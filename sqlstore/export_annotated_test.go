package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// TestExportOfAnnotatedTasks checks which tasks an export without
// download_all_tasks holds, as Label Studio's does: every task with an
// annotation, a cancelled (skipped) one included, and no task without.
func TestExportOfAnnotatedTasks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db, ctx, user, p := ownedProject(t, b)
			_, err := db.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
				{Data: json.RawMessage(`{"n":"annotated"}`), Annotations: []*blobmark.Annotation{{CompletedBy: user.ID}}},
				{Data: json.RawMessage(`{"n":"skipped"}`), Annotations: []*blobmark.Annotation{{CompletedBy: user.ID, WasCancelled: true}}},
				{Data: json.RawMessage(`{"n":"none"}`)},
			})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := db.ExportProject(ctx, p.ID, blobmark.ExportJSON, blobmark.ExportFilter{}, &out); err != nil {
				t.Fatal(err)
			}
			var tasks []struct {
				Data struct{ N string } `json:"data"`
			}
			if err := json.Unmarshal(out.Bytes(), &tasks); err != nil {
				t.Fatal(err)
			}
			if len(tasks) != 2 || tasks[0].Data.N != "annotated" || tasks[1].Data.N != "skipped" {
				t.Errorf("exported %+v; want the annotated and the skipped task", tasks)
			}
		})
	}
}

// TestExportPagesKeepEveryTaskWithItsOwn exports a project of several
// pages, whose tasks and their annotations and predictions are read
// overlapped, and wants every annotated task once, in id order, each with
// its own annotation and prediction.
func TestExportPagesKeepEveryTaskWithItsOwn(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db, ctx, user, p := ownedProject(t, b)
			tasks := make([]*blobmark.TaskImport, 2600)
			for i := range tasks {
				tasks[i] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
				if i%2 == 1 {
					tasks[i].Annotations = []*blobmark.Annotation{{CompletedBy: user.ID, Result: json.RawMessage(fmt.Sprintf(`[{"n":%d}]`, i))}}
					tasks[i].Predictions = []*blobmark.Prediction{{Result: json.RawMessage(fmt.Sprintf(`[{"n":%d}]`, i))}}
				}
			}
			if _, err := db.ImportTasks(ctx, p.ID, tasks); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := db.ExportProject(ctx, p.ID, blobmark.ExportJSON, blobmark.ExportFilter{}, &out); err != nil {
				t.Fatal(err)
			}
			type item struct {
				N int `json:"n"`
			}
			var got []struct {
				ID          int64 `json:"id"`
				Data        item  `json:"data"`
				Annotations []struct {
					Result []item `json:"result"`
				} `json:"annotations"`
				Predictions []struct {
					Result []item `json:"result"`
				} `json:"predictions"`
			}
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tasks)/2 {
				t.Fatalf("exported %d tasks, want %d", len(got), len(tasks)/2)
			}
			for i, task := range got {
				n := 2*i + 1
				if task.Data.N != n || i > 0 && task.ID <= got[i-1].ID || len(task.Annotations) != 1 || len(task.Predictions) != 1 ||
					task.Annotations[0].Result[0].N != n || task.Predictions[0].Result[0].N != n {
					t.Fatalf("task %d of the export: %+v; want task %d with its annotation and prediction", i, task, n)
				}
			}
		})
	}
}

// ownedProject opens a fresh store of backend b, with a user and a project
// of theirs; ctx carries the user.
func ownedProject(t *testing.T, b backend) (*sqlstore.DB, context.Context, *blobmark.User, *blobmark.Project) {
	t.Helper()
	db := open(t, b.prepare(t, sqlstore.Config{}))
	user, _, err := db.CreateUser(t.Context(), "owner@example.com", "password-123")
	if err != nil {
		t.Fatal(err)
	}
	ctx := blobmark.NewContextWithUser(t.Context(), user)
	p := &blobmark.Project{Title: "p"}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	return db, ctx, user, p
}
