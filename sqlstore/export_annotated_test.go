package sqlstore_test

import (
	"bytes"
	"encoding/json"
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
			_, err = db.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
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
