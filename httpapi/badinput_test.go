package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
)

// TestBadInput sends every endpoint malformed and hostile input; each must
// be a 4xx in Label Studio's envelope whose text names the problem.
func TestBadInput(t *testing.T) {
	env := newTestEnv(t, func(s *httpapi.Server) { s.MaxBodyBytes = 4 << 10 })
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("Bad input", imageConfig)
	res := sdk.importTasks(p.ID, []any{map[string]any{"image": "a.jpg"}})
	task := res.TaskIDs[0]
	ann := sdk.createAnnotation(task, map[string]any{"result": choice("Cat")})

	proj := fmt.Sprintf("/api/projects/%d/", p.ID)
	imp := fmt.Sprintf("/api/projects/%d/import", p.ID)
	tsk := fmt.Sprintf("/api/tasks/%d/", task)
	tskAnns := fmt.Sprintf("/api/tasks/%d/annotations/", task)
	annPath := fmt.Sprintf("/api/annotations/%d/", ann.ID)
	huge := `{"title":"` + strings.Repeat("x", 5<<10) + `"}`
	hugeImport := `[{"image":"` + strings.Repeat("x", 5<<10) + `"}]`

	tests := []struct {
		name        string
		method      string
		path        string
		body        any // string: raw bytes; *chunked: sent without a length
		status      int
		contains    []string // in the body
		field       string   // a validation_errors key that must be present
		writesNoRow bool     // the project must still have its one task afterwards
	}{
		// Projects.
		{name: "project malformed JSON", method: "POST", path: "/api/projects/", body: `{"title": "x",}`, status: 400, contains: []string{"JSON parse error", "offset 14"}},
		{name: "project truncated JSON", method: "POST", path: "/api/projects/", body: `{"title": "x"`, status: 400, contains: []string{"JSON parse error"}},
		{name: "project trailing garbage", method: "POST", path: "/api/projects/", body: `{"title": "x"} {}`, status: 400, contains: []string{"JSON parse error"}},
		{name: "project body is an array", method: "POST", path: "/api/projects/", body: `[1]`, status: 400, contains: []string{"Expected a JSON object", "array"}},
		{name: "project title wrong type", method: "POST", path: "/api/projects/", body: `{"title": 5}`, status: 400, field: "title", contains: []string{"a string", "number"}},
		{name: "project maximum_annotations fraction", method: "POST", path: "/api/projects/", body: `{"maximum_annotations": 1.5}`, status: 400, field: "maximum_annotations", contains: []string{"an integer"}},
		{name: "project maximum_annotations zero", method: "POST", path: "/api/projects/", body: `{"maximum_annotations": 0}`, status: 400, field: "maximum_annotations"},
		{name: "project title too long", method: "POST", path: "/api/projects/", body: map[string]any{"title": strings.Repeat("t", 51)}, status: 400, field: "title", contains: []string{"no more than 50 characters"}},
		{name: "project invalid label config", method: "POST", path: "/api/projects/", body: map[string]any{"label_config": "<View><Image name='i' value='$image'></View>"}, status: 400, field: "label_config", contains: []string{"not valid XML"}},
		{name: "project label config without View", method: "POST", path: "/api/projects/", body: map[string]any{"label_config": "<Image name='i' value='$image'/>"}, status: 400, field: "label_config", contains: []string{"<View>"}},
		{name: "project several problems at once", method: "POST", path: "/api/projects/", body: map[string]any{"title": strings.Repeat("t", 51), "label_config": "nope"}, status: 400, field: "label_config", contains: []string{`"title"`}},
		{name: "project body too large", method: "POST", path: "/api/projects/", body: huge, status: 413, contains: []string{"4 KiB"}},
		{name: "project body too large, no length", method: "POST", path: "/api/projects/", body: chunked(huge), status: 413, contains: []string{"4 KiB"}},
		{name: "project multipart upload", method: "POST", path: "/api/projects/", body: multipart("x"), status: 400, contains: []string{"multipart/form-data"}},
		{name: "project unknown id", method: "GET", path: "/api/projects/999999/", status: 404},
		{name: "project non-numeric id", method: "GET", path: "/api/projects/abc/", status: 404},
		{name: "project negative id", method: "GET", path: "/api/projects/-1/", status: 404},
		{name: "project id overflow", method: "GET", path: "/api/projects/99999999999999999999999/", status: 404},
		{name: "project patch unknown id", method: "PATCH", path: "/api/projects/999999/", body: map[string]any{"title": "x"}, status: 404},
		{name: "project patch bad label config", method: "PATCH", path: proj, body: map[string]any{"label_config": "<View>"}, status: 400, field: "label_config"},
		{name: "project patch wrong type", method: "PATCH", path: proj, body: `{"show_skip_button": "yes"}`, status: 400, field: "show_skip_button", contains: []string{"a boolean"}},
		{name: "project delete unknown id", method: "DELETE", path: "/api/projects/999999/", status: 404},
		{name: "project page zero", method: "GET", path: "/api/projects/?page=0", status: 404, contains: []string{"Invalid page."}},
		{name: "project page abc", method: "GET", path: "/api/projects/?page=abc", status: 404, contains: []string{"Invalid page."}},
		{name: "project page past the end", method: "GET", path: "/api/projects/?page=2", status: 404, contains: []string{"Invalid page."}},
		{name: "project page huge", method: "GET", path: "/api/projects/?page=99999999999999999", status: 404, contains: []string{"Invalid page."}},
		{name: "project page_size negative", method: "GET", path: "/api/projects/?page_size=-1", status: 400, field: "page_size"},
		{name: "project page_size abc", method: "GET", path: "/api/projects/?page_size=abc", status: 400, field: "page_size"},

		// Import.
		{name: "import malformed JSON", method: "POST", path: imp, body: `[{"image": "a.jpg"},]`, status: 400, contains: []string{"JSON parse error", "offset"}, writesNoRow: true},
		{name: "import a string", method: "POST", path: imp, body: `"tasks"`, status: 400, contains: []string{"JSON array of tasks", "a string"}, writesNoRow: true},
		{name: "import empty body", method: "POST", path: imp, body: ``, status: 400, contains: []string{"empty"}, writesNoRow: true},
		{name: "import empty array", method: "POST", path: imp, body: `[]`, status: 400, field: "tasks", contains: []string{"No tasks"}, writesNoRow: true},
		{name: "import task not an object", method: "POST", path: imp, body: `[{"image": "a"}, 7]`, status: 400, field: "tasks", contains: []string{"Task 1:", "a number"}, writesNoRow: true},
		{name: "import data not an object", method: "POST", path: imp, body: `[{"data": "a.jpg"}]`, status: 400, field: "tasks", contains: []string{"Task 0:", `\"data\" must be a JSON object`}, writesNoRow: true},
		{name: "import meta not an object", method: "POST", path: imp, body: `[{"data": {"image": "a"}, "meta": [1]}]`, status: 400, field: "tasks", contains: []string{"Task 0:", "meta"}, writesNoRow: true},
		{name: "import annotations without data", method: "POST", path: imp, body: `[{"image": "a", "annotations": []}]`, status: 400, field: "tasks", contains: []string{"Task 0:", `\"data\"`}, writesNoRow: true},
		{name: "import annotations not a list", method: "POST", path: imp, body: `[{"data": {"image": "a"}, "annotations": {"result": []}}]`, status: 400, field: "tasks", contains: []string{"annotations", "a list"}, writesNoRow: true},
		{name: "import annotation result not a list", method: "POST", path: imp, body: `[{"data": {"image": "a"}, "annotations": [{"result": "Cat"}]}]`, status: 400, field: "tasks", contains: []string{"Task 0, annotation 0", "result"}, writesNoRow: true},
		{name: "import annotation wrong type", method: "POST", path: imp, body: `[{"data": {"image": "a"}, "annotations": [{"result": [], "was_cancelled": "no"}]}]`, status: 400, field: "tasks", contains: []string{"Task 0, annotation 0", "was_cancelled", "a boolean"}, writesNoRow: true},
		{name: "import annotation unknown user", method: "POST", path: imp, body: `[{"data": {"image": "a"}, "annotations": [{"result": [], "completed_by": 4242}]}]`, status: 400, field: "tasks", contains: []string{"Task 0, annotation 0", "4242"}, writesNoRow: true},
		{name: "import prediction score wrong type", method: "POST", path: imp, body: `[{"data": {"image": "a"}, "predictions": [{"result": [], "score": "high"}]}]`, status: 400, field: "tasks", contains: []string{"Task 0, prediction 0", "score", "a number"}, writesNoRow: true},
		{name: "import prediction result not a list", method: "POST", path: imp, body: `[{"data": {"image": "a"}, "predictions": [{"result": {}}]}]`, status: 400, field: "tasks", contains: []string{"Task 0, prediction 0", "result"}, writesNoRow: true},
		{name: "import body too large", method: "POST", path: imp, body: hugeImport, status: 413, contains: []string{"4 KiB"}, writesNoRow: true},
		{name: "import body too large, no length", method: "POST", path: imp, body: chunked(hugeImport), status: 413, contains: []string{"4 KiB"}, writesNoRow: true},
		{name: "import unknown project", method: "POST", path: "/api/projects/999999/import", body: `[{"image": "a"}]`, status: 404},
		{name: "import non-numeric project", method: "POST", path: "/api/projects/x/import", body: `[{"image": "a"}]`, status: 404},

		// Tasks.
		{name: "tasks without project", method: "GET", path: "/api/tasks/?page=1", status: 400, field: "project"},
		{name: "tasks non-numeric project", method: "GET", path: "/api/tasks/?project=abc", status: 400, field: "project"},
		{name: "tasks unknown project", method: "GET", path: "/api/tasks/?project=999999", status: 404},
		{name: "tasks page zero", method: "GET", path: fmt.Sprintf("/api/tasks/?project=%d&page=0", p.ID), status: 404, contains: []string{"Invalid page."}},
		{name: "tasks page abc", method: "GET", path: fmt.Sprintf("/api/tasks/?project=%d&page=abc", p.ID), status: 404, contains: []string{"Invalid page."}},
		{name: "tasks page past the end", method: "GET", path: fmt.Sprintf("/api/tasks/?project=%d&page=2", p.ID), status: 404, contains: []string{"Invalid page."}},
		{name: "tasks page_size negative", method: "GET", path: fmt.Sprintf("/api/tasks/?project=%d&page_size=-1", p.ID), status: 400, field: "page_size"},
		{name: "task unknown id", method: "GET", path: "/api/tasks/999999/", status: 404},
		{name: "task non-numeric id", method: "GET", path: "/api/tasks/abc/", status: 404},
		{name: "task patch data not an object", method: "PATCH", path: tsk, body: `{"data": [1, 2]}`, status: 400, field: "data"},
		{name: "task patch data null", method: "PATCH", path: tsk, body: `{"data": null}`, status: 400, field: "data"},
		{name: "task patch meta a string", method: "PATCH", path: tsk, body: `{"meta": "x"}`, status: 400, field: "meta"},
		{name: "task patch malformed", method: "PATCH", path: tsk, body: `{"data": {`, status: 400, contains: []string{"JSON parse error"}},
		{name: "task patch unknown id", method: "PATCH", path: "/api/tasks/999999/", body: `{"data": {"image": "b"}}`, status: 404},
		{name: "task delete unknown id", method: "DELETE", path: "/api/tasks/999999/", status: 404},

		// Annotations.
		{name: "annotation result a string", method: "POST", path: tskAnns, body: `{"result": "Cat"}`, status: 400, field: "result", contains: []string{"a string"}},
		{name: "annotation result an object", method: "POST", path: tskAnns, body: `{"result": {"value": 1}}`, status: 400, field: "result"},
		{name: "annotation result null", method: "POST", path: tskAnns, body: `{"result": null}`, status: 400, field: "result"},
		{name: "annotation was_cancelled wrong type", method: "POST", path: tskAnns, body: `{"result": [], "was_cancelled": 1}`, status: 400, field: "was_cancelled", contains: []string{"a boolean"}},
		{name: "annotation lead_time a string", method: "POST", path: tskAnns, body: `{"result": [], "lead_time": "fast"}`, status: 400, field: "lead_time", contains: []string{"a number"}},
		{name: "annotation lead_time negative", method: "POST", path: tskAnns, body: `{"result": [], "lead_time": -3}`, status: 400, field: "lead_time"},
		{name: "annotation malformed", method: "POST", path: tskAnns, body: `{"result": [}`, status: 400, contains: []string{"JSON parse error"}},
		{name: "annotation unknown task", method: "POST", path: "/api/tasks/999999/annotations/", body: `{"result": []}`, status: 404},
		{name: "annotation non-numeric task", method: "POST", path: "/api/tasks/abc/annotations/", body: `{"result": []}`, status: 404},
		{name: "annotations of unknown task", method: "GET", path: "/api/tasks/999999/annotations/", status: 404},
		{name: "annotation unknown id", method: "GET", path: "/api/annotations/999999/", status: 404},
		{name: "annotation non-numeric id", method: "GET", path: "/api/annotations/abc/", status: 404},
		{name: "annotation patch result a number", method: "PATCH", path: annPath, body: `{"result": 3}`, status: 400, field: "result"},
		{name: "annotation patch unknown id", method: "PATCH", path: "/api/annotations/999999/", body: `{"result": []}`, status: 404},
		{name: "annotation delete unknown id", method: "DELETE", path: "/api/annotations/999999/", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *response
			if mp, ok := tt.body.(multipartBody); ok {
				r = env.requestWith(tt.method, tt.path, string(mp), map[string][]string{
					"Authorization": {"Token " + env.token},
					"Content-Type":  {"multipart/form-data; boundary=xyz"},
				})
			} else {
				r = env.request(tt.method, tt.path, tt.body)
			}
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.raw)
			}
			e := r.envelope(t)
			if e.Detail == "" {
				t.Errorf("empty detail: %s", r.raw)
			}
			for _, want := range tt.contains {
				if !strings.Contains(r.text(), want) {
					t.Errorf("body %s does not contain %q", r.raw, want)
				}
			}
			if tt.field != "" {
				if len(e.ValidationErrors[tt.field]) == 0 {
					t.Errorf("validation_errors %v has nothing on %q", e.ValidationErrors, tt.field)
				}
				if e.Detail != "Validation error" {
					t.Errorf("detail %q, want Label Studio's \"Validation error\"", e.Detail)
				}
			}
			if tt.writesNoRow {
				if got := sdk.getProject(p.ID); got.TaskNumber != 1 {
					t.Errorf("after a rejected import the project has %d tasks, want 1", got.TaskNumber)
				}
			}
		})
	}
	if strings.Contains(env.logs.String(), "panic") {
		t.Errorf("bad input caused a panic:\n%s", env.logs.String())
	}
}

// TestStorageSettingsBounds sends a source storage every setting out of its
// range at each endpoint that accepts one (create, PATCH, validate, files
// preview): each is a 400 naming the field and the range, and a PATCH
// changes nothing. The bounds themselves are accepted.
func TestStorageSettingsBounds(t *testing.T) {
	env := newTestEnv(t)
	env.api.SourceStorages = env.db
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("Bounds", imageConfig)
	st := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c", Presign: true, PresignTTL: 15,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"},
		Secrets:    blobmark.Secrets{"account_key": "a2V5"}}
	if err := env.db.CreateSourceStorage(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name, field string
		value       any
		says        string // in the field's message
	}{
		{"presign_ttl zero", "presign_ttl", 0, "between 1 and 10080"},
		{"presign_ttl past 7 days", "presign_ttl", 10081, "between 1 and 10080"},
		{"presign_ttl huge", "presign_ttl", 1e15, "between 1 and 10080"},
		{"presign_ttl past int64", "presign_ttl", json.RawMessage("1e20"), "integer"},
		{"presign_ttl fraction", "presign_ttl", 1.5, "integer"},
		{"sync_interval_minutes negative", "sync_interval_minutes", -1, "between 1 and 525600"},
		{"sync_interval_minutes past a year", "sync_interval_minutes", 525601, "between 1 and 525600"},
		{"sync_interval_minutes 10^15", "sync_interval_minutes", 1e15, "between 1 and 525600"},
		{"sync_interval_minutes a string", "sync_interval_minutes", "60", "integer"},
		{"regex_filter too long", "regex_filter", strings.Repeat("(ab)|", 24000), "at most 4096"},
		{"regex_filter too many groups", "regex_filter", strings.Repeat("(a)", 65), "at most 64"},
		{"regex_filter too complex", "regex_filter", strings.Repeat(`[a-z]{1000}`, 11), "more than 10000 instructions"},
	}
	base := map[string]any{"project": p.ID, "container": "c", "account_name": "acct", "account_key": "a2V5"}
	endpoints := []struct{ method, path string }{
		{"POST", "/api/storages/azure/"},
		{"PATCH", fmt.Sprintf("/api/storages/azure/%d", st.ID)},
		{"POST", "/api/storages/azure/validate"},
		{"POST", "/api/storages/azure/files"},
	}
	for _, tt := range bad {
		for _, ep := range endpoints {
			t.Run(tt.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				body := maps.Clone(base)
				body[tt.field] = tt.value
				r := env.request(ep.method, ep.path, body)
				if r.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400; body %.300s", r.status, r.raw)
				}
				e := r.envelope(t)
				if msgs := e.ValidationErrors[tt.field]; len(msgs) == 0 || !strings.Contains(strings.Join(msgs, " "), tt.says) {
					t.Fatalf("validation_errors %v, want a message on %s saying %q", e.ValidationErrors, tt.field, tt.says)
				}
			})
		}
	}
	if got, err := env.db.FindSourceStorageByID(t.Context(), st.ID); err != nil || got.PresignTTL != 15 || got.SyncIntervalMinutes != 0 || got.RegexFilter != "" {
		t.Fatalf("after refused PATCHes the storage is %+v, %v", got, err)
	}
	// The bounds themselves are settings one may save.
	for _, ok := range []map[string]any{
		{"presign_ttl": 1, "sync_interval_minutes": 1, "regex_filter": strings.Repeat("a", 4096)},
		{"presign_ttl": 10080, "sync_interval_minutes": 525600, "regex_filter": strings.Repeat("(a)", 64)},
		{"sync_interval_minutes": 0, "regex_filter": ""},
	} {
		if r := env.request("PATCH", fmt.Sprintf("/api/storages/azure/%d", st.ID), ok); r.status != http.StatusOK {
			t.Errorf("PATCH %v: status %d; body %.300s", ok, r.status, r.raw)
		}
	}
}

// chunked wraps a body so it is sent without a Content-Length.
func chunked(s string) *strings.Reader { return strings.NewReader(s) }

type multipartBody string

func multipart(s string) multipartBody {
	return multipartBody("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.json\"\r\n\r\n" + s + "\r\n--xyz--\r\n")
}

// TestImportAllOrNothing: one bad task among 1,000 rejects the whole import,
// names the task, and writes nothing.
func TestImportAllOrNothing(t *testing.T) {
	env := newTestEnv(t)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("All or nothing", imageConfig)
	tasks := make([]any, 1000)
	for i := range tasks {
		tasks[i] = map[string]any{
			"data":        map[string]any{"image": fmt.Sprintf("%d.jpg", i)},
			"annotations": []any{map[string]any{"result": choice("Cat")}},
		}
	}
	tasks[537] = map[string]any{"data": fmt.Sprintf("%d.jpg", 537)}

	r := env.request("POST", fmt.Sprintf("/api/projects/%d/import", p.ID), tasks)
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400; body %.300s", r.status, r.raw)
	}
	e := r.envelope(t)
	msgs := e.ValidationErrors["tasks"]
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Task 537:") || !strings.Contains(msgs[0], `"data" must be a JSON object`) {
		t.Fatalf("validation_errors = %v, want one message naming task 537 and data", e.ValidationErrors)
	}
	if got := sdk.getProject(p.ID); got.TaskNumber != 0 || got.TotalAnnotationsNumber != 0 {
		t.Fatalf("after the rejected import: %d tasks, %d annotations; want none", got.TaskNumber, got.TotalAnnotationsNumber)
	}
	if listed, _, total, _ := sdk.listTasks(p.ID, 0); len(listed) != 0 || total != 0 {
		t.Fatalf("after the rejected import %d tasks are listed", len(listed))
	}

	// Many bad tasks: the first ones are named, the rest counted.
	for i := range 30 {
		tasks[i*10] = 42
	}
	r = env.request("POST", fmt.Sprintf("/api/projects/%d/import", p.ID), tasks)
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", r.status)
	}
	msgs = r.envelope(t).ValidationErrors["tasks"]
	if len(msgs) != 21 || !strings.Contains(msgs[0], "Task 0:") || !strings.Contains(msgs[20], "11 more") {
		t.Fatalf("validation_errors for 31 bad tasks = %q", msgs)
	}

	// Fixed, the same import goes through whole.
	for i := range tasks {
		tasks[i] = map[string]any{"image": fmt.Sprintf("%d.jpg", i)}
	}
	res := sdk.importTasks(p.ID, tasks)
	if res.TaskCount != 1000 {
		t.Fatalf("imported %d tasks, want 1000", res.TaskCount)
	}

	// A single task object is one task.
	var one struct {
		TaskCount int     `json:"task_count"`
		TaskIDs   []int64 `json:"task_ids"`
	}
	env.must(http.StatusCreated, "POST", fmt.Sprintf("/api/projects/%d/import", p.ID), map[string]any{"image": "single.jpg"}).json(t, &one)
	if one.TaskCount != 1 || one.TaskIDs != nil {
		t.Fatalf("single-object import = %+v, want one task and no task_ids unasked", one)
	}
}

func TestAuthentication(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name   string
		header string
		detail string
	}{
		{"missing", "", "Authentication credentials were not provided."},
		{"wrong token", "Token not-a-real-token", "Invalid token."},
		{"token without key", "Token", "Invalid token header. No credentials provided."},
		{"token with spaces", "Token a b", "Invalid token header. Token string should not contain spaces."},
		{"other scheme", "Basic " + env.token, `Unsupported authorization scheme "Basic"`},
		{"legacy key as bearer", "Bearer " + env.token, "Bearer takes an access token"},
		{"bearer without token", "Bearer", "Invalid token header. No credentials provided."},
		{"bare key", env.token, "Unsupported authorization scheme"},
	}
	paths := []struct{ method, path string }{
		{"GET", "/api/projects/"},
		{"POST", "/api/projects/"},
		{"GET", "/api/projects/1/"},
		{"POST", "/api/projects/1/import"},
		{"GET", "/api/tasks/?project=1"},
		{"DELETE", "/api/tasks/1/"},
		{"POST", "/api/tasks/1/annotations/"},
		{"PATCH", "/api/annotations/1/"},
	}
	for _, tt := range tests {
		for _, p := range paths {
			t.Run(tt.name+" "+p.method+" "+p.path, func(t *testing.T) {
				h := http.Header{}
				if tt.header != "" {
					h.Set("Authorization", tt.header)
				}
				r := env.requestWith(p.method, p.path, nil, h)
				if r.status != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401; body %s", r.status, r.raw)
				}
				if e := r.envelope(t); !strings.HasPrefix(e.Detail, tt.detail) {
					t.Errorf("detail %q, want %q", e.Detail, tt.detail)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}
	// The scheme is case-insensitive, as in DRF.
	r := env.requestWith("GET", "/api/projects/", nil, http.Header{"Authorization": {"token " + env.token}})
	if r.status != http.StatusOK {
		t.Errorf("lower-case scheme: status %d", r.status)
	}
	// Tokens never reach the log.
	if strings.Contains(env.logs.String(), env.token) {
		t.Error("the API token appears in the log")
	}
}

func TestProbes(t *testing.T) {
	var failing error
	env := newTestEnv(t, func(s *httpapi.Server) {
		s.Ready = func(context.Context) error { return failing }
	})
	none := http.Header{}
	if r := env.requestWith("GET", "/healthz", nil, none); r.status != http.StatusOK {
		t.Errorf("/healthz: %d", r.status)
	}
	if r := env.requestWith("GET", "/readyz", nil, none); r.status != http.StatusOK {
		t.Errorf("/readyz while ready: %d", r.status)
	}
	failing = errors.New("connection refused to /secret/path/db")
	r := env.requestWith("GET", "/readyz", nil, none)
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while failing: %d", r.status)
	}
	if strings.Contains(r.text(), "secret") {
		t.Errorf("/readyz leaks the cause to anonymous callers: %s", r.raw)
	}
	if !strings.Contains(env.logs.String(), "connection refused") {
		t.Error("/readyz failure cause not logged")
	}
	// Ready nil: always ready.
	env2 := newTestEnv(t, func(s *httpapi.Server) { s.Ready = nil })
	if r := env2.requestWith("GET", "/readyz", nil, none); r.status != http.StatusOK {
		t.Errorf("/readyz without Ready: %d", r.status)
	}
}

// panickyProjects is the real store with a project lookup that panics, to
// prove a handler panic becomes a logged 500 in the envelope.
type panickyProjects struct{ blobmark.ProjectService }

func (panickyProjects) FindProjectByID(context.Context, int64) (*blobmark.Project, error) {
	panic("boom in FindProjectByID")
}

// failingTasks answers every task lookup with an unexpected error.
type failingTasks struct{ blobmark.TaskService }

func (failingTasks) FindTaskByID(context.Context, int64) (*blobmark.Task, error) {
	return nil, errors.New("disk on fire at /var/lib/secret")
}

func TestInternalErrors(t *testing.T) {
	env := newTestEnv(t, func(s *httpapi.Server) {
		s.Projects = panickyProjects{s.Projects}
		s.Tasks = failingTasks{s.Tasks}
		s.Version = "1.2.3"
	})
	r := env.request("GET", "/api/projects/1/", nil)
	if r.status != http.StatusInternalServerError {
		t.Fatalf("panic: status %d, want 500", r.status)
	}
	e := r.envelope(t)
	if e.Detail != "internal error" || e.Version != "1.2.3" {
		t.Errorf("panic envelope = %+v", e)
	}
	logs := env.logs.String()
	if !strings.Contains(logs, "boom in FindProjectByID") || !strings.Contains(logs, e.ID) {
		t.Errorf("panic and its error id not logged:\n%s", logs)
	}

	r = env.request("GET", "/api/tasks/1/", nil)
	if r.status != http.StatusInternalServerError || strings.Contains(r.text(), "secret") {
		t.Fatalf("internal error: status %d body %s", r.status, r.raw)
	}
	if !strings.Contains(env.logs.String(), "disk on fire") {
		t.Error("internal error detail not logged")
	}
	// The server keeps serving.
	env.must(http.StatusOK, "GET", "/api/projects/", nil)
}

func TestAccessLog(t *testing.T) {
	env := newTestEnv(t)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("Logged", imageConfig)
	sdk.importTasks(p.ID, []any{map[string]any{"image": "private-data.jpg"}})
	env.request("GET", "/api/nothing/", nil)
	logs := env.logs.String()
	for _, want := range []string{
		`route="POST /api/projects/{$}"`,
		`route="POST /api/projects/{id}/import"`,
		"status=201",
		"route=unmatched",
		"status=404",
		"duration=",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{env.token, "private-data.jpg"} {
		if strings.Contains(logs, secret) {
			t.Errorf("access log contains %q", secret)
		}
	}
}

// TestUndefinedKeyFollowsConfig: placeholder data is shown under the first
// data key of the config as it is now, also after the config changes.
func TestUndefinedKeyFollowsConfig(t *testing.T) {
	env := newTestEnv(t)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("Placeholder", `<View><Text name="t" value="$text"/></View>`)
	res := sdk.importTasks(p.ID, []any{map[string]any{"$undefined$": "azure-blob://c/a.txt"}})
	if got := sdk.getTask(res.TaskIDs[0]).Data; got["text"] != "azure-blob://c/a.txt" || len(got) != 1 {
		t.Fatalf("data = %v, want it under text", got)
	}
	env.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/projects/%d/", p.ID),
		map[string]any{"label_config": `<View><Header value="$title"/><Audio name="a" value="$audio"/><Text name="t" value="$text"/></View>`})
	if got := sdk.getTask(res.TaskIDs[0]).Data; got["audio"] != "azure-blob://c/a.txt" {
		t.Fatalf("data = %v, want it under audio", got)
	}
	// A project without data keys shows the placeholder as stored.
	env.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/projects/%d/", p.ID), map[string]any{"label_config": ""})
	if got := sdk.getTask(res.TaskIDs[0]).Data; got["$undefined$"] != "azure-blob://c/a.txt" {
		t.Fatalf("data = %v, want the placeholder kept", got)
	}
	var raw json.RawMessage
	env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/", p.ID), nil).json(t, &raw)
	if !strings.Contains(string(raw), `"label_config":"<View></View>"`) {
		t.Errorf("empty label_config did not become the default: %s", raw)
	}
}
