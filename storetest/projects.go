package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

func testProjects(t *testing.T, open Open) {
	t.Run("CRUD", func(t *testing.T) {
		s := open(t)
		ctx, u := asUser(t, s, "owner@example.com")
		p := &blobmark.Project{Title: "Cats", Description: "find cats", LabelConfig: "<View/>", ShowSkipButton: true, IsPublished: true}
		must(t, s.CreateProject(ctx, p))
		if p.ID == 0 || p.CreatedBy != u.ID || p.CreatedAt.IsZero() || p.MaximumAnnotations != 1 || p.Color == "" {
			t.Fatalf("created project = %+v", p)
		}
		got, err := s.FindProjectByID(ctx, p.ID)
		must(t, err)
		if got.Title != "Cats" || got.Description != "find cats" || got.LabelConfig != "<View/>" || !got.ShowSkipButton ||
			got.ShowInstruction || !got.IsPublished || got.CreatedBy != u.ID || !got.CreatedAt.Equal(p.CreatedAt) {
			t.Fatalf("FindProjectByID = %+v, want %+v", got, p)
		}

		title, maxAnn, show := "Dogs", 3, true
		upd, err := s.UpdateProject(ctx, p.ID, blobmark.ProjectUpdate{Title: &title, MaximumAnnotations: &maxAnn, ShowInstruction: &show})
		must(t, err)
		if upd.Title != "Dogs" || upd.MaximumAnnotations != 3 || !upd.ShowInstruction || upd.Description != "find cats" {
			t.Fatalf("UpdateProject = %+v", upd)
		}
		got, err = s.FindProjectByID(ctx, p.ID)
		must(t, err)
		if got.Title != "Dogs" || got.MaximumAnnotations != 3 || !got.ShowInstruction {
			t.Fatalf("after update, FindProjectByID = %+v", got)
		}

		_, err = s.UpdateProject(ctx, p.ID+1000, blobmark.ProjectUpdate{Title: &title})
		wantCode(t, err, blobmark.ENOTFOUND)
		_, err = s.FindProjectByID(ctx, p.ID+1000)
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("Validation", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		long := strings.Repeat("é", 51)
		err := s.CreateProject(ctx, &blobmark.Project{Title: long})
		wantCode(t, err, blobmark.EINVALID)
		p := newProject(t, ctx, s, strings.Repeat("é", 50))
		_, err = s.UpdateProject(ctx, p.ID, blobmark.ProjectUpdate{Title: &long})
		wantCode(t, err, blobmark.EINVALID)
		zero := 0
		_, err = s.UpdateProject(ctx, p.ID, blobmark.ProjectUpdate{MaximumAnnotations: &zero})
		wantCode(t, err, blobmark.EINVALID)
		got, err := s.FindProjectByID(ctx, p.ID)
		must(t, err)
		if got.Title != p.Title || got.MaximumAnnotations != 1 {
			t.Fatalf("a rejected update changed the project: %+v", got)
		}
	})

	t.Run("PaginationNewestFirst", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		var ids []int64
		for i := range 7 {
			ids = append(ids, newProject(t, ctx, s, fmt.Sprintf("project %d", i)).ID)
		}
		seen := map[int64]bool{}
		var order []int64
		for offset := 0; offset < 9; offset += 3 {
			page, total, err := s.FindProjects(ctx, blobmark.Page{Offset: offset, Limit: 3})
			must(t, err)
			if total != 7 {
				t.Fatalf("total = %d, want 7", total)
			}
			if want := min(3, 7-offset); len(page) != want {
				t.Fatalf("page at %d has %d projects, want %d", offset, len(page), want)
			}
			for _, p := range page {
				if seen[p.ID] {
					t.Fatalf("project %d on two pages", p.ID)
				}
				seen[p.ID] = true
				order = append(order, p.ID)
			}
		}
		for i, id := range order {
			if id != ids[len(ids)-1-i] {
				t.Fatalf("order = %v, want newest first of %v", order, ids)
			}
		}
		all, total, err := s.FindProjects(ctx, blobmark.Page{})
		must(t, err)
		if len(all) != 7 || total != 7 {
			t.Fatalf("default page: %d projects, total %d", len(all), total)
		}
		beyond, total, err := s.FindProjects(ctx, blobmark.Page{Offset: 100, Limit: 10})
		must(t, err)
		if len(beyond) != 0 || total != 7 {
			t.Fatalf("page past the end: %d projects, total %d", len(beyond), total)
		}
	})

	t.Run("SoftDeleteHidesAtOnce", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		keep := newProject(t, ctx, s, "keep")
		gone := newProject(t, ctx, s, "gone")
		res, err := s.ImportTasks(ctx, gone.ID, tasksOf(3))
		must(t, err)
		must(t, s.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: res.TaskIDs[0]}))
		anns, err := s.FindAnnotations(ctx, res.TaskIDs[0])
		must(t, err)

		must(t, s.DeleteProject(ctx, gone.ID))
		_, err = s.FindProjectByID(ctx, gone.ID)
		wantCode(t, err, blobmark.ENOTFOUND)
		list, total, err := s.FindProjects(ctx, blobmark.Page{})
		must(t, err)
		if total != 1 || len(list) != 1 || list[0].ID != keep.ID {
			t.Fatalf("after delete, FindProjects = %d projects (total %d)", len(list), total)
		}
		_, err = s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: gone.ID})
		wantCode(t, err, blobmark.ENOTFOUND)
		_, err = s.FindTaskByID(ctx, res.TaskIDs[1])
		wantCode(t, err, blobmark.ENOTFOUND)
		_, err = s.FindAnnotationByID(ctx, anns[0].ID)
		wantCode(t, err, blobmark.ENOTFOUND)
		_, err = s.FindAnnotations(ctx, res.TaskIDs[0])
		wantCode(t, err, blobmark.ENOTFOUND)
		err = s.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: res.TaskIDs[1]})
		wantCode(t, err, blobmark.ENOTFOUND)
		_, err = s.ImportTasks(ctx, gone.ID, tasksOf(1))
		wantCode(t, err, blobmark.ENOTFOUND)
		title := "back"
		_, err = s.UpdateProject(ctx, gone.ID, blobmark.ProjectUpdate{Title: &title})
		wantCode(t, err, blobmark.ENOTFOUND)
		wantCode(t, s.DeleteTask(ctx, res.TaskIDs[2]), blobmark.ENOTFOUND)
		wantCode(t, s.DeleteAnnotation(ctx, anns[0].ID), blobmark.ENOTFOUND)
		wantCode(t, s.DeleteProject(ctx, gone.ID), blobmark.ENOTFOUND)
		wantCode(t, s.DeleteProject(ctx, gone.ID+1000), blobmark.ENOTFOUND)
	})

	t.Run("Counters", func(t *testing.T) {
		s := open(t)
		ctx, _ := asUser(t, s, "annotator@example.com")
		p := newProject(t, ctx, s, "counted")
		score := 0.5
		res, err := s.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
			{Data: []byte(`{"i":0}`), Annotations: []*blobmark.Annotation{{}, {WasCancelled: true}}, Predictions: []*blobmark.Prediction{{Score: &score}}},
			{Data: []byte(`{"i":1}`), Predictions: []*blobmark.Prediction{{}, {}}},
			{Data: []byte(`{"i":2}`)},
		})
		must(t, err)
		want := func(tasks, anns, preds, withAnns int) {
			t.Helper()
			got, err := s.FindProjectByID(ctx, p.ID)
			must(t, err)
			if got.TaskNumber != tasks || got.TotalAnnotationsNumber != anns || got.TotalPredictionsNumber != preds || got.NumTasksWithAnnotations != withAnns {
				t.Fatalf("counters = tasks %d, annotations %d, predictions %d, with annotations %d; want %d %d %d %d",
					got.TaskNumber, got.TotalAnnotationsNumber, got.TotalPredictionsNumber, got.NumTasksWithAnnotations, tasks, anns, preds, withAnns)
			}
			list, _, err := s.FindProjects(ctx, blobmark.Page{})
			must(t, err)
			if list[0].TaskNumber != tasks || list[0].TotalAnnotationsNumber != anns || list[0].NumTasksWithAnnotations != withAnns {
				t.Fatalf("FindProjects counters = %+v", list[0])
			}
		}
		want(3, 1, 3, 1)
		a := &blobmark.Annotation{TaskID: res.TaskIDs[2]}
		must(t, s.CreateAnnotation(ctx, a))
		want(3, 2, 3, 2)
		cancel := true
		_, err = s.UpdateAnnotation(ctx, a.ID, blobmark.AnnotationUpdate{WasCancelled: &cancel})
		must(t, err)
		want(3, 1, 3, 1)
		must(t, s.DeleteAnnotation(ctx, a.ID))
		want(3, 1, 3, 1)
		must(t, s.DeleteTask(ctx, res.TaskIDs[0]))
		want(2, 0, 2, 0)
		_, err = s.ImportTasks(ctx, p.ID, tasksOf(4))
		must(t, err)
		want(6, 0, 2, 0)
	})
}
