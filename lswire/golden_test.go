package lswire

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/blobmark/blobmark"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file with -update.
// Exact bytes, key order included: Label Studio clients and the exporter's
// skip-identical-uploads check both see these bytes.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed\n got %s\nwant %s", name, got, want)
	}
}

// TestGoldenExports pins the exact bytes of both export formats: the
// per-annotation storage object (with a known annotator, a deleted one and
// none) and a task of the JSON export with annotations and predictions.
func TestGoldenExports(t *testing.T) {
	noUser := sampleAnnotation()
	noUser.CompletedBy = 0
	noUser.Result = nil
	for name, c := range map[string]struct {
		a    *blobmark.Annotation
		user *blobmark.User
	}{
		"annotation.json":           {sampleAnnotation(), sampleUser()},
		"annotation-gone-user.json": {sampleAnnotation(), nil},
		"annotation-no-user.json":   {noUser, nil},
	} {
		b, err := AnnotationJSON(c.a, sampleTask(), c.user)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name, b)
	}

	score := 2.0
	preds := []*blobmark.Prediction{
		{ID: 6, TaskID: 3, ProjectID: 1, ModelVersion: "m2", CreatedAt: sampleTask().CreatedAt},
		{ID: 5, TaskID: 3, ProjectID: 1, Score: &score, ModelVersion: "m1", Result: json.RawMessage(`[{"type":"choices"}]`)},
	}
	other := sampleAnnotation()
	other.ID, other.CompletedBy, other.LeadTime, other.WasCancelled = 1000, 11, 3, true
	b, err := TaskJSON(sampleTask(), []*blobmark.Annotation{sampleAnnotation(), other, noUser}, preds,
		map[int64]*blobmark.User{10: sampleUser()})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "task.json", b)
}
