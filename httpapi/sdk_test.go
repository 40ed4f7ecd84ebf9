package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// sdkClient sends exactly the requests the Label Studio Python SDK sends
// (paths, trailing slashes, query strings, body keys), so these tests show
// that the SDK works unchanged.
type sdkClient struct {
	t   *testing.T
	env *testEnv
}

type sdkProject struct {
	ID                     int64  `json:"id"`
	Title                  string `json:"title"`
	LabelConfig            string `json:"label_config"`
	TaskNumber             int    `json:"task_number"`
	TotalAnnotationsNumber int    `json:"total_annotations_number"`
	CreatedBy              struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	} `json:"created_by"`
}

type sdkTask struct {
	ID                   int64             `json:"id"`
	Project              int64             `json:"project"`
	Data                 map[string]any    `json:"data"`
	Meta                 map[string]any    `json:"meta"`
	IsLabeled            bool              `json:"is_labeled"`
	Overlap              int               `json:"overlap"`
	InnerID              int64             `json:"inner_id"`
	TotalAnnotations     int               `json:"total_annotations"`
	CancelledAnnotations int               `json:"cancelled_annotations"`
	TotalPredictions     int               `json:"total_predictions"`
	Annotations          []sdkAnnotation   `json:"annotations"`
	Predictions          []json.RawMessage `json:"predictions"`
}

type sdkAnnotation struct {
	ID              int64             `json:"id"`
	Task            int64             `json:"task"`
	Project         int64             `json:"project"`
	Result          []json.RawMessage `json:"result"`
	WasCancelled    bool              `json:"was_cancelled"`
	GroundTruth     bool              `json:"ground_truth"`
	LeadTime        float64           `json:"lead_time"`
	CompletedBy     int64             `json:"completed_by"`
	CreatedUsername string            `json:"created_username"`
	CreatedAgo      string            `json:"created_ago"`
}

// projects.create: POST /api/projects/ {title, description, label_config}.
func (c *sdkClient) createProject(title, labelConfig string) sdkProject {
	var p sdkProject
	c.env.must(http.StatusCreated, "POST", "/api/projects/", map[string]any{
		"title": title, "description": "made by the SDK test", "label_config": labelConfig,
	}).json(c.t, &p)
	return p
}

// projects.get: GET /api/projects/{id}/.
func (c *sdkClient) getProject(id int64) sdkProject {
	var p sdkProject
	c.env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/", id), nil).json(c.t, &p)
	return p
}

// projects.list: GET /api/projects/?page=N from 1 while results are
// non-empty; a 404 ends the list, as the SDK's pager treats it.
func (c *sdkClient) listProjects() (all []sdkProject, pages int) {
	for page := 1; ; page++ {
		if page > 100 {
			c.t.Fatal("project pagination does not end")
		}
		r := c.env.request("GET", fmt.Sprintf("/api/projects/?page=%d", page), nil)
		if r.status == http.StatusNotFound {
			if e := r.envelope(c.t); e.Detail != "Invalid page." {
				c.t.Fatalf("page %d: 404 detail %q, want \"Invalid page.\"", page, e.Detail)
			}
			return all, pages
		}
		if r.status != http.StatusOK {
			c.t.Fatalf("page %d: status %d: %s", page, r.status, r.raw)
		}
		var body struct {
			Count    int          `json:"count"`
			Next     *string      `json:"next"`
			Previous *string      `json:"previous"`
			Results  []sdkProject `json:"results"`
		}
		r.json(c.t, &body)
		if len(body.Results) == 0 {
			return all, pages
		}
		pages++
		all = append(all, body.Results...)
		if (body.Previous == nil) != (page == 1) {
			c.t.Errorf("page %d: previous = %v", page, body.Previous)
		}
		if body.Next != nil {
			u, err := url.Parse(*body.Next)
			if err != nil || !u.IsAbs() || u.Query().Get("page") != fmt.Sprint(page+1) {
				c.t.Errorf("page %d: next = %q, want an absolute URL of page %d", page, *body.Next, page+1)
			}
		}
	}
}

// projects.import_tasks: POST /api/projects/{id}/import (no slash) with a
// JSON array, ?return_task_ids=true.
func (c *sdkClient) importTasks(projectID int64, tasks []any) (res struct {
	TaskCount       int      `json:"task_count"`
	AnnotationCount int      `json:"annotation_count"`
	PredictionCount int      `json:"prediction_count"`
	TaskIDs         []int64  `json:"task_ids"`
	DataColumns     []string `json:"data_columns"`
	FileUploadIDs   []int64  `json:"file_upload_ids"`
},
) {
	c.env.must(http.StatusCreated, "POST", fmt.Sprintf("/api/projects/%d/import?commit_to_project=true&return_task_ids=true", projectID), tasks).json(c.t, &res)
	return res
}

// tasks.list: GET /api/tasks/?fields=all&page=N&project=P[&page_size=M],
// page after page until a 404 or an empty page.
func (c *sdkClient) listTasks(projectID int64, pageSize int) (all []sdkTask, pages, total, totalAnnotations int) {
	for page := 1; ; page++ {
		if page > 1000 {
			c.t.Fatal("task pagination does not end")
		}
		q := url.Values{"fields": {"all"}, "page": {fmt.Sprint(page)}, "project": {fmt.Sprint(projectID)}, "resolve_uri": {"true"}}
		if pageSize > 0 {
			q.Set("page_size", fmt.Sprint(pageSize))
		}
		r := c.env.request("GET", "/api/tasks/?"+q.Encode(), nil)
		if r.status == http.StatusNotFound {
			return all, pages, total, totalAnnotations
		}
		if r.status != http.StatusOK {
			c.t.Fatalf("tasks page %d: status %d: %s", page, r.status, r.raw)
		}
		var body struct {
			Tasks            []sdkTask `json:"tasks"`
			Total            int       `json:"total"`
			TotalAnnotations int       `json:"total_annotations"`
			TotalPredictions int       `json:"total_predictions"`
		}
		r.json(c.t, &body)
		if len(body.Tasks) == 0 {
			return all, pages, total, totalAnnotations
		}
		pages++
		total, totalAnnotations = body.Total, body.TotalAnnotations
		all = append(all, body.Tasks...)
	}
}

// tasks.get: GET /api/tasks/{id}/.
func (c *sdkClient) getTask(id int64) sdkTask {
	var t sdkTask
	c.env.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/%d/", id), nil).json(c.t, &t)
	return t
}

// annotations.create: POST /api/tasks/{task_id}/annotations/.
func (c *sdkClient) createAnnotation(taskID int64, body map[string]any) sdkAnnotation {
	var a sdkAnnotation
	c.env.must(http.StatusCreated, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", taskID), body).json(c.t, &a)
	return a
}

// annotations.update: PATCH /api/annotations/{id}/ {result, was_cancelled}.
func (c *sdkClient) updateAnnotation(id int64, body map[string]any) sdkAnnotation {
	var a sdkAnnotation
	c.env.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/annotations/%d/", id), body).json(c.t, &a)
	return a
}

const imageConfig = `<View>
  <Image name="image" value="$image"/>
  <Choices name="label" toName="image"><Choice value="Cat"/><Choice value="Dog"/></Choices>
</View>`

func choice(label string) []any {
	return []any{map[string]any{
		"from_name": "label", "to_name": "image", "type": "choices",
		"value": map[string]any{"choices": []string{label}},
	}}
}

func TestSDKWorkflow(t *testing.T) {
	env := newTestEnv(t)
	sdk := &sdkClient{t: t, env: env}

	// Projects: 35 of them paginate as 30 + 5, then page 3 is a 404.
	var first sdkProject
	for i := range 35 {
		p := sdk.createProject(fmt.Sprintf("Project %d", i), imageConfig)
		if i == 0 {
			first = p
		}
	}
	if first.ID == 0 || first.CreatedBy.ID != env.user.ID || first.CreatedBy.Email != "alice@example.com" {
		t.Fatalf("created project = %+v, want an id and created_by alice", first)
	}
	projects, pages := sdk.listProjects()
	if len(projects) != 35 || pages != 2 {
		t.Fatalf("listed %d projects on %d pages, want 35 on 2", len(projects), pages)
	}
	seen := map[int64]bool{}
	for _, p := range projects {
		if seen[p.ID] {
			t.Fatalf("project %d listed twice", p.ID)
		}
		seen[p.ID] = true
	}

	// Import 250 tasks in every format the SDK passes through: bare data,
	// wrapped data with annotations and predictions, and the $undefined$
	// placeholder of blob-URL imports.
	var tasks []any
	for i := range 250 {
		switch i % 5 {
		case 0:
			tasks = append(tasks, map[string]any{"image": fmt.Sprintf("https://example.com/%d.jpg", i)})
		case 1:
			tasks = append(tasks, map[string]any{
				"data":        map[string]any{"image": fmt.Sprintf("https://example.com/%d.jpg", i)},
				"meta":        map[string]any{"source": "sdk-test"},
				"annotations": []any{map[string]any{"result": choice("Cat"), "lead_time": 2.5, "completed_by": env.user.ID}},
				"predictions": []any{map[string]any{"result": choice("Dog"), "score": 0.9, "model_version": "v1"}},
			})
		case 2:
			tasks = append(tasks, map[string]any{"$undefined$": fmt.Sprintf("azure-blob://container/%d.jpg", i)})
		case 3:
			tasks = append(tasks, map[string]any{
				"data":        map[string]any{"image": fmt.Sprintf("https://example.com/%d.jpg", i)},
				"annotations": []any{map[string]any{"result": []any{}, "was_cancelled": true}},
			})
		case 4:
			tasks = append(tasks, map[string]any{"data": map[string]any{"image": fmt.Sprintf("https://example.com/%d.jpg", i), "caption": "x"}})
		}
	}
	res := sdk.importTasks(first.ID, tasks)
	if res.TaskCount != 250 || res.AnnotationCount != 100 || res.PredictionCount != 50 || len(res.TaskIDs) != 250 {
		t.Fatalf("import = %+v, want 250 tasks, 100 annotations, 50 predictions and 250 task ids", res)
	}
	if strings.Join(res.DataColumns, ",") != "$undefined$,caption,image" || res.FileUploadIDs == nil {
		t.Errorf("import data_columns = %q, file_upload_ids = %v", res.DataColumns, res.FileUploadIDs)
	}
	if p := sdk.getProject(first.ID); p.TaskNumber != 250 {
		t.Errorf("project task_number = %d, want 250", p.TaskNumber)
	}

	// Tasks: 250 by 100 is three pages, then the SDK stops at the 404.
	listed, pages, total, totalAnnotations := sdk.listTasks(first.ID, 100)
	if len(listed) != 250 || pages != 3 || total != 250 {
		t.Fatalf("listed %d tasks on %d pages, total %d; want 250 on 3, total 250", len(listed), pages, total)
	}
	if totalAnnotations != 50 { // cancelled annotations do not count
		t.Errorf("total_annotations = %d, want 50", totalAnnotations)
	}
	// The default page size is 100 as well.
	if listed, pages, _, _ := sdk.listTasks(first.ID, 0); len(listed) != 250 || pages != 3 {
		t.Errorf("default page size: %d tasks on %d pages", len(listed), pages)
	}
	byID := map[int64]sdkTask{}
	for i, task := range listed {
		if task.ID != res.TaskIDs[i] {
			t.Fatalf("task %d has id %d, want %d (import order)", i, task.ID, res.TaskIDs[i])
		}
		byID[task.ID] = task
		if task.Project != first.ID || task.Overlap != 1 || task.Annotations == nil || task.Predictions == nil {
			t.Fatalf("task %+v lacks project, overlap or the fields=all lists", task)
		}
		if _, ok := task.Data["image"]; !ok {
			t.Fatalf("task %d data %v has no image key", i, task.Data)
		}
		if _, ok := task.Data["$undefined$"]; ok {
			t.Fatalf("task %d data %v still has the placeholder key", i, task.Data)
		}
		switch i % 5 {
		case 1:
			if task.TotalAnnotations != 1 || task.TotalPredictions != 1 || !task.IsLabeled || len(task.Annotations) != 1 || task.Meta["source"] != "sdk-test" {
				t.Fatalf("annotated task %d = %+v", i, task)
			}
			if a := task.Annotations[0]; a.LeadTime != 2.5 || a.CompletedBy != env.user.ID || len(a.Result) != 1 {
				t.Fatalf("imported annotation = %+v", a)
			}
		case 2:
			if want := fmt.Sprintf("azure-blob://container/%d.jpg", i); task.Data["image"] != want {
				t.Fatalf("placeholder task %d data = %v, want image %q", i, task.Data, want)
			}
		case 3:
			if task.CancelledAnnotations != 1 || task.TotalAnnotations != 0 || len(task.Annotations) != 1 || !task.Annotations[0].WasCancelled {
				t.Fatalf("cancelled task %d = %+v", i, task)
			}
		}
	}
	// Without fields=all the SDK-less caller gets tasks without the lists.
	var plain struct {
		Tasks []map[string]json.RawMessage `json:"tasks"`
	}
	env.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/?project=%d&page_size=1", first.ID), nil).json(t, &plain)
	if len(plain.Tasks) != 1 {
		t.Fatalf("page_size=1 gave %d tasks", len(plain.Tasks))
	}
	if _, ok := plain.Tasks[0]["annotations"]; ok {
		t.Errorf("task list without fields=all includes annotations")
	}

	// Annotations: create, read, update, delete, with the task's counters
	// following each step.
	target := res.TaskIDs[0]
	if got := sdk.getTask(target); got.TotalAnnotations != 0 || got.IsLabeled || len(got.Annotations) != 0 || got.Annotations == nil {
		t.Fatalf("task before annotating = %+v", got)
	}
	a := sdk.createAnnotation(target, map[string]any{"result": choice("Cat"), "was_cancelled": false, "ground_truth": true, "lead_time": 4.0})
	if a.ID == 0 || a.Task != target || a.Project != first.ID || a.CompletedBy != env.user.ID || !a.GroundTruth || a.LeadTime != 4 {
		t.Fatalf("created annotation = %+v", a)
	}
	if !strings.Contains(a.CreatedUsername, "alice@example.com") || a.CreatedAgo == "" {
		t.Errorf("created_username %q / created_ago %q", a.CreatedUsername, a.CreatedAgo)
	}
	if got := sdk.getTask(target); got.TotalAnnotations != 1 || !got.IsLabeled || len(got.Annotations) != 1 || got.Annotations[0].ID != a.ID {
		t.Fatalf("task after annotating = %+v", got)
	}
	var list []sdkAnnotation
	env.must(http.StatusOK, "GET", fmt.Sprintf("/api/tasks/%d/annotations/", target), nil).json(t, &list)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("annotation list = %+v", list)
	}
	u := sdk.updateAnnotation(a.ID, map[string]any{"result": choice("Dog"), "was_cancelled": true})
	if !u.WasCancelled || !strings.Contains(string(u.Result[0]), "Dog") || !u.GroundTruth {
		t.Fatalf("updated annotation = %+v", u)
	}
	if got := sdk.getTask(target); got.TotalAnnotations != 0 || got.CancelledAnnotations != 1 {
		t.Fatalf("task after cancelling = %+v", got)
	}
	var fetched sdkAnnotation
	env.must(http.StatusOK, "GET", fmt.Sprintf("/api/annotations/%d/", a.ID), nil).json(t, &fetched)
	if fetched.ID != a.ID || !fetched.WasCancelled {
		t.Fatalf("fetched annotation = %+v", fetched)
	}
	env.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/annotations/%d/", a.ID), nil)
	env.must(http.StatusNotFound, "GET", fmt.Sprintf("/api/annotations/%d/", a.ID), nil)
	if got := sdk.getTask(target); got.TotalAnnotations != 0 || got.CancelledAnnotations != 0 || got.IsLabeled || len(got.Annotations) != 0 {
		t.Fatalf("task after deleting = %+v", got)
	}

	// Task update and delete.
	var patched sdkTask
	env.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/tasks/%d/", target), map[string]any{"data": map[string]any{"image": "new.jpg"}, "meta": map[string]any{"k": "v"}}).json(t, &patched)
	if patched.Data["image"] != "new.jpg" || patched.Meta["k"] != "v" {
		t.Fatalf("patched task = %+v", patched)
	}
	env.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/tasks/%d/", target), nil)
	env.must(http.StatusNotFound, "GET", fmt.Sprintf("/api/tasks/%d/", target), nil)
	if listed, _, total, _ := sdk.listTasks(first.ID, 100); len(listed) != 249 || total != 249 {
		t.Errorf("after deleting one task: %d listed, total %d; want 249", len(listed), total)
	}

	// Project update and delete.
	var renamed sdkProject
	env.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/projects/%d/", first.ID), map[string]any{"title": "Renamed"}).json(t, &renamed)
	if renamed.Title != "Renamed" || renamed.LabelConfig != imageConfig {
		t.Fatalf("renamed project = %+v", renamed)
	}
	env.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/projects/%d/", first.ID), nil)
	env.must(http.StatusNotFound, "GET", fmt.Sprintf("/api/projects/%d/", first.ID), nil)
	if projects, _ := sdk.listProjects(); len(projects) != 34 {
		t.Errorf("after deleting one project: %d listed, want 34", len(projects))
	}
}

// TestTrailingSlashes checks that paths match Label Studio's exactly: the
// other spelling is a 404 that names the right path, never a redirect or 500.
func TestTrailingSlashes(t *testing.T) {
	env := newTestEnv(t)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("Slashes", imageConfig)
	tests := []struct {
		method, path, right string
	}{
		{"POST", fmt.Sprintf("/api/projects/%d/import/", p.ID), fmt.Sprintf("/api/projects/%d/import", p.ID)},
		{"GET", fmt.Sprintf("/api/projects/%d", p.ID), fmt.Sprintf("/api/projects/%d/", p.ID)},
		{"GET", "/api/projects", "/api/projects/"},
		{"GET", "/api/tasks?project=1", "/api/tasks/"},
		{"GET", "/api/annotations/1", "/api/annotations/1/"},
		{"POST", "/api/tasks/1/annotations", "/api/tasks/1/annotations/"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := env.request(tt.method, tt.path, []any{map[string]any{"image": "a.jpg"}})
			if r.status != http.StatusNotFound {
				t.Fatalf("status %d, want 404; body %s", r.status, r.raw)
			}
			if e := r.envelope(t); !strings.Contains(e.Detail, tt.right) {
				t.Errorf("detail %q does not point to %s", e.Detail, tt.right)
			}
		})
	}
	if p := sdk.getProject(p.ID); p.TaskNumber != 0 {
		t.Errorf("a slash-mismatched import wrote %d tasks", p.TaskNumber)
	}

	// A known path under an unsupported method is a 405 naming the method.
	r := env.request("PUT", fmt.Sprintf("/api/projects/%d/", p.ID), map[string]any{})
	if r.status != http.StatusMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "PATCH") {
		t.Fatalf("PUT project: status %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	if e := r.envelope(t); e.Detail != `Method "PUT" not allowed.` {
		t.Errorf("405 detail %q", e.Detail)
	}
	// Unknown paths answer in the envelope too.
	if r := env.request("GET", "/api/nothing-here/", nil); r.status != http.StatusNotFound || r.envelope(t).Detail != "Not found." {
		t.Errorf("unknown path: %d %s", r.status, r.raw)
	}
}
