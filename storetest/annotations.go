package storetest

import (
	"encoding/json"
	"testing"

	"github.com/blobmark/blobmark"
)

func testAnnotations(t *testing.T, open Open) {
	t.Run("CRUD", func(t *testing.T) {
		s := open(t)
		ctx, u := asUser(t, s, "annotator@example.com")
		p := newProject(t, ctx, s, "annotate")
		res, err := s.ImportTasks(ctx, p.ID, tasksOf(1))
		must(t, err)
		taskID := res.TaskIDs[0]
		a := &blobmark.Annotation{TaskID: taskID, Result: json.RawMessage(`[{"value":{"choices":["dog"]}}]`), LeadTime: 2.25}
		must(t, s.CreateAnnotation(ctx, a))
		if a.ID == 0 || a.ProjectID != p.ID || a.CompletedBy != u.ID || a.CreatedAt.IsZero() {
			t.Fatalf("created annotation = %+v", a)
		}
		got, err := s.FindAnnotationByID(ctx, a.ID)
		must(t, err)
		jsonEqual(t, got.Result, `[{"value":{"choices":["dog"]}}]`)
		if got.TaskID != taskID || got.ProjectID != p.ID || got.LeadTime != 2.25 || got.CompletedBy != u.ID ||
			got.WasCancelled || got.GroundTruth || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Fatalf("FindAnnotationByID = %+v", got)
		}
		gt, lead := true, 3.5
		upd, err := s.UpdateAnnotation(ctx, a.ID, blobmark.AnnotationUpdate{Result: json.RawMessage(`[]`), GroundTruth: &gt, LeadTime: &lead})
		must(t, err)
		jsonEqual(t, upd.Result, `[]`)
		if !upd.GroundTruth || upd.LeadTime != 3.5 || upd.CompletedBy != u.ID {
			t.Fatalf("UpdateAnnotation = %+v", upd)
		}
		got, err = s.FindAnnotationByID(ctx, a.ID)
		must(t, err)
		if !got.GroundTruth || got.LeadTime != 3.5 {
			t.Fatalf("after update, FindAnnotationByID = %+v", got)
		}
		must(t, s.DeleteAnnotation(ctx, a.ID))
		_, err = s.FindAnnotationByID(ctx, a.ID)
		wantCode(t, err, blobmark.ENOTFOUND)
		wantCode(t, s.DeleteAnnotation(ctx, a.ID), blobmark.ENOTFOUND)
		_, err = s.UpdateAnnotation(ctx, a.ID, blobmark.AnnotationUpdate{GroundTruth: &gt})
		wantCode(t, err, blobmark.ENOTFOUND)
		wantCode(t, s.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: taskID + 1000}), blobmark.ENOTFOUND)
		_, err = s.FindAnnotations(ctx, taskID+1000)
		wantCode(t, err, blobmark.ENOTFOUND)
		wantCode(t, s.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: taskID, Result: json.RawMessage(`{oops`)}), blobmark.EINVALID)
		_, err = s.UpdateAnnotation(ctx, a.ID, blobmark.AnnotationUpdate{Result: json.RawMessage(`[`)})
		wantCode(t, err, blobmark.EINVALID)
	})

	t.Run("TaskCountersAndIsLabeled", func(t *testing.T) {
		s := open(t)
		ctx, _ := asUser(t, s, "annotator@example.com")
		p := newProject(t, ctx, s, "counters")
		two := 2
		_, err := s.UpdateProject(ctx, p.ID, blobmark.ProjectUpdate{MaximumAnnotations: &two})
		must(t, err)
		res, err := s.ImportTasks(ctx, p.ID, tasksOf(1))
		must(t, err)
		taskID := res.TaskIDs[0]
		want := func(total, cancelled int, labeled bool) {
			t.Helper()
			task, err := s.FindTaskByID(ctx, taskID)
			must(t, err)
			if task.TotalAnnotations != total || task.CancelledAnnotations != cancelled || task.IsLabeled != labeled {
				t.Fatalf("task counters = total %d, cancelled %d, labeled %v; want %d, %d, %v",
					task.TotalAnnotations, task.CancelledAnnotations, task.IsLabeled, total, cancelled, labeled)
			}
		}
		want(0, 0, false)
		first := &blobmark.Annotation{TaskID: taskID}
		must(t, s.CreateAnnotation(ctx, first))
		want(1, 0, false) // one of two wanted
		skipped := &blobmark.Annotation{TaskID: taskID, WasCancelled: true}
		must(t, s.CreateAnnotation(ctx, skipped))
		want(1, 1, false) // a cancelled annotation does not label
		second := &blobmark.Annotation{TaskID: taskID}
		must(t, s.CreateAnnotation(ctx, second))
		want(2, 1, true)

		cancel, uncancel := true, false
		_, err = s.UpdateAnnotation(ctx, second.ID, blobmark.AnnotationUpdate{WasCancelled: &cancel})
		must(t, err)
		want(1, 2, false)
		_, err = s.UpdateAnnotation(ctx, skipped.ID, blobmark.AnnotationUpdate{WasCancelled: &uncancel})
		must(t, err)
		want(2, 1, true)
		_, err = s.UpdateAnnotation(ctx, skipped.ID, blobmark.AnnotationUpdate{WasCancelled: &uncancel})
		must(t, err)
		want(2, 1, true) // setting the same value moves nothing

		// Lowering maximum_annotations relabels existing tasks at once.
		one := 1
		must(t, s.DeleteAnnotation(ctx, first.ID))
		want(1, 1, false)
		_, err = s.UpdateProject(ctx, p.ID, blobmark.ProjectUpdate{MaximumAnnotations: &one})
		must(t, err)
		want(1, 1, true)
		_, err = s.UpdateProject(ctx, p.ID, blobmark.ProjectUpdate{MaximumAnnotations: &two})
		must(t, err)
		want(1, 1, false)

		must(t, s.DeleteAnnotation(ctx, second.ID))
		want(1, 0, false)
		must(t, s.DeleteAnnotation(ctx, skipped.ID))
		want(0, 0, false)
		anns, err := s.FindAnnotations(ctx, taskID)
		must(t, err)
		if len(anns) != 0 {
			t.Fatalf("%d annotations left", len(anns))
		}
	})

	t.Run("ImportedAnnotationsLabelByMaximum", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		p := newProject(t, ctx, s, "imported")
		three := 3
		_, err := s.UpdateProject(ctx, p.ID, blobmark.ProjectUpdate{MaximumAnnotations: &three})
		must(t, err)
		res, err := s.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
			{Data: json.RawMessage(`{"i":0}`), Annotations: []*blobmark.Annotation{{}, {}, {}}},
			{Data: json.RawMessage(`{"i":1}`), Annotations: []*blobmark.Annotation{{}, {}, {WasCancelled: true}}},
		})
		must(t, err)
		full, err := s.FindTaskByID(ctx, res.TaskIDs[0])
		must(t, err)
		short, err := s.FindTaskByID(ctx, res.TaskIDs[1])
		must(t, err)
		if !full.IsLabeled || full.TotalAnnotations != 3 || short.IsLabeled || short.TotalAnnotations != 2 || short.CancelledAnnotations != 1 {
			t.Fatalf("imported tasks: %+v / %+v", full, short)
		}
	})
}
