package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/internal/testclock"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// dmFixture is one project of five tasks, named a to e by data.name, that
// differ in every column the Data Manager filters by:
//
//	a: blob img/a.jpg, annotated by u1 (ground truth) and u2, prediction-free
//	b: blob img/b.png, skipped by u2
//	c: blob img/c.jpg, annotated by u1, then its blob went missing
//	d: imported, prediction score 0.9, data.n is the string "7"
//	e: imported, prediction score 0.2, the only one with the key "it's"
type dmFixture struct {
	db       *sqlstore.DB
	project  int64
	ids      map[string]int64
	names    map[int64]string
	u1, u2   *blobmark.User
	imported time.Time // between the storage's tasks and the imported ones
}

func newDMFixture(t *testing.T, b backend, indexKeys ...string) *dmFixture {
	clock := testclock.New(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	db := open(t, b.prepare(t, sqlstore.Config{Clock: clock.Now}))
	ctx := t.Context()
	if len(indexKeys) > 0 {
		if err := db.IndexDataFields(ctx, indexKeys); err != nil {
			t.Fatal(err)
		}
	}
	f := &dmFixture{db: db, ids: map[string]int64{}, names: map[int64]string{}}
	var err error
	if f.u1, _, err = db.CreateUser(ctx, "u1@example.com", "password-123"); err != nil {
		t.Fatal(err)
	}
	if f.u2, _, err = db.CreateUser(ctx, "u2@example.com", "password-123"); err != nil {
		t.Fatal(err)
	}
	s := newStorage(t, db)
	f.project = s.ProjectID
	data := func(s string) *blobmark.TaskImport { return &blobmark.TaskImport{Data: json.RawMessage(s)} }
	if _, err := db.WriteBatch(ctx, s.ID, &importer.Batch{Generation: 1, Create: []importer.NewTask{
		{Key: "img/a.jpg", Task: data(`{"name":"a","text":"Hello World","n":5,"d":"2021-01-05T00:00:00Z","flag":true,"tag":"cat"}`)},
		{Key: "img/b.png", Task: data(`{"name":"b","text":"goodbye","n":12.5,"d":"2021-02-01T00:00:00Z","flag":false}`)},
		{Key: "img/c.jpg", Task: data(`{"name":"c","other":1}`)},
	}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	f.imported = clock.Now().Add(-30 * time.Minute)
	score := func(v float64) []*blobmark.Prediction {
		return []*blobmark.Prediction{{Result: json.RawMessage(`[]`), Score: &v}}
	}
	if _, err := db.ImportTasks(ctx, f.project, []*blobmark.TaskImport{
		{Data: json.RawMessage(`{"name":"d","text":"100% sure_thing","n":"7"}`), Predictions: score(0.9)},
		{Data: json.RawMessage(`{"name":"e","text":"HELLO again","n":-1,"tag":"dog","it's":3}`), Predictions: score(0.2)},
	}); err != nil {
		t.Fatal(err)
	}
	list, err := db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: f.project, Page: blobmark.Page{Limit: 10}})
	if err != nil || len(list.Tasks) != 5 {
		t.Fatalf("fixture: %+v, %v", list, err)
	}
	for _, task := range list.Tasks {
		var d struct{ Name string }
		_ = json.Unmarshal(task.Data, &d)
		f.ids[d.Name], f.names[task.ID] = task.ID, d.Name
	}
	annotate := func(name string, by *blobmark.User, cancelled, gt bool) {
		clock.Advance(time.Minute)
		if err := db.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: f.ids[name], CompletedBy: by.ID,
			WasCancelled: cancelled, GroundTruth: gt, Result: json.RawMessage(`[]`)}); err != nil {
			t.Fatal(err)
		}
	}
	annotate("a", f.u1, false, true)
	annotate("a", f.u2, false, false)
	annotate("b", f.u2, true, false)
	annotate("c", f.u1, false, false)
	if _, err := db.WriteBatch(ctx, s.ID, &importer.Batch{Generation: 2, MarkMissing: []int64{f.ids["c"]}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// find runs a query and returns the names of the whole result in order,
// checking that the total agrees with it.
func (f *dmFixture) find(t *testing.T, query string) ([]string, error) {
	q, err := blobmark.ParseTaskQuery("query", []byte(query))
	if err != nil {
		return nil, err
	}
	list, err := f.db.FindTasks(t.Context(), blobmark.TaskFilter{ProjectID: f.project, Query: q, Page: blobmark.Page{Limit: 100}})
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, task := range list.Tasks {
		names = append(names, f.names[task.ID])
	}
	annotations, predictions := 0, 0
	for _, task := range list.Tasks {
		annotations += task.TotalAnnotations
		predictions += task.TotalPredictions
	}
	if list.Total != len(names) || list.TotalAnnotations != annotations || list.TotalPredictions != predictions {
		t.Errorf("%s: totals %d tasks, %d annotations, %d predictions; %d, %d, %d listed", query,
			list.Total, list.TotalAnnotations, list.TotalPredictions, len(names), annotations, predictions)
	}
	return names, nil
}

// filterQuery builds a query of one filter item.
func filterQuery(column, op, typ, value string) string {
	return fmt.Sprintf(`{"filters":{"conjunction":"and","items":[{"filter":"filter:tasks:%s","operator":"%s","type":"%s","value":%s}]}}`,
		column, op, typ, value)
}

// TestTaskQueries runs the same filters and orderings on both databases
// against the same fixture, and wants the same tasks in the same order.
func TestTaskQueries(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			// The same answers without and with the indexes saved views
			// build on data fields, built after the tasks were written
			// (filled in from them) or before (kept as they are written).
			keys := []string{"name", "text", "n", "d", "flag", "tag", "it's"}
			for _, mode := range []struct {
				name          string
				before, after bool
			}{{"unindexed", false, false}, {"indexed after the writes", false, true}, {"indexed before the writes", true, false}} {
				t.Run(mode.name, func(t *testing.T) {
					var f *dmFixture
					if mode.before {
						f = newDMFixture(t, b, keys...)
					} else {
						f = newDMFixture(t, b)
					}
					if mode.after {
						if err := f.db.IndexDataFields(t.Context(), keys); err != nil {
							t.Fatal(err)
						}
					}
					checkTaskQueries(t, f)
				})
			}
		})
	}
}

// checkTaskQueries runs TestTaskQueries' table against f.
func checkTaskQueries(t *testing.T, f *dmFixture) {
	id := func(n string) int64 { return f.ids[n] }
	cases := []struct {
		name, query string
		want        string // names in order, space-separated
	}{
		{"no query", `{}`, "a b c d e"},
		{"annotations >0", filterQuery("total_annotations", "greater", "Number", "0"), "a c"},
		{"annotations =0", filterQuery("total_annotations", "equal", "Number", "0"), "b d e"},
		{"annotations range", filterQuery("total_annotations", "in", "Number", `{"min":1,"max":1}`), "c"},
		{"skipped", filterQuery("cancelled_annotations", "greater_or_equal", "Number", "1"), "b"},
		{"labeled", filterQuery("is_labeled", "equal", "Boolean", "true"), "a c"},
		{"not labeled", filterQuery("is_labeled", "equal", "Boolean", "false"), "b d e"},
		{"completed_at exists", filterQuery("completed_at", "exists", "Datetime", "null"), "a c"},
		{"annotator u2", filterQuery("annotators", "contains", "List", fmt.Sprint(f.u2.ID)), "a b"},
		{"not annotator u2", filterQuery("annotators", "not_contains", "List", fmt.Sprint(f.u2.ID)), "c d e"},
		{"no annotator", filterQuery("annotators", "empty", "List", "true"), "d e"},
		{"text contains, any case", filterQuery("data.text", "contains", "String", `"hello"`), "a e"},
		{"text not contains", filterQuery("data.text", "not_contains", "String", `"hello"`), "b c d"},
		{"percent is literal", filterQuery("data.text", "contains", "String", `"%"`), "d"},
		{"underscore is literal", filterQuery("data.text", "contains", "String", `"e_t"`), "d"},
		{"starts with", filterQuery("data.text", "starts_with", "String", `"100%"`), "d"},
		{"ends with", filterQuery("data.text", "ends_with", "String", `"WORLD"`), "a"},
		{"text equal", filterQuery("data.text", "equal", "String", `"goodbye"`), "b"},
		{"number greater, strings ignored", filterQuery("data.n", "greater", "Number", "4"), "a b"},
		{"number range", filterQuery("data.n", "in", "Number", `{"min":0,"max":10}`), "a"},
		{"number less", filterQuery("data.n", "less", "Number", "0"), "e"},
		{"number equal", filterQuery("data.n", "equal", "Number", "12.5"), "b"},
		{"number not equal, strings kept", filterQuery("data.n", "not_equal", "Number", "5"), "b c d e"},
		{"number in list", filterQuery("data.n", "in_list", "Number", "[5, -1, 7]"), "a e"},
		{"booleans are not numbers", filterQuery("data.flag", "greater_or_equal", "Number", "0"), ""},
		{"a key with a quote", filterQuery("data.it's", "greater", "Number", "2"), "e"},
		{"date after", filterQuery("data.d", "greater", "Datetime", `"2021-01-10T00:00:00.000Z"`), "b"},
		{"date range", filterQuery("data.d", "in", "Datetime", `{"min":"2021-01-01T00:00:00.000000Z","max":"2021-01-31T00:00:00Z"}`), "a"},
		{"boolean true", filterQuery("data.flag", "equal", "Boolean", "true"), "a"},
		{"boolean false", filterQuery("data.flag", "equal", "Boolean", "false"), "b"},
		{"key exists", filterQuery("data.tag", "exists", "Unknown", "null"), "a e"},
		{"key missing", filterQuery("data.tag", "not_exists", "Unknown", "null"), "b c d"},
		{"in list", filterQuery("data.tag", "in_list", "String", `["cat","dog","cow"]`), "a e"},
		{"not in list", filterQuery("data.tag", "not_in_list", "String", `["cat"]`), "b c d e"},
		{"id in list", filterQuery("id", "in_list", "Number", fmt.Sprintf("[%d,%d]", id("a"), id("d"))), "a d"},
		{"inner id", filterQuery("inner_id", "less_or_equal", "Number", "2"), "a b"},
		{"file name contains", filterQuery("storage_filename", "contains", "String", `".jpg"`), "a c"},
		{"file name equal", filterQuery("storage_filename", "equal", "String", `"img/b.png"`), "b"},
		{"no file name", filterQuery("storage_filename", "empty", "String", "true"), "d e"},
		{"blob missing", filterQuery("blob_missing", "equal", "Boolean", "true"), "c"},
		{"ground truth", filterQuery("ground_truth", "equal", "Boolean", "true"), "a"},
		{"predictions", filterQuery("total_predictions", "greater", "Number", "0"), "d e"},
		{"prediction score", filterQuery("predictions_score", "greater", "Number", "0.5"), "d"},
		{"created after", filterQuery("created_at", "greater", "Datetime", `"`+f.imported.Format(time.RFC3339)+`"`), "d e"},
		{"updated before", filterQuery("updated_at", "less", "Datetime", `"`+f.imported.Format(time.RFC3339)+`"`), ""},
		{"or", `{"filters":{"conjunction":"or","items":[
					{"filter":"filter:tasks:total_annotations","operator":"greater","type":"Number","value":0},
					{"filter":"filter:tasks:data.text","operator":"contains","type":"String","value":"bye"}]}}`, "a b c"},
		{"and", `{"filters":{"conjunction":"and","items":[
					{"filter":"filter:tasks:total_annotations","operator":"greater","type":"Number","value":0},
					{"filter":"filter:tasks:data.text","operator":"contains","type":"String","value":"world"}]}}`, "a"},

		{"id descending", `{"ordering":["-tasks:id"]}`, "e d c b a"},
		{"annotations ascending", `{"ordering":["tasks:total_annotations"]}`, "b d e c a"},
		{"annotations descending", `{"ordering":["-tasks:total_annotations"]}`, "a c e d b"},
		{"data field descending", `{"ordering":["-tasks:data.name"]}`, "e d c b a"},
		{"data number, missing last", `{"ordering":["tasks:data.flag"],"filters":{"items":[{"filter":"filter:tasks:data.flag","operator":"exists","type":"Boolean"}]}}`, "b a"},
		{"file name, none last", `{"ordering":["tasks:storage_filename"]}`, "a b c d e"},
		{"file name descending, none last", `{"ordering":["-tasks:storage_filename"]}`, "c b a e d"},
		{"score, none last", `{"ordering":["tasks:predictions_score"]}`, "e d a b c"},
		{"filtered and sorted", `{"ordering":["-tasks:updated_at"],"filters":{"items":[{"filter":"filter:tasks:total_annotations","operator":"equal","type":"Number","value":0}]}}`, "b e d"},

		{"all but excluded, filtered", fmt.Sprintf(`{"selectedItems":{"all":true,"excluded":[%d]},"filters":{"items":[{"filter":"filter:tasks:total_annotations","operator":"equal","type":"Number","value":0}]}}`, id("b")), "d e"},
		{"included", fmt.Sprintf(`{"selectedItems":{"all":false,"included":[%d,%d]}}`, id("b"), id("a")), "a b"},
	}
	for _, c := range cases {
		got, err := f.find(t, c.query)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: got %q, want %q", c.name, strings.Join(got, " "), c.want)
		}
	}
	// Pages of a filtered, sorted query: the total is the filter's,
	// the pages follow each other.
	q, _ := blobmark.ParseTaskQuery("query", []byte(`{"ordering":["-tasks:id"],"filters":{"items":[{"filter":"filter:tasks:total_annotations","operator":"equal","type":"Number","value":0}]}}`))
	var paged []string
	for off := 0; off < 4; off += 2 {
		list, err := f.db.FindTasks(t.Context(), blobmark.TaskFilter{ProjectID: f.project, Query: q, Page: blobmark.Page{Offset: off, Limit: 2}})
		if err != nil || list.Total != 3 || list.TotalPredictions != 2 || list.TotalAnnotations != 0 {
			t.Fatalf("page at %d: %+v, %v", off, list, err)
		}
		for _, task := range list.Tasks {
			paged = append(paged, f.names[task.ID])
		}
	}
	if !slices.Equal(paged, []string{"e", "d", "b"}) {
		t.Errorf("pages: %v", paged)
	}
	// The file name comes with every task.
	task, err := f.db.FindTaskByID(t.Context(), id("b"))
	if err != nil || task.StorageFilename != "img/b.png" {
		t.Errorf("storage_filename = %q, %v", task.StorageFilename, err)
	}
}

// TestTaskActions runs the bulk actions on both databases: a selection of
// all tasks but some, narrowed by a filter; another project's ids refused
// with nothing changed; the counters kept.
func TestTaskActions(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newDMFixture(t, b)
			ctx := t.Context()
			other := &blobmark.Project{Title: "other"}
			if err := f.db.CreateProject(ctx, other); err != nil {
				t.Fatal(err)
			}
			res, err := f.db.ImportTasks(ctx, other.ID, []*blobmark.TaskImport{{Data: json.RawMessage(`{"x":1}`)}})
			if err != nil {
				t.Fatal(err)
			}
			foreign := res.TaskIDs
			if len(foreign) == 0 {
				list, _ := f.db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: other.ID})
				foreign = []int64{list.Tasks[0].ID}
			}
			query := func(s string) *blobmark.TaskQuery {
				q, err := blobmark.ParseTaskQuery("body", []byte(s))
				if err != nil {
					t.Fatal(err)
				}
				return q
			}
			run := func(action, q string) (int, error) { return f.db.RunTaskAction(ctx, f.project, action, query(q)) }

			// Another project's task in the selection: refused, nothing done.
			_, err = run(blobmark.ActionDeleteTasks, fmt.Sprintf(`{"selectedItems":{"all":false,"included":[%d,%d]}}`, f.ids["a"], foreign[0]))
			if blobmark.ErrorCode(err) != blobmark.EINVALID || !strings.Contains(err.Error(), "included") {
				t.Fatalf("foreign id: %v", err)
			}
			_, err = run(blobmark.ActionDeleteTasks, fmt.Sprintf(`{"selectedItems":{"all":true,"excluded":[%d]}}`, foreign[0]))
			if blobmark.ErrorCode(err) != blobmark.EINVALID {
				t.Fatalf("foreign excluded id: %v", err)
			}
			if got, _ := f.find(t, `{}`); len(got) != 5 {
				t.Fatalf("after refused actions: %v", got)
			}
			if _, err := run("explode", `{"selectedItems":{"all":true}}`); blobmark.ErrorCode(err) != blobmark.EINVALID {
				t.Fatalf("unknown action: %v", err)
			}

			// Ground truths: the mark goes, the annotations stay.
			if n, err := run(blobmark.ActionDeleteGroundTruths, `{"selectedItems":{"all":true}}`); err != nil || n != 5 {
				t.Fatalf("delete_ground_truths: %d, %v", n, err)
			}
			if got, _ := f.find(t, filterQuery("ground_truth", "equal", "Boolean", "true")); len(got) != 0 {
				t.Fatalf("ground truths left: %v", got)
			}
			// Predictions of the selection only.
			if n, err := run(blobmark.ActionDeleteTasksPredictions, fmt.Sprintf(`{"selectedItems":{"all":false,"included":[%d]}}`, f.ids["d"])); err != nil || n != 1 {
				t.Fatalf("delete_tasks_predictions: %d, %v", n, err)
			}
			if got, _ := f.find(t, filterQuery("total_predictions", "greater", "Number", "0")); strings.Join(got, " ") != "e" {
				t.Fatalf("tasks with predictions: %v", got)
			}
			// Annotations of every annotated task but c.
			n, err := run(blobmark.ActionDeleteTasksAnnotations, fmt.Sprintf(`{"selectedItems":{"all":true,"excluded":[%d]},
				"filters":{"items":[{"filter":"filter:tasks:annotators","operator":"exists","type":"List"}]}}`, f.ids["c"]))
			if err != nil || n != 2 {
				t.Fatalf("delete_tasks_annotations: %d, %v", n, err)
			}
			if got, _ := f.find(t, filterQuery("annotators", "exists", "List", "null")); strings.Join(got, " ") != "c" {
				t.Fatalf("annotated after deleting a and b's: %v", got)
			}
			// Delete every task without annotations but e: a, b, d.
			n, err = run(blobmark.ActionDeleteTasks, fmt.Sprintf(`{"selectedItems":{"all":true,"excluded":[%d]},
				"filters":{"items":[{"filter":"filter:tasks:total_annotations","operator":"equal","type":"Number","value":0}]}}`, f.ids["e"]))
			if err != nil || n != 3 {
				t.Fatalf("delete_tasks: %d, %v", n, err)
			}
			if got, _ := f.find(t, `{}`); strings.Join(got, " ") != "c e" {
				t.Fatalf("left: %v", got)
			}
			list, err := f.db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: f.project})
			if err != nil || list.Total != 2 || list.TotalAnnotations != 1 || list.TotalPredictions != 1 {
				t.Fatalf("project counters: total %d annotations %d predictions %d, %v", list.Total, list.TotalAnnotations, list.TotalPredictions, err)
			}
			if got, _ := f.db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: other.ID}); got.Total != 1 {
				t.Fatalf("the other project lost tasks: %d", got.Total)
			}
		})
	}
}

// TestSavingAViewIndexesItsDataFields checks that creating and changing a
// view enqueue the indexing of the data fields it filters and sorts on,
// and only of those.
func TestSavingAViewIndexesItsDataFields(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			ctx := t.Context()
			p := createProject(t, db, "p")
			jobs := func() [][]string {
				res, err := db.River().JobList(ctx, river.NewJobListParams().Kinds(blobmark.IndexDataFieldsJob{}.Kind()).First(100))
				if err != nil {
					t.Fatal(err)
				}
				var keys [][]string
				for _, j := range res.Jobs {
					var args blobmark.IndexDataFieldsJob
					if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
						t.Fatal(err)
					}
					keys = append(keys, args.Keys)
				}
				return keys
			}
			v := &blobmark.View{ProjectID: p.ID, Data: json.RawMessage(`{"title":"t","ordering":["-tasks:data.text"],
				"filters":{"items":[{"filter":"filter:tasks:data.score","operator":"greater","type":"Number","value":1},
				{"filter":"filter:tasks:total_annotations","operator":"equal","type":"Number","value":0},
				{"filter":"filter:tasks:data.score","operator":"less","type":"Number","value":9}]}}`)}
			if err := db.CreateView(ctx, v); err != nil {
				t.Fatal(err)
			}
			if got := jobs(); len(got) != 1 || !slices.Equal(got[0], []string{"score", "text"}) {
				t.Fatalf("after creating the view, indexing jobs %v; want one for [score text]", got)
			}
			if _, err := db.UpdateView(ctx, v.ID, blobmark.ViewUpdate{Data: json.RawMessage(`{"title":"no data fields"}`)}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UpdateView(ctx, v.ID, blobmark.ViewUpdate{Data: json.RawMessage(`{"ordering":["tasks:data.label"]}`)}); err != nil {
				t.Fatal(err)
			}
			if got := jobs(); len(got) != 2 || !slices.ContainsFunc(got, func(k []string) bool { return slices.Equal(k, []string{"label"}) }) {
				t.Fatalf("after the updates, indexing jobs %v; want a second one for [label] only", got)
			}
		})
	}
}
