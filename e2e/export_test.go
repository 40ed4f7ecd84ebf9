package e2e

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

// TestBrowserExportDialog: on an image project with boxes, the Export
// dialog greys out the formats the config does not fit and says why;
// shows why an earlier snapshot failed; downloads YOLO of the two tasks
// selected in the Data Manager; and creates a COCO snapshot whose
// progress ends completed with a download link, which gives the COCO zip
// of the annotated tasks with the config's categories.
func TestBrowserExportDialog(t *testing.T) {
	srv, base := textServer(t)
	ctx := t.Context()
	if err := srv.StartJobs(ctx); err != nil { // the snapshot jobs
		t.Fatal(err)
	}
	const email, password = "grace@example.com", "cobol compiler 1959"
	owner, token, err := srv.DB.CreateUser(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	config := `<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">` +
		`<Label value="Dog"/><Label value="Cat"/></RectangleLabels></View>`
	var project struct{ ID int64 }
	call(t, base, token, "POST", "/api/projects/", map[string]any{"title": "Pets", "label_config": config}, &project)
	// Six images; the first four have one box each, in percent of a
	// 200×100 image (Label Studio's coordinates).
	var tasks []map[string]any
	for i := range 6 {
		task := map[string]any{"data": map[string]any{"image": fmt.Sprintf("images/pet-%d.jpg", i)}}
		if i < 4 {
			task["annotations"] = []any{map[string]any{"result": []any{map[string]any{
				"id": fmt.Sprintf("r%d", i), "from_name": "label", "to_name": "image", "type": "rectanglelabels",
				"original_width": 200, "original_height": 100,
				"value": map[string]any{"x": 10, "y": 20, "width": 50, "height": 50, "rectanglelabels": []string{[]string{"Dog", "Cat"}[i%2]}},
			}}}}
		}
		tasks = append(tasks, task)
	}
	call(t, base, token, "POST", fmt.Sprintf("/api/projects/%d/import", project.ID), tasks, nil)
	// A snapshot whose view is gone by the time its job runs fails, which
	// the request that asked for it could not know.
	failed := &blobmark.ExportSnapshot{ProjectID: project.ID, Title: "Stale view", Filter: blobmark.ExportFilter{AllTasks: true, View: 987654}}
	if err := srv.DB.CreateExportSnapshot(blobmark.NewContextWithUser(ctx, owner), failed); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Tasks []struct {
			ID   int64
			Data map[string]string
		}
	}
	call(t, base, token, "GET", fmt.Sprintf("/api/tasks/?project=%d&page_size=100", project.ID), nil, &page)
	images := map[int64]string{}
	for _, task := range page.Tasks {
		images[task.ID] = task.Data["image"]
	}

	downloads := t.TempDir()
	var rep struct {
		scenarioReport
		Disabled []struct {
			Name     string
			Disabled bool
			Reason   string
		} `json:"disabled"`
		FailedTraceback string   `json:"failedTraceback"`
		Selected        []int64  `json:"selected"`
		DirectFile      string   `json:"directFile"`
		Statuses        []string `json:"statuses"`
		Progress        string   `json:"progress"`
		SnapshotFile    string   `json:"snapshotFile"`
	}
	env := []string{"OWNER_EMAIL=" + email, "OWNER_PASSWORD=" + password, fmt.Sprintf("PROJECT_ID=%d", project.ID),
		"DOWNLOADS=" + downloads, fmt.Sprintf("FAILED_SNAPSHOT=%d", failed.ID)}
	runScenario(t, base, "export.mjs", env, &rep, &rep.scenarioReport)

	// The formats an image project cannot use are disabled and say why.
	reasons := map[string]string{}
	for _, d := range rep.Disabled {
		if !d.Disabled || !strings.HasPrefix(d.Reason, "Not available for this project: ") {
			t.Errorf("%s is shown as %+v, want disabled with its reason", d.Name, d)
		}
		reasons[d.Name] = d.Reason
	}
	if !strings.Contains(reasons["CONLL2003"], "it needs a <Text> with <Labels>") || !strings.Contains(reasons["ASR_MANIFEST"], "<Audio>") {
		t.Errorf("disabled formats: %v", reasons)
	}
	if !strings.Contains(rep.FailedTraceback, "View 987654 is not a view of this project") {
		t.Errorf("the failed snapshot shows %q", rep.FailedTraceback)
	}

	// The direct download is YOLO of the two selected tasks: a label file
	// per image, the classes in label-config order.
	files := readZip(t, filepath.Join(downloads, rep.DirectFile))
	var want []string
	for _, id := range rep.Selected {
		want = append(want, "labels/"+strings.TrimSuffix(filepath.Base(images[id]), ".jpg")+".txt")
	}
	want = append(want, "classes.txt", "notes.json")
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(files)); len(rep.Selected) != 2 || !slices.Equal(got, want) || !strings.HasSuffix(rep.DirectFile, ".zip") {
		t.Errorf("the YOLO download %s holds %v, want %v", rep.DirectFile, got, want)
	}
	if files["classes.txt"] != "Cat\nDog\n" {
		t.Errorf("classes.txt is %q", files["classes.txt"])
	}

	// The snapshot was shown waiting for its job, then completed (the
	// project is too small to see a chunk written in between), and its
	// COCO download holds the four annotated images, their boxes in
	// pixels and the categories numbered as the converter does.
	if n := len(rep.Statuses); n < 2 || !slices.Contains([]string{"created", "in_progress"}, rep.Statuses[0]) ||
		rep.Statuses[n-1] != "completed" || rep.Progress != "4 tasks" {
		t.Errorf("the snapshot showed the statuses %v, then %q", rep.Statuses, rep.Progress)
	}
	var coco struct {
		Images []struct {
			FileName string `json:"file_name"`
		}
		Categories []struct {
			ID   int
			Name string
		}
		Annotations []struct{ BBox []float64 }
	}
	if err := json.Unmarshal([]byte(readZip(t, filepath.Join(downloads, rep.SnapshotFile))["result.json"]), &coco); err != nil {
		t.Fatalf("the snapshot download %s: %v", rep.SnapshotFile, err)
	}
	if len(coco.Images) != 4 || len(coco.Annotations) != 4 || fmt.Sprint(coco.Annotations[0].BBox) != "[20 20 100 50]" ||
		fmt.Sprint(coco.Categories) != "[{0 Cat} {1 Dog}]" {
		t.Errorf("the snapshot's COCO is %+v", coco)
	}
}

// readZip returns the files of a zip by name.
func readZip(t *testing.T, path string) map[string]string {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer z.Close()
	out := map[string]string{}
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s in %s: %v", f.Name, path, err)
		}
		out[f.Name] = string(b)
	}
	return out
}
