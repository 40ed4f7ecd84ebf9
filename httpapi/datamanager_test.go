package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
)

func withDataManager(s *httpapi.Server) {
	db := s.Tasks.(interface {
		blobmark.ViewService
		blobmark.TaskActionService
	})
	s.Views, s.TaskActions = db, db
}

// dmProject creates a project with tasks whose data.n is 0..n-1 and
// returns its id and the task ids in order.
func dmProject(t *testing.T, e *testEnv, n int) (int64, []int64) {
	t.Helper()
	var p struct{ ID int64 }
	e.must(http.StatusCreated, "POST", "/api/projects/", map[string]any{"title": "dm"}).json(t, &p)
	tasks := make([]map[string]any, n)
	for i := range tasks {
		tasks[i] = map[string]any{"n": i, "text": fmt.Sprintf("item %d", i)}
	}
	e.must(http.StatusCreated, "POST", fmt.Sprintf("/api/projects/%d/import", p.ID), tasks)
	var list struct {
		Tasks []struct{ ID int64 } `json:"tasks"`
	}
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/?project=%d&page_size=1000", p.ID), nil).json(t, &list)
	ids := make([]int64, len(list.Tasks))
	for i, task := range list.Tasks {
		ids[i] = task.ID
	}
	return p.ID, ids
}

type taskPage struct {
	Tasks []struct {
		ID   int64 `json:"id"`
		Data struct {
			N int `json:"n"`
		} `json:"data"`
	} `json:"tasks"`
	Total int `json:"total"`
}

func (p taskPage) ns() []int {
	out := []int{}
	for _, task := range p.Tasks {
		out = append(out, task.Data.N)
	}
	return out
}

// TestDataManagerViews saves a filtered, sorted view, reads it back with
// the extra keys it was given, lists tasks through it, and reorders and
// resets the project's views.
func TestDataManagerViews(t *testing.T) {
	e := newTestEnv(t, withDataManager)
	project, _ := dmProject(t, e, 10)
	data := map[string]any{
		"title":         "big n",
		"hiddenColumns": map[string]any{"explore": []string{"tasks:data.text"}},
		"filters": map[string]any{"conjunction": "and", "items": []any{
			map[string]any{"filter": "filter:tasks:data.n", "operator": "greater_or_equal", "type": "Number", "value": 6},
		}},
		"ordering": []string{"-tasks:data.n"},
	}
	var v struct {
		ID          int64           `json:"id"`
		Project     int64           `json:"project"`
		Order       int             `json:"order"`
		Data        map[string]any  `json:"data"`
		Ordering    []string        `json:"ordering"`
		FilterGroup map[string]any  `json:"filter_group"`
		Selected    json.RawMessage `json:"selected_items"`
	}
	e.must(http.StatusCreated, "POST", "/api/dm/views", map[string]any{"project": project, "data": data}).json(t, &v)
	if v.Project != project || v.Data["title"] != "big n" || v.Data["hiddenColumns"] == nil || len(v.Ordering) != 1 || v.FilterGroup["conjunction"] != "and" {
		t.Fatalf("created view: %+v", v)
	}
	var page taskPage
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/?project=%d&view=%d&page_size=3", project, v.ID), nil).json(t, &page)
	if page.Total != 4 || fmt.Sprint(page.ns()) != "[9 8 7]" {
		t.Fatalf("tasks of the view: total %d, %v", page.Total, page.ns())
	}
	// query= replaces the view's filters; the view's ordering stays.
	q := url.QueryEscape(`{"filters":{"conjunction":"and","items":[{"filter":"filter:tasks:data.text","operator":"contains","type":"String","value":"item 1"}]}}`)
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/?project=%d&view=%d&query=%s", project, v.ID, q), nil).json(t, &page)
	if page.Total != 1 || fmt.Sprint(page.ns()) != "[1]" {
		t.Fatalf("query over the view: total %d, %v", page.Total, page.ns())
	}

	var second struct{ ID, Order int64 }
	e.must(http.StatusCreated, "POST", "/api/dm/views/", map[string]any{"project": project, "data": map[string]any{"title": "all"}}).json(t, &second)
	if second.Order != 1 {
		t.Fatalf("second view's order: %d", second.Order)
	}
	e.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/dm/views/%d/", v.ID), map[string]any{"data": map[string]any{"title": "renamed"}})
	e.must(http.StatusOK, "POST", "/api/dm/views/order/", map[string]any{"project": project, "ids": []int64{second.ID, v.ID}})
	var views []struct {
		ID   int64          `json:"id"`
		Data map[string]any `json:"data"`
	}
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/dm/views/?project=%d", project), nil).json(t, &views)
	if len(views) != 2 || views[0].ID != second.ID || views[1].Data["title"] != "renamed" {
		t.Fatalf("views after reorder: %+v", views)
	}
	e.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/dm/views/%d/", second.ID), nil)
	e.must(http.StatusNotFound, "GET", fmt.Sprintf("/api/dm/views/%d/", second.ID), nil)
	e.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/dm/views/reset/?project=%d", project), nil)
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/dm/views/?project=%d", project), nil).json(t, &views)
	if len(views) != 0 {
		t.Fatalf("views after reset: %+v", views)
	}
}

// TestDataManagerBadInput: every malformed query, view or action is a 400
// (404 for an unknown object) that names the part that is wrong, and
// nothing is changed.
func TestDataManagerBadInput(t *testing.T) {
	e := newTestEnv(t, withDataManager)
	project, ids := dmProject(t, e, 3)
	other, otherIDs := dmProject(t, e, 1)
	var otherView struct{ ID int64 }
	e.must(http.StatusCreated, "POST", "/api/dm/views/", map[string]any{"project": other, "data": map[string]any{}}).json(t, &otherView)
	item := func(filter, op, typ, value string) string {
		return url.QueryEscape(fmt.Sprintf(`{"filters":{"conjunction":"and","items":[{"filter":"%s","operator":"%s","type":"%s","value":%s}]}}`, filter, op, typ, value))
	}
	tasks := fmt.Sprintf("/api/tasks/?project=%d&", project)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		names              string // the part the answer must name
	}{
		{"malformed query", "GET", tasks + "query=" + url.QueryEscape(`{"filters":`), nil, 400, "query"},
		{"query not an object", "GET", tasks + "query=" + url.QueryEscape(`[1]`), nil, 400, "query"},
		{"unknown column", "GET", tasks + "query=" + item("filter:tasks:colour", "equal", "String", `"x"`), nil, 400, "query.filters.items[0].filter"},
		{"not a task filter", "GET", tasks + "query=" + item("filter:annotations:id", "equal", "Number", `1`), nil, 400, "query.filters.items[0].filter"},
		{"unknown operator", "GET", tasks + "query=" + item("filter:tasks:id", "between", "Number", `1`), nil, 400, "query.filters.items[0].operator"},
		{"operator of another type", "GET", tasks + "query=" + item("filter:tasks:id", "contains", "Number", `1`), nil, 400, "query.filters.items[0].operator"},
		{"unknown type", "GET", tasks + "query=" + item("filter:tasks:data.x", "equal", "Float", `1`), nil, 400, "query.filters.items[0].type"},
		{"number value", "GET", tasks + "query=" + item("filter:tasks:id", "equal", "Number", `"one"`), nil, 400, "query.filters.items[0].value"},
		{"range value", "GET", tasks + "query=" + item("filter:tasks:id", "in", "Number", `5`), nil, 400, "query.filters.items[0].value"},
		{"datetime value", "GET", tasks + "query=" + item("filter:tasks:created_at", "greater", "Datetime", `"yesterday"`), nil, 400, "query.filters.items[0].value"},
		{"quote in data field", "GET", tasks + "query=" + item(`filter:tasks:data.a\\\"b`, "equal", "String", `"x"`), nil, 400, "query.filters.items[0].filter"},
		{"bad conjunction", "GET", tasks + "query=" + url.QueryEscape(`{"filters":{"conjunction":"xor","items":[]}}`), nil, 400, "query.filters.conjunction"},
		{"unknown ordering", "GET", tasks + "query=" + url.QueryEscape(`{"ordering":["tasks:colour"]}`), nil, 400, "query.ordering[0]"},
		{"two orderings", "GET", tasks + "query=" + url.QueryEscape(`{"ordering":["tasks:id","tasks:inner_id"]}`), nil, 400, "query.ordering"},
		{"selectedItems without all", "GET", tasks + "selectedItems=" + url.QueryEscape(`{"included":[1]}`), nil, 400, "selectedItems.all"},
		{"view of another project", "GET", fmt.Sprintf("%sview=%d", tasks, otherView.ID), nil, 400, "view"},
		{"unknown view", "GET", tasks + "view=999999", nil, 404, ""},
		{"bad view id", "GET", tasks + "view=abc", nil, 400, "view"},

		{"view without project", "POST", "/api/dm/views/", map[string]any{"data": map[string]any{}}, 400, "project"},
		{"view data not an object", "POST", "/api/dm/views/", map[string]any{"project": project, "data": []int{1}}, 400, "data"},
		{"view with a bad filter", "POST", "/api/dm/views/", map[string]any{"project": project, "data": map[string]any{
			"filters": map[string]any{"items": []any{map[string]any{"filter": "filter:tasks:nope", "operator": "equal", "type": "String", "value": "x"}}}}},
			400, "data.filters.items[0].filter"},
		{"view moved to another project", "PATCH", fmt.Sprintf("/api/dm/views/%d/", otherView.ID), map[string]any{"project": project}, 400, "project"},
		{"order a view of another project", "POST", "/api/dm/views/order/", map[string]any{"project": project, "ids": []int64{otherView.ID}}, 400, "ids"},

		{"action without id", "POST", fmt.Sprintf("/api/dm/actions/?project=%d", project), map[string]any{"selectedItems": map[string]any{"all": true}}, 400, "id"},
		{"unknown action", "POST", fmt.Sprintf("/api/dm/actions/?project=%d&id=explode", project), map[string]any{"selectedItems": map[string]any{"all": true}}, 400, "id"},
		{"action on another project's task", "POST", fmt.Sprintf("/api/dm/actions/?project=%d&id=delete_tasks", project),
			map[string]any{"selectedItems": map[string]any{"all": false, "included": []int64{ids[0], otherIDs[0]}}}, 400, "selectedItems.included"},
		{"action with a malformed body", "POST", fmt.Sprintf("/api/dm/actions/?project=%d&id=delete_tasks", project), `{"selectedItems":`, 400, "body"},
		{"action with another project's view", "POST", fmt.Sprintf("/api/dm/actions/?project=%d&id=delete_tasks&view=%d", project, otherView.ID),
			map[string]any{"selectedItems": map[string]any{"all": true}}, 400, "view"},
	}
	for _, c := range cases {
		r := e.request(c.method, c.path, c.body)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.raw)
			continue
		}
		env := r.envelope(t)
		if c.names != "" && env.ValidationErrors[c.names] == nil {
			t.Errorf("%s: the answer does not name %q: %s", c.name, c.names, r.raw)
		}
	}
	var page taskPage
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/?project=%d", project), nil).json(t, &page)
	if page.Total != 3 {
		t.Fatalf("tasks after refused actions: %d", page.Total)
	}
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/?project=%d", other), nil).json(t, &page)
	if page.Total != 1 {
		t.Fatalf("the other project's tasks after refused actions: %d", page.Total)
	}
}

// TestDataManagerActions deletes a filtered selection through the legacy
// path and the listed actions.
func TestDataManagerActions(t *testing.T) {
	e := newTestEnv(t, withDataManager)
	project, ids := dmProject(t, e, 10)
	var actions []struct {
		ID         string `json:"id"`
		Permission string `json:"permission"`
		Dialog     struct{ Text string }
	}
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/dm/actions/?project=%d", project), nil).json(t, &actions)
	if len(actions) < 4 || actions[0].ID != "delete_tasks" || actions[0].Dialog.Text == "" {
		t.Fatalf("actions: %+v", actions)
	}
	var res struct {
		Processed int `json:"processed_items"`
	}
	// Every task with n < 5 but the first.
	e.must(http.StatusOK, "POST", fmt.Sprintf("/api/dm/actions?id=delete_tasks&project=%d", project), map[string]any{
		"selectedItems": map[string]any{"all": true, "excluded": []int64{ids[0]}},
		"filters": map[string]any{"conjunction": "and", "items": []any{
			map[string]any{"filter": "filter:tasks:data.n", "operator": "less", "type": "Number", "value": 5}}},
	}).json(t, &res)
	if res.Processed != 4 {
		t.Fatalf("processed %d, want 4", res.Processed)
	}
	var page taskPage
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/?project=%d&ordering=-tasks:data.n", project), nil).json(t, &page)
	if page.Total != 6 || fmt.Sprint(page.ns()) != "[9 8 7 6 5 0]" {
		t.Fatalf("left: total %d %v", page.Total, page.ns())
	}
	var columns struct {
		Columns []struct{ ID, Type string } `json:"columns"`
	}
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/dm/columns/?project=%d", project), nil).json(t, &columns)
	if len(columns.Columns) < len(blobmark.TaskColumns) || !strings.Contains(fmt.Sprint(columns.Columns), "storage_filename") {
		t.Fatalf("columns: %+v", columns)
	}
}
