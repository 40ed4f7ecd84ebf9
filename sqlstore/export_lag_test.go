package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
	"github.com/blobmark/blobmark/sqlstore"
)

// TestExportLag checks the export lag on both stores: 0 with nothing to
// export, the age of the oldest unexported change once there is one
// (older annotations, made before the storage existed, do not count), and
// 0 again once the change's current state is recorded as exported, in
// annotation and task format alike.
func TestExportLag(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			db := open(t, b.prepare(t, sqlstore.Config{Clock: func() time.Time { return now }}))
			lag := func(want time.Duration) {
				t.Helper()
				if got, err := db.ExportLag(ctx); err != nil || got != want {
					t.Fatalf("ExportLag = %s, %v; want %s", got, err, want)
				}
			}
			p := &blobmark.Project{Title: "lag"}
			if err := db.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			res, err := db.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{{Data: json.RawMessage(`{"x":1}`)}, {Data: json.RawMessage(`{"x":2}`)}})
			if err != nil {
				t.Fatal(err)
			}
			old := &blobmark.Annotation{TaskID: res.TaskIDs[0], Result: json.RawMessage(`[]`)}
			if err := db.CreateAnnotation(ctx, old); err != nil {
				t.Fatal(err)
			}
			lag(0) // no target storage

			now = now.Add(time.Minute)
			st := &blobmark.TargetStorage{ProjectID: p.ID, Type: "azure", Container: "c"}
			if err := db.CreateTargetStorage(ctx, st, false); err != nil {
				t.Fatal(err)
			}
			lag(0) // the old annotation waits for a sync the user asks for

			now = now.Add(time.Minute)
			a := &blobmark.Annotation{TaskID: res.TaskIDs[1], Result: json.RawMessage(`[]`)}
			if err := db.CreateAnnotation(ctx, a); err != nil {
				t.Fatal(err)
			}
			now = now.Add(90 * time.Second)
			lag(90 * time.Second)

			rec := db.ExportStore()
			link := &exporter.ExportLink{StorageID: st.ID, Key: "2", AnnotationID: a.ID, TaskID: a.TaskID, ContentHash: "h",
				SourceUpdatedAt: a.UpdatedAt, AnnotationCount: 1, ExportedAt: now}
			if err := rec.RecordExport(ctx, link); err != nil {
				t.Fatal(err)
			}
			lag(0)

			// An update makes the exported object stale again.
			now = now.Add(time.Second)
			if _, err := db.UpdateAnnotation(ctx, a.ID, blobmark.AnnotationUpdate{Result: json.RawMessage(`[{"v":2}]`)}); err != nil {
				t.Fatal(err)
			}
			now = now.Add(10 * time.Second)
			lag(10 * time.Second)

			// A task-format object that holds the current state counts too.
			if err := rec.RecordExport(ctx, &exporter.ExportLink{StorageID: st.ID, Key: "t2", TaskID: a.TaskID, ContentHash: "h",
				SourceUpdatedAt: now, AnnotationCount: 1, ExportedAt: now}); err != nil {
				t.Fatal(err)
			}
			lag(0)
		})
	}
}
