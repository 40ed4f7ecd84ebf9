package lswire

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseTaskBareAndWrapped(t *testing.T) {
	tests := []struct {
		name, in   string
		data, meta string
		keys       []string
	}{
		{"bare", `{"image": "a.png", "n": 1}`, `{"image":"a.png","n":1}`, ``, []string{"image", "n"}},
		{"bare keeps meta and id as data", `{"image":"a.png","meta":{"m":1},"id":3}`, `{"image":"a.png","meta":{"m":1},"id":3}`, ``, []string{"id", "image", "meta"}},
		{"wrapper", "{\"data\": {\n  \"text\": \"a b\"\n}, \"meta\": {\"m\": 1}, \"id\": 7}", `{"text":"a b"}`, `{"m":1}`, []string{"text"}},
		{"wrapper with null meta", `{"data": {"x": 1}, "meta": null, "annotations": null, "predictions": null}`, `{"x":1}`, ``, []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, keys, err := ParseTask(json.RawMessage(tt.in), TaskOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(task.Data) != tt.data || string(task.Meta) != tt.meta {
				t.Errorf("data, meta = %s, %s; want %s, %s", task.Data, task.Meta, tt.data, tt.meta)
			}
			if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, tt.keys) {
				t.Errorf("data keys = %q, want %q", got, tt.keys)
			}
			if task.Annotations != nil || task.Predictions != nil {
				t.Errorf("annotations, predictions = %v, %v; want none", task.Annotations, task.Predictions)
			}
		})
	}
}

func TestParseTaskAnnotationsAndPredictions(t *testing.T) {
	in := `{"data": {"image": "x.png"},
	  "annotations": [
	    {"id": 9, "result": [ {"type": "choices"} ], "was_cancelled": true, "ground_truth": null, "lead_time": 2.5, "completed_by": 4},
	    {"result": null, "completed_by": {"id": 5, "email": "a@example.com"}},
	    {}],
	  "predictions": [{"result": [], "score": 0.5, "model_version": 3}, {"score": null, "model_version": "v2"}]}`
	task, _, err := ParseTask(json.RawMessage(in), TaskOptions{KeepCompletedBy: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Annotations) != 3 || len(task.Predictions) != 2 {
		t.Fatalf("got %d annotations, %d predictions; want 3, 2", len(task.Annotations), len(task.Predictions))
	}
	a := task.Annotations[0]
	if string(a.Result) != `[{"type":"choices"}]` || !a.WasCancelled || a.GroundTruth || a.LeadTime != 2.5 || a.CompletedBy != 4 {
		t.Errorf("annotation 0 = %+v (result %s)", a, a.Result)
	}
	if a := task.Annotations[1]; string(a.Result) != `[]` || a.CompletedBy != 5 {
		t.Errorf("annotation 1 = %+v (result %s), want an empty result by user 5", a, a.Result)
	}
	if a := task.Annotations[2]; string(a.Result) != `[]` || a.CompletedBy != 0 {
		t.Errorf("annotation 2 = %+v (result %s), want an empty result by nobody named", a, a.Result)
	}
	if p := task.Predictions[0]; p.Score == nil || *p.Score != 0.5 || p.ModelVersion != "3" {
		t.Errorf("prediction 0 = %+v, want score 0.5 and model version \"3\"", p)
	}
	if p := task.Predictions[1]; p.Score != nil || p.ModelVersion != "v2" || string(p.Result) != `[]` {
		t.Errorf("prediction 1 = %+v", p)
	}

	// Without KeepCompletedBy the field is not read at all, however it looks.
	task, _, err = ParseTask(json.RawMessage(`{"data": {}, "annotations": [{"completed_by": 4}, {"completed_by": "ada"}]}`), TaskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range task.Annotations {
		if a.CompletedBy != 0 {
			t.Errorf("annotation %d completed_by = %d, want it ignored", i, a.CompletedBy)
		}
	}

	// A present, empty predictions list replaces a task's predictions on
	// re-sync; an absent one keeps them.
	task, _, _ = ParseTask(json.RawMessage(`{"data": {}, "predictions": []}`), TaskOptions{})
	if task.Predictions == nil {
		t.Error("empty predictions list parsed as nil, want empty non-nil")
	}
}

func TestParseTaskErrors(t *testing.T) {
	tests := []struct {
		name, in   string
		where, msg string
	}{
		{"not an object", `[1]`, "", "expected a JSON object, got an array."},
		{"invalid JSON", `{"a": }`, "", "invalid JSON"},
		{"data a string", `{"data": "some text"}`, "", `"data" must be a JSON object, got a string.`},
		{"data null", `{"data": null}`, "", `"data" must be a JSON object, got null.`},
		{"bare with annotations", `{"image": "a", "annotations": []}`, "", `a task with "annotations" must put its data under "data"`},
		{"bare with predictions", `{"image": "a", "predictions": null}`, "", `a task with "predictions" must put its data under "data"`},
		{"meta a list", `{"data": {}, "meta": [1]}`, "", `"meta" must be a JSON object, got an array.`},
		{"annotations an object", `{"data": {}, "annotations": {}}`, "", `"annotations" must be a list, got an object.`},
		{"prediction a string", `{"data": {}, "predictions": [{}, "p"]}`, "", `"predictions" item 1 must be a JSON object, got a string.`},
		{"result a string", `{"data": {}, "annotations": [{"result": "Cat"}]}`, "annotation 0", `"result" must be a list, got a string.`},
		{"was_cancelled a string", `{"data": {}, "annotations": [{}, {"was_cancelled": "no"}]}`, "annotation 1", `"was_cancelled" must be a boolean, got a string.`},
		{"lead_time negative", `{"data": {}, "annotations": [{"lead_time": -1}]}`, "annotation 0", `"lead_time" must not be negative.`},
		{"lead_time out of range", `{"data": {}, "annotations": [{"lead_time": 1e999}]}`, "annotation 0", `"lead_time" must be a number, got 1e999.`},
		{"completed_by zero", `{"data": {}, "annotations": [{"completed_by": 0}]}`, "annotation 0", `"completed_by" must be a positive user id, got 0.`},
		{"completed_by a string", `{"data": {}, "annotations": [{"completed_by": "ada"}]}`, "annotation 0", `"completed_by" must be a user id, got a string.`},
		{"completed_by without id", `{"data": {}, "annotations": [{"completed_by": {"email": "a@b"}}]}`, "annotation 0", `"completed_by" must be a user id or an object with an "id".`},
		{"score a string", `{"data": {}, "predictions": [{"score": "high"}]}`, "prediction 0", `"score" must be a number, got a string.`},
		{"model_version an object", `{"data": {}, "predictions": [{"model_version": {}}]}`, "prediction 0", `"model_version" must be a string, got an object.`},
		{"prediction result an object", `{"data": {}, "predictions": [{"result": {}}]}`, "prediction 0", `"result" must be a list, got an object.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, _, err := ParseTask(json.RawMessage(tt.in), TaskOptions{KeepCompletedBy: true})
			var te *TaskError
			if !errors.As(err, &te) {
				t.Fatalf("ParseTask = %+v, %v; want a *TaskError", task, err)
			}
			if te.Where != tt.where || !strings.Contains(te.Msg, tt.msg) {
				t.Errorf("error = %q at %q, want %q at %q", te.Msg, te.Where, tt.msg, tt.where)
			}
		})
	}
}

// BenchmarkParseTask measures the parse of the tasks an import is made of:
// small bare tasks (the usual API import) and wrappers with an annotation
// and a prediction.
func BenchmarkParseTask(b *testing.B) {
	for _, bm := range []struct{ name, task string }{
		{"bare", `{"image":"azure-blob://bench/img/0000042.jpg"}`},
		{"wrapped", `{"data":{"image":"azure-blob://bench/img/0000042.jpg"},"meta":{"src":"cam1"},` +
			`"annotations":[{"result":[{"type":"choices","value":{"choices":["Cat"]}}],"lead_time":2.5,"completed_by":1}],` +
			`"predictions":[{"result":[{"type":"choices","value":{"choices":["Cat"]}}],"score":0.9,"model_version":"v3"}]}`},
	} {
		b.Run(bm.name, func(b *testing.B) {
			raw := json.RawMessage(bm.task)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ParseTask(raw, TaskOptions{KeepCompletedBy: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCompact checks compact against json.Compact on JSON whose strings
// hold what looks like white space and quotes from the outside, and that
// JSON spaced only inside its strings comes back as the same bytes.
func TestCompact(t *testing.T) {
	for _, in := range []string{
		`{"text":"a photo of a cat"}`,
		`{"text": "a photo"}`,
		`{"t":"say \"hi there\"","u":1}`,
		`{"t":"ends in a backslash \\","u" :1}`,
		`{"t":"\\\" { \"","u":[1, 2]}`,
		"{\n\t\"t\":\"tab\\t inside\"\r\n}",
		`["a b",  "c"]`,
	} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(in)); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		raw := []byte(in)
		got := compact(raw)
		if string(got) != want.String() {
			t.Errorf("compact(%s) = %s, want %s", in, got, want.String())
		}
		if in == want.String() && &got[0] != &raw[0] {
			t.Errorf("compact(%s) copied JSON that has nothing to remove", in)
		}
	}
}
