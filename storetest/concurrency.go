package storetest

import (
	"sync"
	"testing"

	"github.com/blobmark/blobmark"
)

func testConcurrency(t *testing.T, open Open) {
	t.Run("ImportsIntoOneProject", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		p := newProject(t, ctx, s, "concurrent")
		const writers, imports, size = 4, 5, 20
		var wg sync.WaitGroup
		errs := make(chan error, writers*imports)
		for range writers {
			wg.Go(func() {
				for range imports {
					if _, err := s.ImportTasks(ctx, p.ID, tasksOf(size)); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent import: %v", err)
		}
		list, err := s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID, Page: blobmark.Page{Limit: writers * imports * size}})
		must(t, err)
		if list.Total != writers*imports*size || len(list.Tasks) != list.Total {
			t.Fatalf("total %d, %d tasks listed, want %d", list.Total, len(list.Tasks), writers*imports*size)
		}
		seen := map[int64]bool{}
		for _, task := range list.Tasks {
			if task.InnerID < 1 || task.InnerID > int64(list.Total) || seen[task.InnerID] {
				t.Fatalf("inner id %d out of range or repeated", task.InnerID)
			}
			seen[task.InnerID] = true
		}
	})

	t.Run("AnnotationsOnOneTask", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		p := newProject(t, ctx, s, "concurrent")
		res, err := s.ImportTasks(ctx, p.ID, tasksOf(1))
		must(t, err)
		const writers, each = 6, 4
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for range each {
					a := &blobmark.Annotation{TaskID: res.TaskIDs[0], WasCancelled: w%3 == 0}
					if err := s.CreateAnnotation(ctx, a); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent annotation: %v", err)
		}
		task, err := s.FindTaskByID(ctx, res.TaskIDs[0])
		must(t, err)
		cancelled := 2 * each // writers 0 and 3
		if task.TotalAnnotations != writers*each-cancelled || task.CancelledAnnotations != cancelled || !task.IsLabeled {
			t.Fatalf("task counters after concurrent writes: %+v", task)
		}
		got, err := s.FindProjectByID(ctx, p.ID)
		must(t, err)
		if got.TotalAnnotationsNumber != writers*each-cancelled || got.NumTasksWithAnnotations != 1 {
			t.Fatalf("project counters after concurrent writes: %+v", got)
		}
	})
}
