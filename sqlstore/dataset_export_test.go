package sqlstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
	"github.com/riverqueue/river"
)

// TestTargetStorageTemplatesAndDataset stores the naming and dataset
// settings on both backends: they round-trip, bad ones are refused naming
// the field, a sync queues the dataset export with the per-object one in
// the same transaction, the dataset state is kept, links are found by
// annotation or task, and the preview renders on a real task.
func TestTargetStorageTemplatesAndDataset(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db := openWithKey(t, b)
			p := &blobmark.Project{Title: "p", LabelConfig: `<View><Image name="img" value="$image"/><RectangleLabels name="l" toName="img"><Label value="a"/></RectangleLabels></View>`}
			if err := db.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			res, err := db.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
				{Data: json.RawMessage(`{"image":"azure-blob://c/x/one.jpg"}`)},
				{Data: json.RawMessage(`{"image":"https://example.com/two.jpg","name":"two"}`)},
			})
			if err != nil {
				t.Fatal(err)
			}
			a := &blobmark.Annotation{TaskID: res.TaskIDs[1], Result: json.RawMessage(`[]`)}
			if err := db.CreateAnnotation(ctx, a); err != nil {
				t.Fatal(err)
			}

			for _, tc := range []struct {
				mod   func(*blobmark.TargetStorage)
				field string
			}{
				{func(s *blobmark.TargetStorage) { s.KeyTemplate = "{nope}" }, exporter.FieldKeyTemplate},
				{func(s *blobmark.TargetStorage) { s.ExportFormat, s.KeyTemplate = "task", "{annotation_id}" }, exporter.FieldKeyTemplate},
				{func(s *blobmark.TargetStorage) { s.DatasetFormat = "CONLL2003" }, exporter.FieldDatasetFormat}, // an image project
				{func(s *blobmark.TargetStorage) { s.DatasetFormat = "XML" }, exporter.FieldDatasetFormat},
				{func(s *blobmark.TargetStorage) { s.DatasetKeyTemplate = "{data.x}" }, exporter.FieldDatasetKeyTemplate},
			} {
				s := &blobmark.TargetStorage{ProjectID: p.ID, Type: "azure", Container: "c"}
				tc.mod(s)
				err := db.CreateTargetStorage(ctx, s, false)
				if e, ok := err.(*blobmark.Error); !ok || e.Code != blobmark.EINVALID || e.Field != tc.field {
					t.Errorf("create %+v: %v, want EINVALID on %s", s, err, tc.field)
				}
			}

			s := &blobmark.TargetStorage{ProjectID: p.ID, Type: "azure", Container: "c", Prefix: "out",
				KeyTemplate: "{source_stem}/{annotation_id}", DatasetFormat: "yolo", DatasetKeyTemplate: "ds/{format}"}
			if err := db.CreateTargetStorage(ctx, s, false); err != nil {
				t.Fatal(err)
			}
			got, err := db.FindTargetStorageByID(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.KeyTemplate != s.KeyTemplate || got.DatasetFormat != "YOLO" || got.DatasetKeyTemplate != "ds/{format}" || got.Dataset.Status != "" {
				t.Fatalf("stored %+v", got)
			}

			if _, err := db.SyncTargetStorage(ctx, s.ID, false); err != nil {
				t.Fatal(err)
			}
			jobs, err := db.River().JobList(ctx, river.NewJobListParams().Kinds("export_dataset").First(10))
			if err != nil {
				t.Fatal(err)
			}
			var args blobmark.ExportDatasetJob
			if len(jobs.Jobs) != 1 || json.Unmarshal(jobs.Jobs[0].EncodedArgs, &args) != nil || args.StorageID != s.ID {
				t.Fatalf("%d dataset jobs, want one for storage %d", len(jobs.Jobs), s.ID)
			}
			if got, _ = db.FindTargetStorageByID(ctx, s.ID); got.Dataset.Status != blobmark.StatusQueued {
				t.Fatalf("dataset state after sync = %+v", got.Dataset)
			}
			done := time.Date(2026, 3, 9, 21, 52, 49, 0, time.UTC)
			st := blobmark.DatasetState{Status: blobmark.StatusCompleted, Format: "YOLO", Key: "out/ds/yolo.zip", Bytes: 42, Blocks: 1, FinishedAt: &done}
			if err := db.SetTargetDatasetState(ctx, s.ID, st); err != nil {
				t.Fatal(err)
			}
			if got, _ = db.FindTargetStorageByID(ctx, s.ID); got.Dataset.Key != st.Key || got.Dataset.Bytes != 42 || !got.Dataset.FinishedAt.Equal(done) {
				t.Fatalf("dataset state = %+v, want %+v", got.Dataset, st)
			}

			// Links by annotation, and of a task file.
			es := db.ExportStore()
			for _, l := range []exporter.ExportLink{
				{StorageID: s.ID, Key: "old", AnnotationID: a.ID, TaskID: a.TaskID, ExportedAt: done},
				{StorageID: s.ID, Key: "new", AnnotationID: a.ID, TaskID: a.TaskID, ExportedAt: done.Add(time.Hour)},
				{StorageID: s.ID, Key: "file", TaskID: a.TaskID, ExportedAt: done},
			} {
				if err := es.RecordExport(ctx, &l); err != nil {
					t.Fatal(err)
				}
			}
			if l, err := es.FindExportLinkOf(ctx, s.ID, a.ID, 0); err != nil || l.Key != "new" {
				t.Errorf("link of annotation %d = %+v, %v; want the latest, new", a.ID, l, err)
			}
			if l, err := es.FindExportLinkOf(ctx, s.ID, 0, a.TaskID); err != nil || l.Key != "file" {
				t.Errorf("link of task %d's file = %+v, %v", a.TaskID, l, err)
			}
			if _, err := es.FindExportLinkOf(ctx, s.ID, a.ID+100, 0); blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
				t.Errorf("link of an annotation never exported: %v, want ENOTFOUND", err)
			}

			// The preview picks the annotated task, whose data has no blob
			// reference; the first task has one.
			pv, err := db.PreviewTargetKeys(ctx, got, 0)
			if err != nil {
				t.Fatal(err)
			}
			if pv.TaskID != a.TaskID || pv.AnnotationID != a.ID || pv.ObjectKey != "" || !strings.Contains(pv.ObjectKeyError, "{source_key}") ||
				pv.DatasetKey != "out/ds/yolo.zip" {
				t.Errorf("preview = %+v", pv)
			}
			if pv, err = db.PreviewTargetKeys(ctx, got, res.TaskIDs[0]); err != nil || pv.ObjectKey != "out/one/0.json" {
				t.Errorf("preview on task %d = %+v, %v", res.TaskIDs[0], pv, err)
			}
			if _, err = db.PreviewTargetKeys(ctx, got, 999999); blobmark.ErrorCode(err) != blobmark.EINVALID {
				t.Errorf("preview on another project's task: %v, want EINVALID", err)
			}
		})
	}
}
