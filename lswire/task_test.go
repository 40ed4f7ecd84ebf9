package lswire

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

func TestEncodeOrdersMergesAndOmits(t *testing.T) {
	base := map[string]any{"a": 1, "b": "x < y", "dropped": true}
	override := struct {
		B    int   `json:"b"`
		C    []int `json:"c"`
		Gone []int `json:"gone,omitzero"`
	}{B: 2, C: []int{}}
	got, err := Encode([]string{"c", "gone", "b", "a"}, base, override)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"c":[],"b":2,"a":1}`; string(got) != want {
		t.Errorf("Encode = %s, want %s", got, want)
	}
	got, _ = Encode([]string{"b"}, base)
	if want := `{"b":"x < y"}`; string(got) != want {
		t.Errorf("Encode escapes HTML: %s, want %s", got, want)
	}
}

// TestEncodeCopiesValuesWhole: values holding what separates members
// (quotes, escapes, commas, braces, nested objects) are copied whole.
func TestEncodeCopiesValuesWhole(t *testing.T) {
	part := struct {
		S string          `json:"s"`
		R json.RawMessage `json:"r"`
		N []any           `json:"n"`
	}{S: `a\"},{"x":[`, R: json.RawMessage(`{"k":["}",{"q":"\\"}],"e":{}}`), N: []any{[]int{}, map[string]any{"z": ","}}}
	got, err := Encode([]string{"n", "r", "s"}, part)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"n":[[],{"z":","}],"r":{"k":["}",{"q":"\\"}],"e":{}},"s":"a\\\"},{\"x\":["}`
	if string(got) != want {
		t.Fatalf("Encode = %s\nwant     %s", got, want)
	}
	if _, err := Encode([]string{"a"}, []int{1}); err == nil {
		t.Fatal("Encode of an array part did not fail")
	}
}

func TestNewTaskDefaults(t *testing.T) {
	got, err := json.Marshal(NewTask(&blobmark.Task{
		ID: 3, ProjectID: 1, Data: json.RawMessage(`{"x":1}`), Meta: json.RawMessage(" null "),
		CreatedAt: time.Date(2021, 3, 9, 21, 52, 49, 513700000, time.UTC),
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":3,"data":{"x":1},"meta":{},"created_at":"2021-03-09T21:52:49.513700Z","updated_at":null,` +
		`"is_labeled":false,"overlap":1,"inner_id":0,"total_annotations":0,"cancelled_annotations":0,` +
		`"total_predictions":0,"comment_count":0,"unresolved_comment_count":0,"last_comment_updated_at":null,` +
		`"project":1,"updated_by":null,"file_upload":null,"comment_authors":[]}`
	if string(got) != want {
		t.Errorf("task fields\n got %s\nwant %s", got, want)
	}
}

// TestKeyOrdersNameEachKeyOnce guards the serializer orders against a key
// listed twice, which Encode would write twice.
func TestKeyOrdersNameEachKeyOnce(t *testing.T) {
	for name, keys := range map[string][]string{
		"ExportTaskKeys": ExportTaskKeys, "APITaskKeys": APITaskKeys, "ExportAnnotationKeys": ExportAnnotationKeys,
		"StorageAnnotationKeys": StorageAnnotationKeys, "APIAnnotationKeys": APIAnnotationKeys, "ExportUserKeys": ExportUserKeys,
	} {
		sorted := slices.Sorted(slices.Values(keys))
		if len(slices.Compact(sorted)) != len(keys) {
			t.Errorf("%s lists a key twice: %v", name, keys)
		}
	}
}

func TestFloatsKeepPythonShape(t *testing.T) {
	for in, want := range map[float64]string{4: "4.0", 4.288: "4.288", 0: "0.0", -2: "-2.0", 1e-7: "1e-7"} {
		got, err := PyFloat(in).MarshalJSON()
		if err != nil || string(got) != want {
			t.Errorf("PyFloat(%v) = %s, %v; want %s", in, got, err, want)
		}
	}
}
