package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/sqlstore"
)

// streamEnv is a test server with the label stream and predictions, a
// project of n tasks owned by the test user, and annotators who are (or
// are not) its members.
type streamEnv struct {
	*testEnv
	project int64
	tasks   []int64
}

func newStreamEnv(t *testing.T, n int) *streamEnv {
	e := newTestEnv(t, func(s *httpapi.Server) {
		db := s.Tasks.(*sqlstore.DB)
		s.LabelStream, s.Predictions, s.ProjectAccess = db, db, db
	})
	var p struct{ ID int64 }
	e.must(http.StatusCreated, "POST", "/api/projects/", map[string]any{"title": "stream",
		"label_config": `<View><Text name="text" value="$text"/><Choices name="c" toName="text"><Choice value="a"/></Choices></View>`}).json(t, &p)
	tasks := make([]map[string]any, n)
	for i := range tasks {
		tasks[i] = map[string]any{"text": fmt.Sprint("task ", i)}
	}
	var res struct {
		TaskIDs []int64 `json:"task_ids"`
	}
	e.must(http.StatusCreated, "POST", fmt.Sprintf("/api/projects/%d/import?return_task_ids=true", p.ID), tasks).json(t, &res)
	return &streamEnv{testEnv: e, project: p.ID, tasks: res.TaskIDs}
}

// annotator adds an annotator, a member of the project when member, and
// returns its token.
func (e *streamEnv) annotator(name string, member bool) string {
	e.t.Helper()
	u, token, err := e.db.AddUser(context.Background(), blobmark.NewUser{Email: name + "@example.com", Password: "password-123",
		OrganizationID: e.user.OrganizationID, Role: blobmark.RoleAnnotator})
	if err != nil {
		e.t.Fatal(err)
	}
	if member {
		if err := e.db.AddProjectMember(context.Background(), e.project, u.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	return token
}

func (e *streamEnv) as(token, method, path string, body any) *response {
	e.t.Helper()
	return e.requestWith(method, path, body, http.Header{"Authorization": {"Token " + token}})
}

// nextTask is the part of the stream's answer the tests read.
type nextTask struct {
	ID          int64            `json:"id"`
	Queue       string           `json:"queue"`
	Overlap     int              `json:"overlap"`
	Data        map[string]any   `json:"data"`
	Annotations []map[string]any `json:"annotations"`
	Predictions []map[string]any `json:"predictions"`
}

func (e *streamEnv) next(token, path string) (int, nextTask) {
	e.t.Helper()
	r := e.as(token, "GET", fmt.Sprintf("/api/projects/%d/%s", e.project, path), nil)
	var n nextTask
	if r.status == http.StatusOK {
		r.json(e.t, &n)
	} else if r.status != http.StatusNotFound {
		e.t.Fatalf("next: %d %s", r.status, r.raw)
	}
	return r.status, n
}

func TestLabelStreamAPI(t *testing.T) {
	e := newStreamEnv(t, 3)
	a, b, outsider := e.annotator("a", true), e.annotator("b", true), e.annotator("c", false)
	e.must(http.StatusCreated, "POST", "/api/predictions/", map[string]any{"task": e.tasks[0], "result": []any{}, "score": 0.5, "model_version": "v1"})
	e.must(http.StatusCreated, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", e.tasks[0]), map[string]any{"result": []any{}, "was_cancelled": true})

	if status, _ := e.next(outsider, "next/"); status != http.StatusNotFound {
		t.Fatalf("a non-member's next: %d, want 404", status)
	}
	_, n := e.next(a, "next/")
	if n.ID != e.tasks[0] || n.Queue != blobmark.QueueSequential || n.Overlap != 1 || n.Data["text"] != "task 0" {
		t.Fatalf("a's first task: %+v", n)
	}
	if len(n.Predictions) != 1 || n.Predictions[0]["model_version"] != "v1" || len(n.Annotations) != 0 {
		t.Fatalf("a's task shows predictions %v and annotations %v; want the one prediction and none of the owner's annotations", n.Predictions, n.Annotations)
	}
	// The same task again, also without the trailing slash.
	if _, n = e.next(a, "next"); n.ID != e.tasks[0] || n.Queue != blobmark.QueueLocked {
		t.Fatalf("a's reload: %+v", n)
	}
	if _, n = e.next(b, "next/"); n.ID != e.tasks[1] {
		t.Fatalf("b's first task %d, want %d", n.ID, e.tasks[1])
	}
	lockPath := fmt.Sprintf("/api/tasks/%d/lock", e.tasks[0])
	var lock struct {
		Task      int64  `json:"task"`
		ExpiresAt string `json:"expires_at"`
	}
	if r := e.as(a, "POST", lockPath, nil); r.status != http.StatusOK {
		t.Fatalf("a renews: %d %s", r.status, r.raw)
	} else if r.json(t, &lock); lock.Task != e.tasks[0] || lock.ExpiresAt == "" {
		t.Fatalf("a's lock: %s", r.raw)
	}
	if r := e.as(b, "POST", lockPath, nil); r.status != http.StatusConflict || !strings.Contains(r.text(), "no place left") {
		t.Fatalf("b takes a's task: %d %s, want 409", r.status, r.raw)
	}
	if r := e.as(outsider, "POST", lockPath, nil); r.status != http.StatusForbidden {
		t.Fatalf("an outsider locks: %d %s, want 403", r.status, r.raw)
	}
	// a leaves the page: b may take the task.
	if r := e.as(a, "DELETE", lockPath, nil); r.status != http.StatusNoContent {
		t.Fatalf("a releases: %d %s", r.status, r.raw)
	}
	if r := e.as(b, "POST", lockPath, nil); r.status != http.StatusOK {
		t.Fatalf("b takes the released task: %d %s", r.status, r.raw)
	}
	// b holds one task at a time: taking the first let go of the second,
	// which goes to a. a skips it, submits the third, and is done; the
	// answer says why.
	for i, cancelled := range []bool{1: true, 2: false} {
		if i == 0 {
			continue
		}
		if _, n = e.next(a, "next/"); n.ID != e.tasks[i] {
			t.Fatalf("a's next task %d, want %d", n.ID, e.tasks[i])
		}
		if r := e.as(a, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", e.tasks[i]), map[string]any{"result": []any{}, "was_cancelled": cancelled}); r.status != http.StatusCreated {
			t.Fatalf("a submits: %d %s", r.status, r.raw)
		}
	}
	r := e.as(a, "GET", fmt.Sprintf("/api/projects/%d/next/", e.project), nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.envelope(t).Detail, "No more tasks to label") {
		t.Fatalf("a's empty stream: %d %s", r.status, r.raw)
	}
	// The project's page counts a's queue: a skipped task 1 and labeled
	// task 2; the owner skipped task 0, which b holds.
	var queue map[string]any
	if r := e.as(a, "GET", fmt.Sprintf("/api/projects/%d/", e.project), nil); r.status != http.StatusOK {
		t.Fatalf("a reads the project: %d %s", r.status, r.raw)
	} else if r.json(t, &queue); queue["queue_done"] != 2.0 || queue["queue_left"] != 1.0 || queue["queue_total"] != 3.0 || queue["finished_task_number"] != 1.0 {
		t.Fatalf("a's queue: %s", r.raw)
	}
}

func TestProjectDistributionFields(t *testing.T) {
	e := newTestEnv(t)
	var p map[string]any
	e.must(http.StatusCreated, "POST", "/api/projects/", map[string]any{"title": "d", "sampling": "Uniform sampling",
		"skip_queue": "REQUEUE_FOR_ME", "custom_task_lock_ttl": 120, "model_version": "v3", "maximum_annotations": 2}).json(t, &p)
	if p["sampling"] != "Uniform sampling" || p["skip_queue"] != "REQUEUE_FOR_ME" || p["custom_task_lock_ttl"] != 120.0 ||
		p["model_version"] != "v3" || p["maximum_annotations"] != 2.0 {
		t.Fatalf("created project: %v", p)
	}
	path := fmt.Sprintf("/api/projects/%v/", p["id"])
	for field, value := range map[string]any{
		"sampling":             "Random sampling",
		"skip_queue":           "SKIP",
		"custom_task_lock_ttl": 0,
		"maximum_annotations":  0,
	} {
		r := e.request("PATCH", path, map[string]any{field: value})
		if r.status != http.StatusBadRequest || r.envelope(t).ValidationErrors[field] == nil {
			t.Errorf("PATCH %s=%v: %d %s, want 400 naming %s", field, value, r.status, r.raw, field)
		}
	}
	e.must(http.StatusOK, "GET", path, nil).json(t, &p)
	if p["sampling"] != "Uniform sampling" || p["custom_task_lock_ttl"] != 120.0 {
		t.Fatalf("a refused PATCH changed the project: %v", p)
	}
	e.must(http.StatusOK, "PATCH", path, map[string]any{"sampling": "Uncertainty sampling", "skip_queue": "IGNORE_SKIPPED"}).json(t, &p)
	if p["sampling"] != "Uncertainty sampling" || p["skip_queue"] != "IGNORE_SKIPPED" {
		t.Fatalf("patched project: %v", p)
	}
}

func TestPredictionsAPI(t *testing.T) {
	e := newStreamEnv(t, 2)
	annotator := e.annotator("a", true)
	task := e.tasks[0]
	bad := []struct {
		body  any
		field string
	}{
		{map[string]any{"result": []any{}}, "task"},
		{map[string]any{"task": "one", "result": []any{}}, "task"},
		{map[string]any{"task": task}, "result"},
		{map[string]any{"task": task, "result": map[string]any{}}, "result"},
		{map[string]any{"task": task, "result": []any{}, "score": "high"}, "score"},
		{map[string]any{"task": task, "result": []any{}, "model_version": 3}, "model_version"},
	}
	for _, c := range bad {
		r := e.request("POST", "/api/predictions/", c.body)
		if r.status != http.StatusBadRequest || r.envelope(t).ValidationErrors[c.field] == nil {
			t.Errorf("POST %v: %d %s, want 400 naming %s", c.body, r.status, r.raw, c.field)
		}
	}
	if r := e.request("POST", "/api/predictions/", map[string]any{"task": 999999, "result": []any{}}); r.status != http.StatusNotFound {
		t.Errorf("a prediction on an unknown task: %d %s, want 404", r.status, r.raw)
	}
	if r := e.as(annotator, "POST", "/api/predictions/", map[string]any{"task": task, "result": []any{}}); r.status != http.StatusForbidden {
		t.Errorf("an annotator posts a prediction: %d, want 403", r.status)
	}
	var pred map[string]any
	e.must(http.StatusCreated, "POST", "/api/predictions", map[string]any{"task": task, "result": []any{map[string]any{"from_name": "c"}},
		"score": 0.25, "model_version": "v1", "project": e.project}).json(t, &pred)
	if pred["task"] != float64(task) || pred["score"] != 0.25 || pred["model_version"] != "v1" || pred["id"] == nil {
		t.Fatalf("created prediction: %v", pred)
	}
	path := fmt.Sprintf("/api/predictions/%v/", pred["id"])
	var list []map[string]any
	if r := e.as(annotator, "GET", fmt.Sprintf("/api/predictions/?task=%d", task), nil); r.status != http.StatusOK {
		t.Fatalf("an annotator lists: %d %s", r.status, r.raw)
	} else if r.json(t, &list); len(list) != 1 {
		t.Fatalf("task's predictions: %s", r.raw)
	}
	if r := e.request("GET", "/api/predictions/", nil); r.status != http.StatusBadRequest {
		t.Errorf("a list without task or project: %d, want 400", r.status)
	}
	e.must(http.StatusOK, "PATCH", path, map[string]any{"score": nil, "model_version": "v2"}).json(t, &pred)
	if pred["score"] != nil || pred["model_version"] != "v2" {
		t.Fatalf("patched prediction: %v", pred)
	}
	if r := e.request("PATCH", path, map[string]any{"task": e.tasks[1]}); r.status != http.StatusBadRequest {
		t.Errorf("moving a prediction to another task: %d, want 400", r.status)
	}
	var got map[string]any
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/%d/", task), nil).json(t, &got)
	if preds, _ := got["predictions"].([]any); len(preds) != 1 || got["total_predictions"] != 1.0 {
		t.Fatalf("the task shows predictions %v, total %v", got["predictions"], got["total_predictions"])
	}
	e.must(http.StatusNoContent, "DELETE", path, nil)
	e.must(http.StatusNotFound, "GET", path, nil)

	// Import: all or nothing, the bad item named.
	importPath := fmt.Sprintf("/api/projects/%d/import/predictions", e.project)
	r := e.request("POST", importPath, []any{map[string]any{"task": task, "result": []any{}}, map[string]any{"task": task}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.text(), "Prediction 1") {
		t.Fatalf("import with a bad item: %d %s", r.status, r.raw)
	}
	if r := e.request("POST", importPath, map[string]any{"task": task}); r.status != http.StatusBadRequest {
		t.Fatalf("import of an object: %d %s", r.status, r.raw)
	}
	var created struct{ Created int }
	e.must(http.StatusCreated, "POST", importPath, []any{
		map[string]any{"task": e.tasks[0], "result": []any{}}, map[string]any{"task": e.tasks[1], "result": []any{}, "score": 1},
	}).json(t, &created)
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/predictions/?project=%d", e.project), nil).json(t, &list)
	if created.Created != 2 || len(list) != 2 {
		t.Fatalf("imported %d, listed %d; want 2 and 2", created.Created, len(list))
	}
}

func TestPredictionsOfAnotherProject(t *testing.T) {
	e := newStreamEnv(t, 1)
	var p struct{ ID int64 }
	e.must(http.StatusCreated, "POST", "/api/projects/", map[string]any{"title": "second"}).json(t, &p)
	r := e.request("POST", fmt.Sprintf("/api/projects/%d/import/predictions", p.ID), []any{map[string]any{"task": e.tasks[0], "result": []any{}}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.text(), "is not a task of project") {
		t.Fatalf("predictions for another project's task: %d %s", r.status, r.raw)
	}
	var list []json.RawMessage
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/predictions/?task__project=%d", e.project), nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("nothing should have been written: %d predictions", len(list))
	}
}
