package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

func testTasks(t *testing.T, open Open) {
	t.Run("ImportWithAnnotationsAndPredictions", func(t *testing.T) {
		s := open(t)
		ctx, u := asUser(t, s, "importer@example.com")
		p := newProject(t, ctx, s, "import")
		score := 0.87
		res, err := s.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
			{
				Data: json.RawMessage(`{"image": "azure-blob://c/a.jpg", "n": [1, 2]}`),
				Meta: json.RawMessage(`{"source": "test"}`),
				Annotations: []*blobmark.Annotation{
					{Result: json.RawMessage(`[{"type":"choices","value":{"choices":["cat"]}}]`), LeadTime: 1.5, GroundTruth: true},
					{WasCancelled: true},
				},
				Predictions: []*blobmark.Prediction{{Result: json.RawMessage(`[{"type":"choices"}]`), Score: &score, ModelVersion: "v1"}},
			},
			{Data: json.RawMessage(`{"image": "azure-blob://c/b.jpg"}`)},
		})
		must(t, err)
		if res.TaskCount != 2 || res.AnnotationCount != 2 || res.PredictionCount != 1 || len(res.TaskIDs) != 2 {
			t.Fatalf("ImportResult = %+v", res)
		}
		first, err := s.FindTaskByID(ctx, res.TaskIDs[0])
		must(t, err)
		jsonEqual(t, first.Data, `{"image": "azure-blob://c/a.jpg", "n": [1, 2]}`)
		jsonEqual(t, first.Meta, `{"source": "test"}`)
		if first.ProjectID != p.ID || first.InnerID != 1 || first.TotalAnnotations != 1 || first.CancelledAnnotations != 1 ||
			first.TotalPredictions != 1 || !first.IsLabeled || first.CreatedAt.IsZero() {
			t.Fatalf("first task = %+v", first)
		}
		second, err := s.FindTaskByID(ctx, res.TaskIDs[1])
		must(t, err)
		jsonEqual(t, second.Meta, `{}`)
		if second.InnerID != 2 || second.IsLabeled || second.TotalAnnotations != 0 || second.TotalPredictions != 0 {
			t.Fatalf("second task = %+v", second)
		}
		anns, err := s.FindAnnotations(ctx, first.ID)
		must(t, err)
		if len(anns) != 2 {
			t.Fatalf("%d annotations, want 2", len(anns))
		}
		a := anns[0]
		jsonEqual(t, a.Result, `[{"type":"choices","value":{"choices":["cat"]}}]`)
		if a.TaskID != first.ID || a.ProjectID != p.ID || a.LeadTime != 1.5 || !a.GroundTruth || a.WasCancelled || a.CompletedBy != u.ID {
			t.Fatalf("imported annotation = %+v", a)
		}
		if !anns[1].WasCancelled || anns[1].ID <= a.ID {
			t.Fatalf("second annotation = %+v", anns[1])
		}
		jsonEqual(t, anns[1].Result, `[]`)
		empty, err := s.FindAnnotations(ctx, second.ID)
		must(t, err)
		if len(empty) != 0 {
			t.Fatalf("task without annotations has %d", len(empty))
		}
	})

	t.Run("ImportIsAllOrNothing", func(t *testing.T) {
		s := open(t)
		ctx, _ := asUser(t, s, "importer@example.com")
		p := newProject(t, ctx, s, "atomic")
		_, err := s.ImportTasks(ctx, p.ID, tasksOf(2))
		must(t, err)

		// Rejected before the database: one task's data is not an object.
		bad := tasksOf(5)
		bad[3].Data = json.RawMessage(`["not", "an", "object"]`)
		_, err = s.ImportTasks(ctx, p.ID, bad)
		wantCode(t, err, blobmark.EINVALID)
		bad[3].Data = json.RawMessage(`{"broken": `)
		_, err = s.ImportTasks(ctx, p.ID, bad)
		wantCode(t, err, blobmark.EINVALID)
		bad[3].Data = nil
		_, err = s.ImportTasks(ctx, p.ID, bad)
		wantCode(t, err, blobmark.EINVALID)

		// Rejected by the database, after thousands of rows went in: an
		// annotation names a user that does not exist.
		big := tasksOf(2500)
		big[2499].Annotations = []*blobmark.Annotation{{CompletedBy: 987654}}
		_, err = s.ImportTasks(ctx, p.ID, big)
		if err == nil {
			t.Fatal("import with a dangling user id succeeded")
		}

		list, err := s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID})
		must(t, err)
		if list.Total != 2 || len(list.Tasks) != 2 || list.TotalAnnotations != 0 {
			t.Fatalf("after failed imports: total %d, %d tasks, %d annotations", list.Total, len(list.Tasks), list.TotalAnnotations)
		}
		got, err := s.FindProjectByID(ctx, p.ID)
		must(t, err)
		if got.TaskNumber != 2 {
			t.Fatalf("task_number = %d after failed imports", got.TaskNumber)
		}
		res, err := s.ImportTasks(ctx, p.ID, tasksOf(1))
		must(t, err)
		task, err := s.FindTaskByID(ctx, res.TaskIDs[0])
		must(t, err)
		if task.InnerID != 3 {
			t.Fatalf("inner_id after failed imports = %d, want 3", task.InnerID)
		}
		_, err = s.ImportTasks(ctx, p.ID+1000, tasksOf(1))
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("ImportStreamIsAllOrNothing", func(t *testing.T) {
		s := open(t)
		ctx, _ := asUser(t, s, "streamer@example.com")
		p := newProject(t, ctx, s, "stream")
		_, err := s.ImportTasks(ctx, p.ID, tasksOf(2))
		must(t, err)

		// The source fails after several batches have been written: the
		// error comes back as it is, and none of those batches stays.
		boom := errors.New("the client went away")
		yielded := 0
		_, err = s.ImportTaskStream(ctx, p.ID, func(yield func(*blobmark.TaskImport, error) bool) {
			for _, task := range tasksOf(4321) {
				yielded++
				if !yield(task, nil) {
					return
				}
			}
			yield(nil, boom)
		})
		if !errors.Is(err, boom) || yielded != 4321 {
			t.Fatalf("ImportTaskStream after %d tasks = %v, want the source's error after all 4321", yielded, err)
		}
		// A bad task deep in the stream: EINVALID naming it, nothing written.
		bad := tasksOf(3000)
		bad[2718].Data = json.RawMessage(`"not an object"`)
		_, err = s.ImportTaskStream(ctx, p.ID, blobmark.TaskStream(bad))
		wantCode(t, err, blobmark.EINVALID)
		if msg := blobmark.ErrorMessage(err); !strings.Contains(msg, "2718") {
			t.Errorf("message %q does not name task 2718", msg)
		}
		list, err := s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID})
		must(t, err)
		got, err := s.FindProjectByID(ctx, p.ID)
		must(t, err)
		if list.Total != 2 || got.TaskNumber != 2 {
			t.Fatalf("after failed streams: %d tasks listed, task_number %d; want 2", list.Total, got.TaskNumber)
		}

		// Tasks large enough that a batch ends on its bytes, not its count.
		big := make([]*blobmark.TaskImport, 9)
		for i := range big {
			big[i] = &blobmark.TaskImport{
				Data:        json.RawMessage(fmt.Sprintf(`{"i":%d,"text":%q}`, i, strings.Repeat("x", 300<<10))),
				Annotations: []*blobmark.Annotation{{Result: json.RawMessage(fmt.Sprintf(`[{"i":%d}]`, i))}},
			}
		}
		res, err := s.ImportTaskStream(ctx, p.ID, blobmark.TaskStream(big))
		must(t, err)
		if res.TaskCount != 9 || res.AnnotationCount != 9 || len(res.TaskIDs) != 9 {
			t.Fatalf("ImportResult = %d tasks, %d annotations, %d ids; want 9 of each", res.TaskCount, res.AnnotationCount, len(res.TaskIDs))
		}
		for i, id := range res.TaskIDs {
			task, err := s.FindTaskByID(ctx, id)
			must(t, err)
			if task.InnerID != int64(3+i) || task.TotalAnnotations != 1 || !strings.HasPrefix(string(task.Data), fmt.Sprintf(`{"i":%d,`, i)) {
				t.Fatalf("task %d: inner id %d, %d annotations, data %.20s", i, task.InnerID, task.TotalAnnotations, task.Data)
			}
		}
	})

	t.Run("InnerIDSequencePerProject", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		a := newProject(t, ctx, s, "a")
		b := newProject(t, ctx, s, "b")
		var got []int64
		for _, n := range []int{3, 1, 4} {
			res, err := s.ImportTasks(ctx, a.ID, tasksOf(n))
			must(t, err)
			for _, id := range res.TaskIDs {
				task, err := s.FindTaskByID(ctx, id)
				must(t, err)
				got = append(got, task.InnerID)
			}
			resB, err := s.ImportTasks(ctx, b.ID, tasksOf(2))
			must(t, err)
			taskB, err := s.FindTaskByID(ctx, resB.TaskIDs[0])
			must(t, err)
			if taskB.ProjectID != b.ID {
				t.Fatalf("task of b is in project %d", taskB.ProjectID)
			}
		}
		for i, inner := range got {
			if inner != int64(i+1) {
				t.Fatalf("inner ids of a = %v, want 1…8", got)
			}
		}
		listB, err := s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: b.ID})
		must(t, err)
		for i, task := range listB.Tasks {
			if task.InnerID != int64(i+1) {
				t.Fatalf("inner id of b's task %d = %d", i, task.InnerID)
			}
		}
	})

	t.Run("LargeImportAcrossChunks", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		p := newProject(t, ctx, s, "large")
		const n = 3456
		imports := tasksOf(n)
		annotated := 0
		for i, task := range imports {
			if i%7 == 0 {
				task.Annotations = []*blobmark.Annotation{{Result: json.RawMessage(fmt.Sprintf(`[{"i":%d}]`, i))}}
				annotated++
			}
			if i%5 == 0 {
				task.Predictions = []*blobmark.Prediction{{ModelVersion: fmt.Sprint(i)}}
			}
		}
		res, err := s.ImportTasks(ctx, p.ID, imports)
		must(t, err)
		if res.TaskCount != n || res.AnnotationCount != annotated || len(res.TaskIDs) != n {
			t.Fatalf("ImportResult counts = %d tasks, %d annotations, %d ids", res.TaskCount, res.AnnotationCount, len(res.TaskIDs))
		}
		seen := map[int64]bool{}
		for i := 1; i < n; i++ {
			if res.TaskIDs[i] <= res.TaskIDs[i-1] || seen[res.TaskIDs[i]] {
				t.Fatalf("task ids not increasing in import order at %d", i)
			}
			seen[res.TaskIDs[i]] = true
		}
		// Every task's id must match its data: the i-th import is the i-th id.
		for _, i := range []int{0, 1, 999, 1000, 1001, 2222, n - 1} {
			task, err := s.FindTaskByID(ctx, res.TaskIDs[i])
			must(t, err)
			jsonEqual(t, task.Data, fmt.Sprintf(`{"i":%d}`, i))
			if task.InnerID != int64(i+1) || task.TotalAnnotations != boolInt(i%7 == 0) || task.TotalPredictions != boolInt(i%5 == 0) {
				t.Fatalf("task %d = %+v", i, task)
			}
			anns, err := s.FindAnnotations(ctx, task.ID)
			must(t, err)
			if i%7 == 0 {
				jsonEqual(t, anns[0].Result, fmt.Sprintf(`[{"i":%d}]`, i))
			}
		}
		list, err := s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID, Page: blobmark.Page{Limit: 10}})
		must(t, err)
		if list.Total != n || list.TotalAnnotations != annotated || list.TotalPredictions != (n+4)/5 {
			t.Fatalf("totals = %d tasks, %d annotations, %d predictions", list.Total, list.TotalAnnotations, list.TotalPredictions)
		}
	})

	t.Run("PaginationAndTotals", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		p := newProject(t, ctx, s, "pages")
		res, err := s.ImportTasks(ctx, p.ID, tasksOf(25))
		must(t, err)
		var ids []int64
		for offset := 0; offset < 30; offset += 10 {
			list, err := s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID, Page: blobmark.Page{Offset: offset, Limit: 10}})
			must(t, err)
			if list.Total != 25 {
				t.Fatalf("total = %d", list.Total)
			}
			for _, task := range list.Tasks {
				ids = append(ids, task.ID)
			}
		}
		if len(ids) != 25 {
			t.Fatalf("paged through %d tasks, want 25", len(ids))
		}
		for i := range ids {
			if ids[i] != res.TaskIDs[i] {
				t.Fatalf("page order %v, want id order %v", ids, res.TaskIDs)
			}
		}
		other := newProject(t, ctx, s, "empty")
		list, err := s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: other.ID})
		must(t, err)
		if list.Total != 0 || len(list.Tasks) != 0 || list.Tasks == nil {
			t.Fatalf("empty project: %+v", list)
		}
		_, err = s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID + 1000})
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		p := newProject(t, ctx, s, "update")
		res, err := s.ImportTasks(ctx, p.ID, tasksOf(1))
		must(t, err)
		id := res.TaskIDs[0]
		upd, err := s.UpdateTask(ctx, id, blobmark.TaskUpdate{Data: json.RawMessage(`{"text":"new"}`)})
		must(t, err)
		jsonEqual(t, upd.Data, `{"text":"new"}`)
		upd, err = s.UpdateTask(ctx, id, blobmark.TaskUpdate{Meta: json.RawMessage(`{"k":1}`)})
		must(t, err)
		jsonEqual(t, upd.Data, `{"text":"new"}`)
		got, err := s.FindTaskByID(ctx, id)
		must(t, err)
		jsonEqual(t, got.Data, `{"text":"new"}`)
		jsonEqual(t, got.Meta, `{"k":1}`)
		if got.InnerID != 1 || got.UpdatedAt.Before(got.CreatedAt) {
			t.Fatalf("updated task = %+v", got)
		}
		_, err = s.UpdateTask(ctx, id, blobmark.TaskUpdate{Data: json.RawMessage(`[1]`)})
		wantCode(t, err, blobmark.EINVALID)
		_, err = s.UpdateTask(ctx, id+1000, blobmark.TaskUpdate{Data: json.RawMessage(`{}`)})
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("DeleteCascades", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		p := newProject(t, ctx, s, "delete")
		res, err := s.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
			{Data: json.RawMessage(`{"i":0}`), Annotations: []*blobmark.Annotation{{}}, Predictions: []*blobmark.Prediction{{}}},
			{Data: json.RawMessage(`{"i":1}`), Annotations: []*blobmark.Annotation{{}}},
		})
		must(t, err)
		anns, err := s.FindAnnotations(ctx, res.TaskIDs[0])
		must(t, err)
		must(t, s.DeleteTask(ctx, res.TaskIDs[0]))
		_, err = s.FindTaskByID(ctx, res.TaskIDs[0])
		wantCode(t, err, blobmark.ENOTFOUND)
		_, err = s.FindAnnotationByID(ctx, anns[0].ID)
		wantCode(t, err, blobmark.ENOTFOUND)
		_, err = s.FindAnnotations(ctx, res.TaskIDs[0])
		wantCode(t, err, blobmark.ENOTFOUND)
		wantCode(t, s.DeleteTask(ctx, res.TaskIDs[0]), blobmark.ENOTFOUND)
		list, err := s.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID})
		must(t, err)
		if list.Total != 1 || list.TotalAnnotations != 1 || list.TotalPredictions != 0 || list.Tasks[0].ID != res.TaskIDs[1] {
			t.Fatalf("after delete: %+v", list)
		}
		// A new import continues the sequence: inner ids are never reused.
		more, err := s.ImportTasks(ctx, p.ID, tasksOf(1))
		must(t, err)
		task, err := s.FindTaskByID(ctx, more.TaskIDs[0])
		must(t, err)
		if task.InnerID != 3 {
			t.Fatalf("inner id after a delete = %d, want 3", task.InnerID)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
