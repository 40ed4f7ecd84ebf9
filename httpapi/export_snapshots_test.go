package httpapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

type exportObject struct {
	ID               int64
	Status           string
	MD5              string
	Counters         map[string]int
	ConvertedFormats []struct {
		ID         int64
		ExportType string `json:"export_type"`
		Status     string
	} `json:"converted_formats"`
	TaskFilterOptions map[string]any `json:"task_filter_options"`
}

// newSnapshotEnv is a test server with export snapshots and their job
// workers running.
func newSnapshotEnv(t *testing.T) *testEnv {
	env := newTestEnv(t)
	env.api.ExportSnapshots, env.api.ProjectExporter, env.api.Views = env.db, env.db, env.db
	env.srv.Config.Handler = env.api.Handler()
	workers := river.NewWorkers()
	if err := jobs.RegisterExportSnapshots(workers, env.db); err != nil {
		t.Fatal(err)
	}
	if err := env.db.StartJobs(t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.db.StopJobs(context.Background()) })
	return env
}

// waitExport polls an export as the SDK does until it is completed.
func waitExport(t *testing.T, env *testEnv, project, id int64) exportObject {
	t.Helper()
	for range 1000 {
		var x exportObject
		env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/exports/%d", project, id), nil).json(t, &x)
		switch x.Status {
		case "completed":
			return x
		case "failed":
			t.Fatalf("export %d failed", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("export %d never completed", id)
	return exportObject{}
}

func zipFile(t *testing.T, raw []byte, name string) []byte {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range z.File {
		if f.Name == name {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			return b
		}
	}
	t.Fatalf("no %s in the zip", name)
	return nil
}

// TestSDKSnapshotAsCOCO follows the SDK's Enterprise snapshot flow:
// create, poll until completed, convert to COCO, one more GET, download
// right away (the conversion may not have run yet). It then checks that
// the snapshot keeps what it held when taken.
func TestSDKSnapshotAsCOCO(t *testing.T) {
	env := newSnapshotEnv(t)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("boxes", boxConfig)
	ids := sdk.importTasks(p.ID, []any{map[string]any{"image": "azure-blob://c/a.jpg"}, map[string]any{"image": "azure-blob://c/b.jpg"}}).TaskIDs
	box := map[string]any{"result": []any{map[string]any{
		"id": "r", "from_name": "box", "to_name": "image", "type": "rectanglelabels", "original_width": 200, "original_height": 100,
		"value": map[string]any{"x": 10, "y": 20, "width": 50, "height": 50, "rectanglelabels": []string{"Dog"}},
	}}}
	sdk.createAnnotation(ids[0], box)

	var x exportObject
	env.must(http.StatusCreated, "POST", fmt.Sprintf("/api/projects/%d/exports/", p.ID), map[string]any{}).json(t, &x)
	if x.Status != "created" && x.Status != "in_progress" && x.Status != "completed" {
		t.Fatalf("new export status %q", x.Status)
	}
	x = waitExport(t, env, p.ID, x.ID)
	// {} exports every task, as Label Studio's snapshots do.
	if x.Counters["task_number"] != 2 || x.Counters["annotation_number"] != 1 || len(x.MD5) != 32 {
		t.Fatalf("completed export %+v", x)
	}
	var conv struct {
		ExportType      string `json:"export_type"`
		ConvertedFormat int64  `json:"converted_format"`
	}
	env.must(http.StatusOK, "POST", fmt.Sprintf("/api/projects/%d/exports/%d/convert", p.ID, x.ID), map[string]any{"export_type": "COCO"}).json(t, &conv)
	if conv.ExportType != "COCO" || conv.ConvertedFormat == 0 {
		t.Fatalf("convert answered %+v", conv)
	}
	env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/exports/%d", p.ID, x.ID), nil)

	// An annotation made after the snapshot is not in it.
	sdk.createAnnotation(ids[1], box)
	checkCOCO := func() {
		t.Helper()
		r := env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/exports/%d/download?exportType=COCO", p.ID, x.ID), nil)
		if !strings.Contains(r.header.Get("Content-Disposition"), `filename="`) || r.header.Get("Content-Type") != "application/zip" {
			t.Fatalf("download headers %v", r.header)
		}
		var coco struct {
			Images      []map[string]any
			Annotations []struct{ BBox []float64 }
		}
		if err := json.Unmarshal(zipFile(t, r.raw, "result.json"), &coco); err != nil {
			t.Fatal(err)
		}
		// Two images, one box in pixels: 10% × 200, 20% × 100, 50% × 200, 50% × 100.
		if len(coco.Images) != 2 || len(coco.Annotations) != 1 || fmt.Sprint(coco.Annotations[0].BBox) != "[20 20 100 50]" {
			t.Fatalf("COCO %+v", coco)
		}
	}
	checkCOCO() // right after convert, converted or not
	for range 1000 {
		env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/exports/%d", p.ID, x.ID), nil).json(t, &x)
		if len(x.ConvertedFormats) == 1 && x.ConvertedFormats[0].Status == "completed" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(x.ConvertedFormats) != 1 || x.ConvertedFormats[0].Status != "completed" || x.ConvertedFormats[0].ID != conv.ConvertedFormat {
		t.Fatalf("converted formats %+v", x.ConvertedFormats)
	}
	checkCOCO() // from the stored conversion

	r := env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/exports/%d/download?exportType=JSON", p.ID, x.ID), nil)
	var tasks []struct{ Annotations []any }
	if err := json.Unmarshal(r.raw, &tasks); err != nil || len(tasks) != 2 || len(tasks[1].Annotations) != 0 {
		t.Fatalf("JSON download %s (%v)", r.raw, err)
	}

	var list []exportObject
	env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/exports/", p.ID), nil).json(t, &list)
	if len(list) != 1 || list[0].ID != x.ID {
		t.Fatalf("list %+v", list)
	}
	env.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/projects/%d/exports/%d", p.ID, x.ID), nil)
	env.must(http.StatusNotFound, "GET", fmt.Sprintf("/api/projects/%d/exports/%d", p.ID, x.ID), nil)
}

// TestSnapshotFiltersAndBadInput: task filters select what the snapshot
// holds; another project's snapshot is not found; formats that do not
// exist or do not fit are 400s naming export_type.
func TestSnapshotFiltersAndBadInput(t *testing.T) {
	env := newSnapshotEnv(t)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("boxes", boxConfig)
	other := sdk.createProject("other", boxConfig)
	ids := sdk.importTasks(p.ID, []any{map[string]any{"image": "azure-blob://c/a.jpg"}, map[string]any{"image": "azure-blob://c/b.jpg"}}).TaskIDs
	sdk.createAnnotation(ids[1], map[string]any{"result": []any{}})

	var x exportObject
	env.must(http.StatusCreated, "POST", fmt.Sprintf("/api/projects/%d/exports/", p.ID), map[string]any{
		"title": "labeled", "task_filter_options": map[string]any{"only_with_annotations": true}}).json(t, &x)
	if x.TaskFilterOptions["only_with_annotations"] != true {
		t.Fatalf("options not echoed: %+v", x)
	}
	x = waitExport(t, env, p.ID, x.ID)
	r := env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/exports/%d/download", p.ID, x.ID), nil)
	var tasks []struct{ ID int64 }
	if err := json.Unmarshal(r.raw, &tasks); err != nil || len(tasks) != 1 || tasks[0].ID != ids[1] || x.Counters["task_number"] != 1 {
		t.Fatalf("only_with_annotations exported %s (%v), counters %v", r.raw, err, x.Counters)
	}

	base := fmt.Sprintf("/api/projects/%d/exports/%d", other.ID, x.ID)
	env.must(http.StatusNotFound, "GET", base, nil)
	env.must(http.StatusNotFound, "GET", base+"/download?exportType=JSON", nil)
	env.must(http.StatusNotFound, "POST", base+"/convert", map[string]any{"export_type": "COCO"})
	env.must(http.StatusNotFound, "DELETE", base, nil)

	mine := fmt.Sprintf("/api/projects/%d/exports/%d", p.ID, x.ID)
	for _, bad := range []struct{ method, path string }{
		{"POST", mine + "/convert"},
		{"GET", mine + "/download?exportType=NOPE"},
	} {
		var body any
		if bad.method == "POST" {
			body = map[string]any{"export_type": "NOPE"}
		}
		if e := env.must(http.StatusBadRequest, bad.method, bad.path, body).envelope(t); !strings.Contains(fmt.Sprint(e), "export_type") {
			t.Fatalf("%s %s: %+v", bad.method, bad.path, e)
		}
	}
	env.must(http.StatusBadRequest, "POST", mine+"/convert", map[string]any{"export_type": "CONLL2003"}) // a text format
	env.must(http.StatusBadRequest, "POST", fmt.Sprintf("/api/projects/%d/exports/", p.ID), map[string]any{
		"task_filter_options": map[string]any{"skipped": "sometimes"}})
	env.must(http.StatusBadRequest, "POST", fmt.Sprintf("/api/projects/%d/exports/", p.ID), map[string]any{
		"task_filter_options": map[string]any{"view": 999999}})
}

// TestFailedSnapshotSaysWhy: a snapshot whose job fails (here its view
// was deleted after it was asked for, which the request could not know)
// answers status failed with the reason as traceback, for the Export
// dialog to show.
func TestFailedSnapshotSaysWhy(t *testing.T) {
	env := newSnapshotEnv(t)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("boxes", boxConfig)
	x := &blobmark.ExportSnapshot{ProjectID: p.ID, Filter: blobmark.ExportFilter{AllTasks: true, View: 987654}}
	if err := env.db.CreateExportSnapshot(blobmark.NewContextWithUser(t.Context(), env.user), x); err != nil {
		t.Fatal(err)
	}
	var got struct{ Status, Traceback string }
	for range 1000 {
		env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/exports/%d", p.ID, x.ID), nil).json(t, &got)
		if got.Status == "failed" || got.Status == "completed" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got.Status != "failed" || !strings.Contains(got.Traceback, "View 987654 is not a view of this project") {
		t.Fatalf("snapshot of a missing view: %+v", got)
	}
}
