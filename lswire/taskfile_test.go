package lswire

import (
	"strings"
	"testing"
	"testing/iotest"

	"github.com/blobmark/blobmark"
)

// dataOf returns the tasks' data as strings, for compact comparisons.
func dataOf(tasks []*blobmark.TaskImport) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = string(t.Data)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseTaskFileFormats(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"single object", `{"image": "a.png"}`, []string{`{"image":"a.png"}`}},
		{"pretty object", "{\n  \"image\": \"a.png\",\n  \"n\": 1\n}\n", []string{`{"image":"a.png","n":1}`}},
		{"array", `[{"t": 1}, {"t": 2}, {"t": 3}]`, []string{`{"t":1}`, `{"t":2}`, `{"t":3}`}},
		{"pretty array", "[\n {\"t\": 1},\n {\"t\": 2}\n]\n", []string{`{"t":1}`, `{"t":2}`}},
		{"empty array", `[]`, []string{}},
		{"jsonl", "{\"t\": 1}\n{\"t\": 2}\n{\"t\": 3}\n", []string{`{"t":1}`, `{"t":2}`, `{"t":3}`}},
		{"jsonl no final newline", "{\"t\": 1}\n{\"t\": 2}", []string{`{"t":1}`, `{"t":2}`}},
		{"jsonl blank lines and CRLF", "\r\n{\"t\": 1}\r\n\r\n  \n{\"t\": 2}\r\n\n", []string{`{"t":1}`, `{"t":2}`}},
		{"BOM object", "\uFEFF{\"t\": 1}", []string{`{"t":1}`}},
		{"BOM array", "\uFEFF[{\"t\": 1}]", []string{`{"t":1}`}},
		{"BOM jsonl", "\uFEFF{\"t\": 1}\n{\"t\": 2}\n", []string{`{"t":1}`, `{"t":2}`}},
		{"leading whitespace", "  \n\t[{\"t\": 1}]", []string{`{"t":1}`}},
		{"wrapper", `{"data": {"text": "hi"}, "id": 7, "meta": {"m": 1}}`, []string{`{"text":"hi"}`}},
		{"unicode and html kept", `{"t": "<b>é</b> & 日本"}`, []string{`{"t":"<b>é</b> & 日本"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTaskFile("k.json", strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseTaskFile: %v", err)
			}
			if d := dataOf(got); !equalStrings(d, tt.want) {
				t.Fatalf("data = %q, want %q", d, tt.want)
			}
		})
	}
}

func TestParseTaskFileWrapper(t *testing.T) {
	in := `[{"data": {"image": "x.png"}, "meta": {"src": "cam1"},
	  "annotations": [{"result": [{"type": "choices", "value": {"choices": ["cat"]}}], "was_cancelled": false, "ground_truth": true, "lead_time": 2.5}],
	  "predictions": [{"result": [{"type": "choices"}], "score": 0.9, "model_version": "v3"}, {"model_version": "v4"}]},
	 {"data": {"image": "y.png"}, "predictions": []},
	 {"data": {"image": "z.png"}}]`
	got, err := ParseTaskFile("tasks.json", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d tasks, want 3", len(got))
	}
	first := got[0]
	if string(first.Data) != `{"image":"x.png"}` || string(first.Meta) != `{"src":"cam1"}` {
		t.Errorf("data/meta = %s / %s", first.Data, first.Meta)
	}
	if len(first.Annotations) != 1 {
		t.Fatalf("annotations = %d, want 1", len(first.Annotations))
	}
	a := first.Annotations[0]
	if string(a.Result) != `[{"type":"choices","value":{"choices":["cat"]}}]` || !a.GroundTruth || a.LeadTime != 2.5 || a.WasCancelled {
		t.Errorf("annotation = %+v (result %s)", a, a.Result)
	}
	if len(first.Predictions) != 2 {
		t.Fatalf("predictions = %d, want 2", len(first.Predictions))
	}
	p := first.Predictions[0]
	if string(p.Result) != `[{"type":"choices"}]` || p.Score == nil || *p.Score != 0.9 || p.ModelVersion != "v3" {
		t.Errorf("prediction = %+v", p)
	}
	if string(first.Predictions[1].Result) != `[]` || first.Predictions[1].Score != nil {
		t.Errorf("prediction without result = %+v (result %s)", first.Predictions[1], first.Predictions[1].Result)
	}
	// An explicit empty list means "no predictions" (replace); absence means "keep".
	if got[1].Predictions == nil || len(got[1].Predictions) != 0 {
		t.Errorf("explicit empty predictions = %#v, want empty non-nil", got[1].Predictions)
	}
	if got[2].Predictions != nil || got[2].Annotations != nil || got[2].Meta != nil {
		t.Errorf("plain wrapper = %+v, want no predictions, annotations or meta", got[2])
	}
}

func TestParseTaskFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		code    string
		mention []string
	}{
		{"empty file", "", blobmark.EINVALID, []string{"bad.json", "empty"}},
		{"whitespace only", " \n\t\n", blobmark.EINVALID, []string{"empty"}},
		{"BOM only", "\uFEFF", blobmark.EINVALID, []string{"empty"}},
		{"binary", "\x89PNG\r\n\x1a\n", blobmark.EINVALID, []string{"use_blob_urls"}},
		{"scalar", `"just a string"`, blobmark.EINVALID, []string{"not JSON tasks"}},
		{"array of numbers", `[1, 2]`, blobmark.EINVALID, []string{"index 0", "expected a JSON object, got a number"}},
		{"array with a non-object", `[{"a": 1}, {"a": 2}, "x"]`, blobmark.EINVALID, []string{"index 2"}},
		{"array with null", `[{"a": 1}, null]`, blobmark.EINVALID, []string{"index 1"}},
		{"truncated array", `[{"a": 1}, {"a": `, blobmark.EINVALID, []string{"index 1"}},
		{"data after array", `[{"a": 1}] [{"a": 2}]`, blobmark.EINVALID, []string{"after the JSON array"}},
		{"truncated object", "{\n \"a\": [1, 2\n", blobmark.EINVALID, []string{"invalid JSON"}},
		{"concatenated pretty objects", "{\n \"a\": 1\n}\n{\n \"a\": 2\n}\n", blobmark.EINVALID, []string{"after the JSON object"}},
		{"jsonl bad line 3", "{\"a\": 1}\n{\"a\": 2}\n{\"a\": \n{\"a\": 4}\n", blobmark.EINVALID, []string{"line 3", "invalid JSON"}},
		{"jsonl line numbers count blank lines", "{\"a\": 1}\n\n\nnope\n", blobmark.EINVALID, []string{"line 4"}},
		{"jsonl array line", "{\"a\": 1}\n[1]\n", blobmark.EINVALID, []string{"line 2", "expected a JSON object, got an array"}},
		{"bare task with predictions", `{"image": "a.png", "predictions": []}`, blobmark.EINVALID, []string{`"predictions"`, `"data"`}},
		{"bare task with annotations", `[{"image": "a.png", "annotations": []}]`, blobmark.EINVALID, []string{"index 0", `"annotations"`}},
		{"annotations not a list", `{"data": {"a": 1}, "annotations": {"result": []}}`, blobmark.EINVALID, []string{`"annotations" must be a list`}},
		{"annotation not an object", `{"data": {"a": 1}, "annotations": [3]}`, blobmark.EINVALID, []string{`"annotations" item 0`}},
		{"result not a list", `{"data": {"a": 1}, "predictions": [{"result": "x"}]}`, blobmark.EINVALID, []string{"prediction 0", `"result" must be a list`}},
		{"meta not an object", `{"data": {"a": 1}, "meta": 3}`, blobmark.EINVALID, []string{`"meta"`}},
		// The import API's rule (and Label Studio's): "data" makes a wrapper.
		{"data not an object", `{"data": "some text"}`, blobmark.EINVALID, []string{`"data" must be a JSON object, got a string`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTaskFile("bad.json", strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseTaskFile = %d tasks, want an error", len(got))
			}
			if code := blobmark.ErrorCode(err); code != tt.code {
				t.Errorf("code = %q, want %q (%v)", code, tt.code, err)
			}
			msg := blobmark.ErrorMessage(err)
			for _, m := range append([]string{"bad.json"}, tt.mention...) {
				if !strings.Contains(msg, m) {
					t.Errorf("message %q does not mention %q", msg, m)
				}
			}
		})
	}
}

func TestParseTaskFileSmallReads(t *testing.T) {
	// One byte at a time exercises every buffer boundary of the streaming decoder.
	in := "\uFEFF{\"t\": 1}\n\n{\"t\": [2, 3]}\n"
	got, err := ParseTaskFile("k.jsonl", iotest.OneByteReader(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if d := dataOf(got); !equalStrings(d, []string{`{"t":1}`, `{"t":[2,3]}`}) {
		t.Fatalf("data = %q", d)
	}
}
