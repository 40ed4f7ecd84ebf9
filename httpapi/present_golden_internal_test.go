package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// createdAgo matches the one field that depends on the clock.
var createdAgo = regexp.MustCompile(`"created_ago":"[^"]*"`)

// TestGoldenPresentation pins the exact bytes of the API's annotation and
// of a task with its annotations and predictions, key order included, as
// Label Studio clients read them. created_ago is blanked: it is the age of
// the annotation at the time of the request.
func TestGoldenPresentation(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	p := (&Server{}).presenter(context.Background())
	p.noResolve = true
	p.users[10] = &blobmark.User{ID: 10, Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace"}
	p.users[11] = nil // deleted
	p.users[12] = &blobmark.User{ID: 12, Email: "lee@example.com", LastName: "Lee"}
	p.rememberProject(&blobmark.Project{ID: 1, MaximumAnnotations: 2})
	task := &blobmark.Task{
		ID: 3, ProjectID: 1, InnerID: 2, TotalAnnotations: 3, IsLabeled: true,
		Data:      json.RawMessage(`{"image":"azure-blob://c/a.jpg","text":"a < b & c"}`),
		CreatedAt: time.Date(2021, 3, 9, 21, 52, 49, 513742000, time.UTC),
		UpdatedAt: time.Date(2021, 3, 9, 22, 16, 8, 0, cet),
	}
	anns := []*blobmark.Annotation{
		{ID: 1001, TaskID: 3, ProjectID: 1, CompletedBy: 10, LeadTime: 4.288,
			Result:    json.RawMessage(`[{"from_name":"tag","to_name":"img","type":"rectanglelabels","value":{"x":50.8}},{"type":"choices"}]`),
			CreatedAt: time.Date(2021, 3, 9, 22, 16, 8, 728353000, time.UTC),
			UpdatedAt: time.Date(2021, 3, 9, 22, 16, 8, 728378000, cet)},
		{ID: 1002, TaskID: 3, ProjectID: 1, CompletedBy: 12, LeadTime: 3, WasCancelled: true, GroundTruth: true,
			Result: json.RawMessage(`[]`), CreatedAt: time.Date(2021, 3, 9, 22, 16, 8, 0, time.UTC)},
		{ID: 1003, TaskID: 3, ProjectID: 1},
	}
	for name, v := range map[string]any{
		"annotation.json":          p.annotationJSON(anns[0]),
		"annotations.json":         []annotationJSON{p.annotationJSON(anns[1]), p.annotationJSON(anns[2])},
		"task.json":                p.taskJSON(task, anns),
		"task-no-annotations.json": p.taskJSON(task, nil),
		"project-created-by.json":  []*userSimple{p.userSimple(10), p.userSimple(11), p.userSimple(0)},
	} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		got := createdAgo.ReplaceAll(buf.Bytes(), []byte(`"created_ago":""`))
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s changed\n got %s\nwant %s", name, got, want)
		}
	}
}
