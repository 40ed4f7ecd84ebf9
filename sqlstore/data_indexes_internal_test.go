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
			// The index a total reads on PostgreSQL, where it differs from
			// the page's: a data field's kept values, counted from the
			// index alone.
			fieldValues := "Index Only Scan using task_field_values_totals"
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
					"tasks_project_total_annotations", "Index Only Scan using tasks_project_total_annotations"},
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
