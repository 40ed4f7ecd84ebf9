package lswire

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

func sampleTask() *blobmark.Task {
	return &blobmark.Task{
		ID: 3, ProjectID: 1, InnerID: 2, TotalAnnotations: 1, TotalPredictions: 1, IsLabeled: true,
		Data:      json.RawMessage(`{"image":"azure-blob://c/a.jpg","text":"a < b & c"}`),
		CreatedAt: time.Date(2021, 3, 9, 21, 52, 49, 513742000, time.UTC),
		UpdatedAt: time.Date(2021, 3, 9, 22, 16, 8, 0, time.FixedZone("CET", 3600)),
	}
}

func sampleAnnotation() *blobmark.Annotation {
	return &blobmark.Annotation{
		ID: 1001, TaskID: 3, ProjectID: 1, CompletedBy: 10, LeadTime: 4.288,
		Result:    json.RawMessage(`[{"from_name":"tag","to_name":"img","type":"rectanglelabels","value":{"x":50.8}},{"type":"choices"}]`),
		CreatedAt: time.Date(2021, 3, 9, 22, 16, 8, 728353000, time.UTC),
		UpdatedAt: time.Date(2021, 3, 9, 22, 16, 8, 728378000, time.UTC),
	}
}

func sampleUser() *blobmark.User {
	return &blobmark.User{ID: 10, Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace"}
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, raw)
	}
	return slices.Sorted(maps.Keys(m))
}

func sortedKeys(s string) []string {
	k := strings.Fields(s)
	slices.Sort(k)
	return k
}

// TestAnnotationJSONKeys is the golden key set of Label Studio's
// per-annotation storage object: every annotation field except prediction
// and result_count, plus created_username, created_ago, completed_by (an
// object) and task (the task's model fields, without annotations).
func TestAnnotationJSONKeys(t *testing.T) {
	b, err := AnnotationJSON(sampleAnnotation(), sampleTask(), sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	want := sortedKeys(`id created_username created_ago completed_by task result was_cancelled ground_truth
		created_at updated_at draft_created_at lead_time import_id last_action bulk_created project updated_by
		parent_prediction parent_annotation last_created_by`)
	if got := keysOf(t, b); !slices.Equal(got, want) {
		t.Errorf("annotation keys\n got %v\nwant %v", got, want)
	}
	var obj struct {
		CompletedBy json.RawMessage `json:"completed_by"`
		Task        json.RawMessage `json:"task"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if got, want := keysOf(t, obj.CompletedBy), sortedKeys("id first_name last_name email"); !slices.Equal(got, want) {
		t.Errorf("completed_by keys %v, want %v", got, want)
	}
	wantTask := sortedKeys(`id data meta created_at updated_at is_labeled overlap inner_id total_annotations
		cancelled_annotations total_predictions comment_count unresolved_comment_count last_comment_updated_at
		project updated_by file_upload comment_authors`)
	if got := keysOf(t, obj.Task); !slices.Equal(got, wantTask) {
		t.Errorf("task keys\n got %v\nwant %v", got, wantTask)
	}
}

func TestAnnotationJSONValues(t *testing.T) {
	b, err := AnnotationJSON(sampleAnnotation(), sampleTask(), sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"id":1001`,
		`"created_username":"Ada Lovelace ada@example.com, 10"`,
		`"completed_by":{"id":10,"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com"}`,
		`"created_at":"2021-03-09T22:16:08.728353Z"`,
		`"lead_time":4.288`,
		`"project":1`,
		`"result":[{"from_name":"tag"`,
		// Task times: microseconds as Django writes them, UTC with Z, and no
		// fraction when there is none.
		`"created_at":"2021-03-09T21:52:49.513742Z"`,
		`"updated_at":"2021-03-09T21:16:08Z"`,
		`"meta":{}`,
		`"text":"a < b & c"`,
		`"draft_created_at":null`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("annotation JSON lacks %s:\n%s", want, b)
		}
	}
}

func TestAnnotationJSONWithoutUser(t *testing.T) {
	b, err := AnnotationJSON(sampleAnnotation(), sampleTask(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"completed_by":{"id":10,"first_name":"","last_name":"","email":""}`)) {
		t.Errorf("a deleted annotator must leave its id: %s", b)
	}
	a := sampleAnnotation()
	a.CompletedBy = 0
	if b, err = AnnotationJSON(a, sampleTask(), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"completed_by":null`)) || !bytes.Contains(b, []byte(`"created_username":""`)) {
		t.Errorf("no annotator must be null: %s", b)
	}
}

func TestTaskJSONKeys(t *testing.T) {
	score := 0.5
	pred := &blobmark.Prediction{ID: 5, TaskID: 3, ProjectID: 1, Score: &score, ModelVersion: "m1", Result: json.RawMessage(`[]`)}
	b, err := TaskJSON(sampleTask(), []*blobmark.Annotation{sampleAnnotation()}, []*blobmark.Prediction{pred}, map[int64]*blobmark.User{10: sampleUser()})
	if err != nil {
		t.Fatal(err)
	}
	want := sortedKeys(`id annotations file_upload drafts predictions data meta created_at updated_at inner_id
		total_annotations cancelled_annotations total_predictions comment_count unresolved_comment_count
		last_comment_updated_at project updated_by comment_authors`)
	if got := keysOf(t, b); !slices.Equal(got, want) {
		t.Errorf("task keys\n got %v\nwant %v", got, want)
	}
	var obj struct {
		Annotations []json.RawMessage `json:"annotations"`
		Predictions []json.RawMessage `json:"predictions"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if len(obj.Annotations) != 1 || len(obj.Predictions) != 1 {
		t.Fatalf("want 1 annotation and 1 prediction: %s", b)
	}
	wantAnn := sortedKeys(`id completed_by result was_cancelled ground_truth created_at updated_at draft_created_at
		lead_time prediction result_count import_id last_action bulk_created task project updated_by
		parent_prediction parent_annotation last_created_by`)
	if got := keysOf(t, obj.Annotations[0]); !slices.Equal(got, wantAnn) {
		t.Errorf("annotation keys\n got %v\nwant %v", got, wantAnn)
	}
	for _, want := range []string{`"result_count":2`, `"completed_by":{"id":10,"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace"}`, `"task":3`} {
		if !bytes.Contains(obj.Annotations[0], []byte(want)) {
			t.Errorf("export annotation lacks %s: %s", want, obj.Annotations[0])
		}
	}
	wantPred := sortedKeys(`id model_version created_ago result score cluster neighbors mislabeling created_at
		updated_at model model_run task project`)
	if got := keysOf(t, obj.Predictions[0]); !slices.Equal(got, wantPred) {
		t.Errorf("prediction keys\n got %v\nwant %v", got, wantPred)
	}
	if !bytes.Contains(obj.Predictions[0], []byte(`"score":0.5`)) || !bytes.Contains(obj.Predictions[0], []byte(`"mislabeling":0.0`)) {
		t.Errorf("prediction floats: %s", obj.Predictions[0])
	}
}

// TestSerializationIsDeterministic checks that the bytes depend on the state
// only: the same rows in another order give the same bytes, and any change
// of the state changes them (the exporter skips uploads on equal bytes).
func TestSerializationIsDeterministic(t *testing.T) {
	a1, a2 := sampleAnnotation(), sampleAnnotation()
	a2.ID = 1002
	users := map[int64]*blobmark.User{10: sampleUser()}
	first, err := TaskJSON(sampleTask(), []*blobmark.Annotation{a1, a2}, nil, users)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := TaskJSON(sampleTask(), []*blobmark.Annotation{a2, a1}, nil, users)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("same state, different bytes:\n%s\n%s", first, again)
		}
	}
	a2.WasCancelled = true
	changed, err := TaskJSON(sampleTask(), []*blobmark.Annotation{a1, a2}, nil, users)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, changed) {
		t.Error("a changed annotation must change the bytes")
	}
	x, _ := AnnotationJSON(sampleAnnotation(), sampleTask(), sampleUser())
	y, _ := AnnotationJSON(sampleAnnotation(), sampleTask(), sampleUser())
	if !bytes.Equal(x, y) {
		t.Error("AnnotationJSON is not deterministic")
	}
}

func TestSerializationRejectsMissingRows(t *testing.T) {
	if _, err := AnnotationJSON(sampleAnnotation(), nil, nil); blobmark.ErrorCode(err) != blobmark.EINTERNAL {
		t.Errorf("AnnotationJSON without task: %v", err)
	}
	if _, err := TaskJSON(nil, nil, nil, nil); blobmark.ErrorCode(err) != blobmark.EINTERNAL {
		t.Errorf("TaskJSON without task: %v", err)
	}
}
