package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/jobs"
)

// TestTargetStorageKeyTemplatesAndDataset drives the extension fields
// through the API: bad templates and formats are 400s naming the field
// and the problem, the preview renders the keys on a real task (or says
// why the task cannot fill them), and a sync writes both the templated
// objects and the dataset export.
func TestTargetStorageKeyTemplatesAndDataset(t *testing.T) {
	e := newExportAPIEnv(t)
	p := e.project
	e.call(201, "POST", fmt.Sprintf("/api/projects/%d/import", p), []map[string]any{{"text": "one", "name": "alpha"}, {"text": "two"}})
	var tasks struct{ Tasks []struct{ ID int64 } }
	e.call(200, "GET", fmt.Sprintf("/api/tasks/?project=%d", p), nil).json(t, &tasks)
	t1, t2 := tasks.Tasks[0].ID, tasks.Tasks[1].ID
	var a1 struct{ ID int64 }
	e.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", t1), map[string]any{"result": exportChoice("a")}).json(t, &a1)
	e.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", t2), map[string]any{"result": exportChoice("a")})

	base := func(extra map[string]any) map[string]any {
		b := map[string]any{"project": p, "title": "out", "container": e.container, "prefix": "labels",
			"account_name": azuretest.AccountName, "account_key": azuretest.AccountKey, "endpoint": e.az.BlobEndpoint, "sync_on_create": false}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	for _, tc := range []struct {
		body         map[string]any
		field, names string
	}{
		{map[string]any{"key_template": "{data.name}/{nope}"}, "key_template", "{nope}"},
		{map[string]any{"key_template": "{annotation_id}", "export_format": "task"}, "key_template", "{annotation_id}"},
		{map[string]any{"key_template": "{task_id"}, "key_template", "Unclosed"},
		{map[string]any{"key_template": 7}, "key_template", "string"},
		{map[string]any{"dataset_format": "PARQUET"}, "dataset_format", "PARQUET"},
		{map[string]any{"dataset_format": "COCO"}, "dataset_format", "does not fit"}, // a text project
		{map[string]any{"dataset_format": "JSON", "dataset_key_template": "{task_id}"}, "dataset_key_template", "{task_id}"},
		{map[string]any{"dataset_format": "JSON", "dataset_interval_minutes": -1}, "dataset_interval_minutes", "between 1 and 525600"},
		{map[string]any{"dataset_format": "JSON", "dataset_interval_minutes": 525601}, "dataset_interval_minutes", "between 1 and 525600"},
		{map[string]any{"dataset_format": "JSON", "dataset_interval_minutes": 1e15}, "dataset_interval_minutes", "between 1 and 525600"},
		{map[string]any{"dataset_format": "JSON", "dataset_interval_minutes": "60"}, "dataset_interval_minutes", "integer"},
	} {
		r := e.call(400, "POST", "/api/storages/export/azure", base(tc.body))
		env := r.envelope(t)
		if msgs := env.ValidationErrors[tc.field]; len(msgs) == 0 || !strings.Contains(strings.Join(msgs, " "), tc.names) {
			t.Errorf("%v: validation errors %v, want %s naming %s", tc.body, env.ValidationErrors, tc.field, tc.names)
		}
		// The preview refuses the same settings the same way.
		e.call(400, "POST", "/api/storages/export/azure/preview_keys", base(tc.body))
	}

	// Preview before saving: the first annotated task, then one that
	// lacks the field.
	var pv struct {
		Task, Annotation int64
		ObjectKey        string `json:"object_key"`
		ObjectKeyError   string `json:"object_key_error"`
		DatasetKey       string `json:"dataset_key"`
	}
	settings := map[string]any{"key_template": "{data.name}/{task_id}-{annotation_id}", "dataset_format": "json_min",
		"dataset_key_template": "datasets/{project_id}-{format}"}
	e.call(200, "POST", "/api/storages/export/azure/preview_keys", base(settings)).json(t, &pv)
	if pv.Task != t1 || pv.Annotation != a1.ID || pv.ObjectKey != fmt.Sprintf("labels/alpha/%d-%d.json", t1, a1.ID) ||
		pv.DatasetKey != fmt.Sprintf("labels/datasets/%d-json_min.json", p) || pv.ObjectKeyError != "" {
		t.Fatalf("preview = %+v", pv)
	}
	withTask := base(settings)
	withTask["task"] = t2
	e.call(200, "POST", "/api/storages/export/azure/preview_keys", withTask).json(t, &pv)
	if pv.Task != t2 || pv.ObjectKey != "" || !strings.Contains(pv.ObjectKeyError, `"name"`) {
		t.Fatalf("preview on a task without the field = %+v", pv)
	}
	withTask["task"] = 999999
	e.call(400, "POST", "/api/storages/export/azure/preview_keys", withTask)

	// Saved, the fields come back; the format is spelled as Label Studio does.
	var st map[string]any
	e.call(201, "POST", "/api/storages/export/azure", base(settings)).json(t, &st)
	if st["key_template"] != settings["key_template"] || st["dataset_format"] != "JSON_MIN" || st["dataset_key_template"] != settings["dataset_key_template"] {
		t.Fatalf("created storage %v", st)
	}
	path := fmt.Sprintf("/api/storages/export/azure/%v", st["id"])

	// A sync writes the templated objects, reports the task lacking the
	// field, and writes the dataset export.
	e.call(200, "POST", path+"/sync", nil)
	done := e.waitSynced(path)
	meta, _ := done["meta"].(map[string]any)
	failures, _ := meta["failures"].([]any)
	if done["status"] != "completed_with_errors" || meta["failed"] != float64(1) || len(failures) != 1 ||
		!strings.Contains(fmt.Sprint(failures[0]), `"name"`) {
		t.Fatalf("sync ended %v", done)
	}
	datasetKey := fmt.Sprintf("labels/datasets/%d-json_min.json", p)
	for range 600 {
		e.call(200, "GET", path, nil).json(t, &st)
		if ds, _ := st["dataset_state"].(map[string]any); ds["status"] == "completed" || ds["status"] == "failed" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ds, _ := st["dataset_state"].(map[string]any); ds["status"] != "completed" || ds["key"] != datasetKey {
		t.Fatalf("dataset state %v", st["dataset_state"])
	}
	objs := e.objects()
	if _, ok := objs[fmt.Sprintf("labels/alpha/%d-%d.json", t1, a1.ID)]; !ok {
		t.Errorf("no templated object among %v", objs)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(objs[datasetKey]), &items); err != nil || len(items) != 2 {
		t.Fatalf("dataset object %q: %v", objs[datasetKey], err)
	}

	// An annotation saved on the task lacking the field fails its export
	// job, and the storage says which task and field.
	e.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", t2), map[string]any{"result": exportChoice("a")})
	for range 600 {
		if e.call(200, "GET", path, nil).json(t, &st); st["status"] == "failed" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tb, _ := st["traceback"].(string); st["status"] != "failed" || !strings.Contains(tb, fmt.Sprintf(`task %d has no data field "name"`, t2)) {
		t.Fatalf("after an export of task %d: %v", t2, st)
	}

	// A schedule: saved, refused out of range on PATCH too, and null
	// turns it off.
	e.call(200, "PATCH", path, map[string]any{"dataset_interval_minutes": 525600}).json(t, &st)
	if st["dataset_interval_minutes"] != float64(525600) {
		t.Fatalf("patched storage %v", st)
	}
	r := e.call(400, "PATCH", path, map[string]any{"dataset_interval_minutes": 525601})
	if msgs := r.envelope(t).ValidationErrors["dataset_interval_minutes"]; len(msgs) == 0 {
		t.Fatalf("PATCH past a year: %s", r.raw)
	}

	// PATCH null turns the dataset export and its schedule off, and the
	// template back to ids.
	e.call(200, "PATCH", path, map[string]any{"dataset_format": nil, "dataset_interval_minutes": nil, "key_template": ""}).json(t, &st)
	if st["dataset_format"] != nil || st["dataset_interval_minutes"] != float64(0) || st["key_template"] != "" {
		t.Fatalf("patched storage %v", st)
	}
}

// TestScheduledDatasetExportWritesTheObject: a storage with a dataset
// schedule, never synced, has its dataset export queued by a scheduler
// tick (the job the periodic job inserts, worked by the queue), and the
// queue's workers write the object; another tick within the interval
// queues nothing.
func TestScheduledDatasetExportWritesTheObject(t *testing.T) {
	e := newExportAPIEnv(t)
	p := e.project
	e.call(201, "POST", fmt.Sprintf("/api/projects/%d/import", p), []map[string]any{{"text": "one"}})
	var tasks struct{ Tasks []struct{ ID int64 } }
	e.call(200, "GET", fmt.Sprintf("/api/tasks/?project=%d", p), nil).json(t, &tasks)
	e.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", tasks.Tasks[0].ID), map[string]any{"result": exportChoice("a")})
	var st map[string]any
	e.call(201, "POST", "/api/storages/export/azure", map[string]any{"project": p, "container": e.container,
		"account_name": azuretest.AccountName, "account_key": azuretest.AccountKey, "endpoint": e.az.BlobEndpoint,
		"sync_on_create": false, "dataset_format": "JSON", "dataset_key_template": "scheduled", "dataset_interval_minutes": 60}).json(t, &st)
	if st["dataset_interval_minutes"] != float64(60) {
		t.Fatalf("created storage %v", st)
	}
	path := fmt.Sprintf("/api/storages/export/azure/%v", st["id"])
	if _, err := e.db.River().Insert(t.Context(), blobmark.ScheduleSourceSyncsJob{}, nil); err != nil {
		t.Fatal(err)
	}
	for range 600 {
		e.call(200, "GET", path, nil).json(t, &st)
		if ds, _ := st["dataset_state"].(map[string]any); ds["status"] == "completed" || ds["status"] == "failed" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ds, _ := st["dataset_state"].(map[string]any); ds["status"] != "completed" || ds["key"] != "scheduled.json" {
		t.Fatalf("dataset state %v", st["dataset_state"])
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(e.objects()["scheduled.json"]), &items); err != nil || len(items) != 1 {
		t.Fatalf("dataset object: %v, %d tasks", err, len(items))
	}
	if n, err := e.db.EnqueueDueDatasetExports(t.Context(), jobs.ScheduleInterval); err != nil || n != 0 {
		t.Fatalf("next tick enqueued %d, %v; want nothing within the interval", n, err)
	}
}
