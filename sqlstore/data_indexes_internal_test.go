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
