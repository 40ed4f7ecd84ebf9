package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/internal/pgtest"
)

// TestDataManagerQueriesReadIndexes checks, from each database's own query
// plan, that the Data Manager's filtered totals and sorted pages read an
// index: on a data field once its index is built (including a key that
// needs quoting), and on the annotation counters always. A query spelled
// differently from its index (a bound key, a typed expression) plans a scan
// of the tasks and fails this test. PostgreSQL is told not to scan the
// table when it can avoid it, as it would rightly prefer for a handful of
// rows. The first project has a few hundred tasks, so that the kept
// values of its data fields are counted from their index (migration 00019)
// rather than by whichever index is first among equals for none.
func TestDataManagerQueriesReadIndexes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"sqlite", func(t *testing.T) Config { return Config{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) Config { return Config{DatabaseURL: pgtest.Schema(t, "plans")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, tc.cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// No keys: those of every live project's saved views, here
			// the two keys of one view; a deleted project's views add none.
			for i, data := range []string{
				`{"ordering":["-tasks:data.it's"],"filters":{"items":[{"filter":"filter:tasks:data.score","operator":"greater","type":"Number","value":1}]}}`,
				`{"ordering":["tasks:data.gone"]}`,
			} {
				p := &blobmark.Project{Title: "p"}
				if err := db.CreateProject(ctx, p); err != nil {
					t.Fatal(err)
				}
				if err := db.CreateView(ctx, &blobmark.View{ProjectID: p.ID, Data: []byte(data)}); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					tasks := make([]*blobmark.TaskImport, 500)
					for n := range tasks {
						tasks[n] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"score":%d,"it's":%d}`, n, n%7))}
					}
					if _, err := db.ImportTasks(ctx, p.ID, tasks); err != nil {
						t.Fatal(err)
					}
				}
				if i == 1 {
					if err := db.DeleteProject(ctx, p.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := db.IndexDataFields(ctx, nil); err != nil {
				t.Fatal(err)
			}
			keys := []string{"score", "it's"}
			have, err := db.dataIndexes(ctx)
			if err != nil || len(have) != 2 || !have[dataIndexName("score")] || !have[dataIndexName("it's")] {
				t.Fatalf("data indexes = %v, %v; want both keys' indexes, valid", have, err)
			}
			// Building again is a no-op; keys past the bound stay unindexed.
			for i := range MaxDataIndexes {
				keys = append(keys, fmt.Sprintf("k%d", i))
			}
			if err := db.IndexDataFields(ctx, keys); err != nil {
				t.Fatal(err)
			}
			if have, err = db.dataIndexes(ctx); err != nil || len(have) != MaxDataIndexes || have[dataIndexName("k30")] || !have[dataIndexName("k29")] {
				t.Fatalf("%d data indexes, k29 %v, k30 %v (%v); want %d, the first keys'", len(have), have[dataIndexName("k29")], have[dataIndexName("k30")], err, MaxDataIndexes)
			}

			plan := func(query string, args ...any) string {
				conn, err := db.read.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				explain := "EXPLAIN QUERY PLAN "
				if db.dialect == Postgres {
					explain = "EXPLAIN "
					if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
						t.Fatal(err)
					}
					defer conn.ExecContext(ctx, "RESET enable_seqscan")
				}
				rows, err := conn.QueryContext(ctx, explain+db.rebind(query), args...)
				if err != nil {
					t.Fatalf("%s: %v", query, err)
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				var lines []string
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					if s, ok := vals[len(vals)-1].(string); ok {
						lines = append(lines, s)
					}
				}
				return strings.Join(lines, "\n")
			}
			// What a total reads on PostgreSQL, where it differs from the
			// page's: a data field's kept values, counted from the index
			// alone, or the counts of each combination of counters.
			fieldValues := "Index Only Scan using task_field_values_totals"
			counts := " on task_counts c"
			for _, c := range []struct {
				name, query, index, pgTotal string
			}{
				{"number range on a data field", `{"filters":{"items":[{"filter":"filter:tasks:data.score","operator":"greater","type":"Number","value":900}]},"ordering":["-tasks:data.score"]}`,
					dataIndexName("score"), fieldValues},
				{"a key that needs quoting", `{"filters":{"items":[{"filter":"filter:tasks:data.it's","operator":"in","type":"Number","value":{"min":1,"max":2}}]},"ordering":["-tasks:data.it's"]}`,
					dataIndexName("it's"), fieldValues},
				{"a data field and the counters", `{"filters":{"conjunction":"and","items":[{"filter":"filter:tasks:data.score","operator":"less","type":"Number","value":9},{"filter":"filter:tasks:total_predictions","operator":"equal","type":"Number","value":0}]},"ordering":["-tasks:data.score"]}`,
					dataIndexName("score"), fieldValues},
				{"annotation counts", `{"filters":{"items":[{"filter":"filter:tasks:total_annotations","operator":"greater_or_equal","type":"Number","value":1}]},"ordering":["-tasks:total_annotations"]}`,
					"tasks_project_total_annotations", counts},
				{"no annotations", `{"filters":{"items":[{"filter":"filter:tasks:total_annotations","operator":"equal","type":"Number","value":0}]}}`,
					"tasks_project_total_annotations", counts},
			} {
				q, err := blobmark.ParseTaskQuery("query", []byte(c.query))
				if err != nil {
					t.Fatal(err)
				}
				where, order, err := db.dialect.compileQuery(q)
				if err != nil {
					t.Fatal(err)
				}
				args := append([]any{int64(1)}, where.args...)
				countSQL, err := db.countTasksSQL(ctx, q, where)
				if err != nil {
					t.Fatal(err)
				}
				count := plan(countSQL, args...)
				page := plan(pageTasksSQL(where, order), append(args, 100, 0)...)
				want := "COVERING INDEX " + c.index
				if db.dialect == Postgres {
					want = c.pgTotal
				}
				if !strings.Contains(count, want) {
					t.Errorf("%s: the total's plan does not read %s:\n%s", c.name, want, count)
				}
				if !strings.Contains(page, c.index) || strings.Contains(page, "TEMP B-TREE") || strings.Contains(page, "Sort") {
					t.Errorf("%s: the page's plan does not read %s in order:\n%s", c.name, c.index, page)
				}
			}
		})
	}
}

// TestFieldValuesStayExactUnderConcurrentWrites fills in a data field's
// kept values (PostgreSQL) while tasks are imported, their data rewritten
// and annotated concurrently, and then wants every task's kept value and
// counters equal to the task's own, and a filtered total equal to the same
// total counted over the tasks: the fill, the triggers and the wait for
// open transactions leave no task behind or stale.
func TestFieldValuesStayExactUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Config{DatabaseURL: pgtest.Schema(t, "fieldvalues")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	owner, _, err := db.CreateUser(ctx, "owner@example.com", "password-123")
	if err != nil {
		t.Fatal(err)
	}
	p := &blobmark.Project{Title: "p"}
	if err := db.CreateProject(blobmark.NewContextWithUser(ctx, owner), p); err != nil {
		t.Fatal(err)
	}
	batch := func(n, from int) []*blobmark.TaskImport {
		tasks := make([]*blobmark.TaskImport, n)
		for i := range tasks {
			tasks[i] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"score":%d}`, (from+i)%100))}
		}
		return tasks
	}
	res, err := db.ImportTasks(ctx, p.ID, batch(3*fieldValuesBatch/2, 0))
	if err != nil {
		t.Fatal(err)
	}
	ids := res.TaskIDs

	// Writers run until the fill is over, and a little after.
	done := make(chan struct{})
	errs := make(chan error, 3)
	writer := func(w int, write func(i int) error) {
		var err error
		for i := 0; err == nil; i++ {
			select {
			case <-done:
				if i > 0 {
					errs <- nil
					return
				}
			default:
			}
			err = write(i)
		}
		errs <- fmt.Errorf("writer %d: %w", w, err)
	}
	go writer(0, func(i int) error {
		_, err := db.ImportTasks(ctx, p.ID, batch(50, i))
		return err
	})
	go writer(1, func(i int) error {
		_, err := db.UpdateTask(ctx, ids[(i*7919)%len(ids)], blobmark.TaskUpdate{Data: json.RawMessage(fmt.Sprintf(`{"score":%d}`, 100+i%50))})
		return err
	})
	go writer(2, func(i int) error {
		return db.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: ids[(i*104729)%len(ids)], CompletedBy: owner.ID, Result: json.RawMessage(`[]`)})
	})
	err = db.IndexDataFields(ctx, []string{"score"})
	close(done)
	for range 3 {
		if werr := <-errs; werr != nil {
			t.Error(werr)
		}
	}
	if err != nil {
		t.Fatal(err)
	}

	var stale, tasks int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE f.task_id IS NULL OR f.value IS DISTINCT FROM (t.data::jsonb -> 'score')
			OR f.total_annotations <> t.total_annotations OR f.total_predictions <> t.total_predictions), COUNT(*)
		FROM tasks t LEFT JOIN task_field_values f ON f.task_id = t.id
			AND f.field_id = (SELECT id FROM data_fields WHERE key = 'score' AND ready)`).Scan(&stale, &tasks); err != nil {
		t.Fatal(err)
	}
	if stale != 0 || tasks <= len(ids) {
		t.Errorf("%d of %d tasks have no kept value or a stale one; want 0 of more than %d", stale, tasks, len(ids))
	}
	q, err := blobmark.ParseTaskQuery("query", []byte(`{"filters":{"items":[{"filter":"filter:tasks:data.score","operator":"greater","type":"Number","value":90}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	list, err := db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID, Query: q, Page: blobmark.Page{Limit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var want blobmark.TaskList
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*), SUM(total_annotations), SUM(total_predictions) FROM tasks
		WHERE project_id = $1 AND jsonb_typeof(data::jsonb -> 'score') = 'number' AND (data::jsonb ->> 'score')::float > 90`, p.ID).
		Scan(&want.Total, &want.TotalAnnotations, &want.TotalPredictions); err != nil {
		t.Fatal(err)
	}
	if list.Total != want.Total || list.TotalAnnotations != want.TotalAnnotations || list.TotalPredictions != want.TotalPredictions || want.Total == 0 {
		t.Errorf("filtered totals %d/%d/%d, counted over the tasks %d/%d/%d", list.Total, list.TotalAnnotations, list.TotalPredictions,
			want.Total, want.TotalAnnotations, want.TotalPredictions)
	}
}

// TestTaskCountsStayExact writes tasks every way the store does (imports,
// annotations and cancelled ones from several annotators at once, their
// deletion, predictions, bulk actions, a task's deletion, a project's
// purge) and then wants the counts of each combination of counters kept
// on PostgreSQL (migration 00021) equal to the tasks' own, and a total
// over them equal to the same total counted over the tasks.
func TestTaskCountsStayExact(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Config{DatabaseURL: pgtest.Schema(t, "taskcounts")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var projects []*blobmark.Project
	var ids []int64
	for range 2 {
		p := &blobmark.Project{Title: "p"}
		if err := db.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		tasks := make([]*blobmark.TaskImport, 300)
		for i := range tasks {
			tasks[i] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		}
		res, err := db.ImportTasks(ctx, p.ID, tasks)
		if err != nil {
			t.Fatal(err)
		}
		projects, ids = append(projects, p), res.TaskIDs
	}
	var users []*blobmark.User
	for i := range 4 {
		u, _, err := db.CreateUser(ctx, fmt.Sprintf("a%d@example.com", i), "password-123")
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	// Four annotators at once on the second project, each on a stride of
	// its tasks, every third annotation cancelled and every fifth deleted.
	errs := make(chan error, len(users))
	for w, u := range users {
		go func() {
			for i := range 60 {
				a := &blobmark.Annotation{TaskID: ids[(w*61+i*7)%len(ids)], CompletedBy: u.ID, Result: json.RawMessage(`[]`), WasCancelled: i%3 == 0}
				if err := db.CreateAnnotation(ctx, a); err != nil {
					errs <- err
					return
				}
				if i%5 == 0 {
					if err := db.DeleteAnnotation(ctx, a.ID); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range users {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	p := projects[1]
	preds := make([]*blobmark.Prediction, 40)
	for i := range preds {
		preds[i] = &blobmark.Prediction{TaskID: ids[i*3], Result: json.RawMessage(`[]`)}
	}
	if err := db.CreatePredictions(ctx, p.ID, preds); err != nil {
		t.Fatal(err)
	}
	if err := db.DeletePrediction(ctx, preds[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteTask(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	for action, query := range map[string]string{
		blobmark.ActionDeleteTasks:            `{"selectedItems":{"all":true},"filters":{"items":[{"filter":"filter:tasks:id","operator":"less","type":"Number","value":` + fmt.Sprint(ids[20]) + `}]}}`,
		blobmark.ActionDeleteTasksAnnotations: `{"selectedItems":{"all":true},"filters":{"items":[{"filter":"filter:tasks:id","operator":"greater","type":"Number","value":` + fmt.Sprint(ids[250]) + `}]}}`,
	} {
		q, err := blobmark.ParseTaskQuery("query", []byte(query))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := db.RunTaskAction(ctx, p.ID, action, q); err != nil || n == 0 {
			t.Fatalf("%s: %d tasks, %v", action, n, err)
		}
	}
	if err := db.DeleteProject(ctx, projects[0].ID); err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		if done, err = db.PurgeProject(ctx, projects[0].ID, 100); err != nil {
			t.Fatal(err)
		}
	}

	var stale, combinations int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE c.n IS DISTINCT FROM t.n), COUNT(*) FROM
		(SELECT project_id, is_labeled, total_annotations, cancelled_annotations, total_predictions, SUM(tasks) AS n
			FROM task_counts GROUP BY 1, 2, 3, 4, 5 HAVING SUM(tasks) <> 0) c
		FULL JOIN (SELECT project_id, is_labeled, total_annotations, cancelled_annotations, total_predictions, COUNT(*) AS n
			FROM tasks GROUP BY 1, 2, 3, 4, 5) t
		USING (project_id, is_labeled, total_annotations, cancelled_annotations, total_predictions)`).Scan(&stale, &combinations); err != nil {
		t.Fatal(err)
	}
	if stale != 0 || combinations < 6 {
		t.Errorf("%d of %d combinations of counters counted wrong; want 0 of at least 6", stale, combinations)
	}
	var left int
	if err := db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM task_counts WHERE project_id = $1", projects[0].ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("the purged project has %d counts left (%v)", left, err)
	}
	for _, filter := range []string{
		`{"filter":"filter:tasks:total_annotations","operator":"equal","type":"Number","value":0}`,
		`{"filter":"filter:tasks:cancelled_annotations","operator":"greater","type":"Number","value":0}`,
		`{"filter":"filter:tasks:is_labeled","operator":"equal","type":"Boolean","value":true}`,
		`{"filter":"filter:tasks:completed_at","operator":"empty","type":"Datetime","value":false}`,
	} {
		q, err := blobmark.ParseTaskQuery("query", []byte(`{"filters":{"items":[`+filter+`]}}`))
		if err != nil {
			t.Fatal(err)
		}
		list, err := db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID, Query: q, Page: blobmark.Page{Limit: 1000}})
		if err != nil {
			t.Fatal(err)
		}
		var annotations, predictions int
		for _, task := range list.Tasks {
			annotations += task.TotalAnnotations
			predictions += task.TotalPredictions
		}
		if list.Total != len(list.Tasks) || list.TotalAnnotations != annotations || list.TotalPredictions != predictions || list.Total == 0 {
			t.Errorf("%s: totals %d/%d/%d, the listed tasks %d/%d/%d", filter, list.Total, list.TotalAnnotations, list.TotalPredictions,
				len(list.Tasks), annotations, predictions)
		}
	}
}
