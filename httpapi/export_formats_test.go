package httpapi_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const boxConfig = `<View><Image name="image" value="$image"/>
  <RectangleLabels name="box" toName="image"><Label value="Dog"/><Label value="Cat"/></RectangleLabels></View>`

// TestSDKExportAsCOCO follows the SDK's projects.exports.as_file(pid,
// export_type="COCO") on a Community server: it reads the edition, then
// downloads in one request, and must receive COCO, a zip with result.json.
func TestSDKExportAsCOCO(t *testing.T) {
	env := newTestEnv(t)
	env.api.ProjectExporter = env.db
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("boxes", boxConfig)
	ids := sdk.importTasks(p.ID, []any{map[string]any{"image": "azure-blob://c/a.jpg"}, map[string]any{"image": "azure-blob://c/b.jpg"}}).TaskIDs
	sdk.createAnnotation(ids[0], map[string]any{"result": []any{map[string]any{
		"id": "r", "from_name": "box", "to_name": "image", "type": "rectanglelabels", "original_width": 200, "original_height": 100,
		"value": map[string]any{"x": 10, "y": 20, "width": 50, "height": 50, "rectanglelabels": []string{"Dog"}},
	}}})

	var version struct{ Edition string }
	env.must(http.StatusOK, "GET", "/api/version/", nil).json(t, &version)
	if version.Edition != "Community" {
		t.Fatalf("edition %q: the SDK would take the Enterprise snapshot flow", version.Edition)
	}
	r := env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/export?download_all_tasks=true&download_resources=true&export_type=COCO", p.ID), nil)
	if r.header.Get("Content-Type") != "application/zip" || !strings.Contains(r.header.Get("Content-Disposition"), `.zip"`) {
		t.Fatalf("headers %v", r.header)
	}
	z, err := zip.NewReader(bytes.NewReader(r.raw), int64(len(r.raw)))
	if err != nil {
		t.Fatal(err)
	}
	var coco struct {
		Images      []map[string]any
		Categories  []map[string]any
		Annotations []struct{ BBox []float64 }
	}
	for _, f := range z.File {
		if f.Name == "result.json" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			if err := json.Unmarshal(b, &coco); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Both tasks (download_all_tasks), Cat = 0 and Dog = 1 (sorted), and
	// the box in pixels: 10% × 200 = 20, 20% × 100 = 20, 50% × 200 = 100,
	// 50% × 100 = 50.
	if len(coco.Images) != 2 || len(coco.Categories) != 2 || coco.Categories[1]["name"] != "Dog" ||
		len(coco.Annotations) != 1 || fmt.Sprint(coco.Annotations[0].BBox) != "[20 20 100 50]" {
		t.Fatalf("COCO %+v", coco)
	}

	// Without download_all_tasks, only the annotated task; ids narrows it.
	r = env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/export?export_type=YOLO", p.ID), nil)
	if z, _ := zip.NewReader(bytes.NewReader(r.raw), int64(len(r.raw))); len(z.File) != 3 { // labels/a.txt, classes.txt, notes.json
		t.Fatalf("YOLO of annotated tasks: %d files", len(z.File))
	}
	var all []map[string]any
	env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/export?exportType=JSON&download_all_tasks=true&ids=%d", p.ID, ids[1]), nil).json(t, &all)
	if len(all) != 1 || all[0]["id"] != float64(ids[1]) {
		t.Fatalf("ids filter: %v", all)
	}

	// The format list puts what the config does not fit last, disabled.
	var list []struct {
		Name     string
		Disabled bool
		Reason   string `json:"disabled_reason"`
	}
	env.must(http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/export/formats", p.ID), nil).json(t, &list)
	// Each disabled entry says why, an enabled one has no reason.
	if len(list) == 0 || list[0].Name != "JSON" || list[0].Reason != "" || !list[len(list)-1].Disabled ||
		!strings.Contains(list[len(list)-1].Reason, "it needs") {
		t.Fatalf("formats %+v", list)
	}

	// Bad input names the parameter.
	for _, q := range []string{"export_type=CONLL2003", "export_type=NOPE", "download_all_tasks=maybe", "ids=x"} {
		r := env.request("GET", fmt.Sprintf("/api/projects/%d/export?%s", p.ID, q), nil)
		name, _, _ := strings.Cut(q, "=")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.raw), name) {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
		}
	}
}
