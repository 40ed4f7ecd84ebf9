package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

func TestParseObjectTemplateRefuses(t *testing.T) {
	for _, tc := range []struct {
		template string
		format   Format
		mention  string // what the message must name
	}{
		{"{task}", FormatAnnotation, "{task}"},
		{"{taskid}.json", FormatTask, "{taskid}"},
		{"{annotation_id}", FormatTask, "{annotation_id}"},
		{"{data.}", FormatAnnotation, "{data.}"},
		{"{}", FormatAnnotation, "{}"},
		{"a/{task_id", FormatAnnotation, "Unclosed"},
		{"a/task_id}", FormatAnnotation, "Unmatched"},
		{"{{task_id}}", FormatAnnotation, "Unclosed"},
		{"{project_id}", FormatAnnotation, "{project_id}"}, // a dataset variable
		{strings.Repeat("a", MaxKeyLength+1), FormatAnnotation, "characters"},
		{"\xff", FormatAnnotation, "UTF-8"},
	} {
		_, err := ParseObjectTemplate(tc.template, tc.format)
		var e *blobmark.Error
		if !errors.As(err, &e) || e.Code != blobmark.EINVALID || e.Field != FieldKeyTemplate {
			t.Errorf("ParseObjectTemplate(%q, %s) = %v, want an EINVALID error on %s", tc.template, tc.format, err, FieldKeyTemplate)
			continue
		}
		if !strings.Contains(e.Message, tc.mention) {
			t.Errorf("ParseObjectTemplate(%q): message %q does not name %q", tc.template, e.Message, tc.mention)
		}
	}
}

func TestParseDatasetTemplateRefuses(t *testing.T) {
	for _, tmpl := range []string{"{task_id}", "{data.image}", "{format", "{Format}"} {
		_, err := ParseDatasetTemplate(tmpl)
		var e *blobmark.Error
		if !errors.As(err, &e) || e.Field != FieldDatasetKeyTemplate || !strings.Contains(e.Message, "{") {
			t.Errorf("ParseDatasetTemplate(%q) = %v, want an error on %s naming the variable", tmpl, err, FieldDatasetKeyTemplate)
		}
	}
}

func TestRenderObject(t *testing.T) {
	data := `{"image":"azure-blob://pics/cam 1/2024/cat.v2.jpg","image_name":"cat","n":12.5,` +
		`"up":"../../etc/passwd","abs":"/root/x","dots":"..","ctl":"a\u0000b\nc\u007f","bs":"..\\..\\x","nested":{"a":1},"nil":null}`
	vars := ObjectVars{TaskID: 7, AnnotationID: 42, Data: json.RawMessage(data), SourceKeys: []string{"image"}}
	for _, tc := range []struct {
		prefix, template, want string
	}{
		{"", "{task_id}", "7.json"},
		{"out/", "{task_id}-{annotation_id}", "out/7-42.json"},
		{"/out//x/", "{data.image_name}.json", "out/x/cat.json"}, // the extension is not doubled
		{"", "{data.image_name}.JSON", "cat.JSON.json"},          // the extension's case counts
		{"", "{data.n}", "12.5.json"},
		{"", "{source_key}", "cam 1/2024/cat.v2.jpg.json"},
		{"", "{source_name}", "cat.v2.jpg.json"},
		{"", "{source_stem}/{annotation_id}", "cat.v2/42.json"},
		{"p", "labels/{source_stem}", "p/labels/cat.v2.json"},
		// Whatever the data says, the key stays under the prefix.
		{"p", "{data.up}", "p/__/__/etc/passwd.json"},
		{"p", "{data.abs}", "p/root/x.json"},
		{"p", "{data.dots}/{task_id}", "p/__/7.json"},
		{"p", "../{task_id}", "p/__/7.json"},
		{"p", "./{task_id}", "p/_/7.json"},
		{"p", "/{task_id}", "p/7.json"},
		{"p", "{data.bs}", "p/__/__/x.json"},
		{"p", "{data.ctl}", "p/a_b_c_.json"},
	} {
		tmpl, err := ParseObjectTemplate(tc.template, FormatAnnotation)
		if err != nil {
			t.Fatalf("ParseObjectTemplate(%q): %v", tc.template, err)
		}
		got, err := tmpl.RenderObject(tc.prefix, vars)
		if err != nil {
			t.Errorf("RenderObject(%q, %q): %v", tc.prefix, tc.template, err)
			continue
		}
		if got != tc.want {
			t.Errorf("RenderObject(%q, %q) = %q, want %q", tc.prefix, tc.template, got, tc.want)
		}
	}
}

func TestRenderObjectTaskErrors(t *testing.T) {
	vars := ObjectVars{TaskID: 7, Data: json.RawMessage(`{"text":"` + strings.Repeat("x", MaxKeyLength) + `","nested":{"a":1},"nil":null,"url":"https://example.com/x.jpg"}`)}
	for _, tc := range []struct{ template, mention string }{
		{"{data.image_name}", `"image_name"`},
		{"{data.nested}", `"nested"`},
		{"{data.nil}", `"nil"`},
		{"{source_key}", "{source_key}"},
		{"{source_stem}", "azure-blob://"},
		{"{data.text}", "1024"},
	} {
		tmpl, err := ParseObjectTemplate(tc.template, FormatTask)
		if err != nil {
			t.Fatalf("ParseObjectTemplate(%q): %v", tc.template, err)
		}
		_, err = tmpl.RenderObject("", vars)
		if !errors.Is(err, ErrKeyTemplate) || blobmark.ErrorCode(err) != blobmark.EINVALID {
			t.Errorf("RenderObject(%q) = %v, want an EINVALID key template error", tc.template, err)
			continue
		}
		if msg := blobmark.ErrorMessage(err); !strings.Contains(msg, "task 7") || !strings.Contains(msg, tc.mention) {
			t.Errorf("RenderObject(%q): message %q should name task 7 and %s", tc.template, msg, tc.mention)
		}
	}
}

func TestRenderDataset(t *testing.T) {
	started := time.Date(2026, 3, 9, 21, 52, 49, 0, time.FixedZone("CET", 3600))
	vars := DatasetVars{ProjectID: 3, StorageID: 9, Format: "JSON_MIN", Ext: "json", Started: started}
	for _, tc := range []struct{ prefix, template, want string }{
		{"", "", "dataset-3-json_min.json"},
		{"exports/", "{project_id}-{format}-{timestamp}", "exports/3-json_min-20260309T205249Z.json"},
		{"", "s{storage_id}/latest.json", "s9/latest.json"},
		{"x", "../../{format}", "x/__/__/json_min.json"},
	} {
		tmpl, err := ParseDatasetTemplate(tc.template)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.RenderDataset(tc.prefix, vars)
		if err != nil || got != tc.want {
			t.Errorf("RenderDataset(%q, %q) = %q, %v; want %q", tc.prefix, tc.template, got, err, tc.want)
		}
	}
	zip := vars
	zip.Format, zip.Ext = "COCO", "zip"
	tmpl, _ := ParseDatasetTemplate("")
	if got, _ := tmpl.RenderDataset("", zip); got != "dataset-3-coco.zip" {
		t.Errorf("default COCO key = %q", got)
	}
}

// TestSyncAllWithKeyTemplate exports under a template over task data; a
// task lacking the field is one listed failure, not a stopped sync or a
// silent drop, and deleting an annotation removes the object it was
// exported under, found through its link once the key cannot be rendered.
func TestSyncAllWithKeyTemplate(t *testing.T) {
	s, c, deps := fixture()
	s.tasks[1].Data = json.RawMessage(`{"image":"azure-blob://c/scans/a.png","name":"first"}`)
	s.tasks[2].Data = json.RawMessage(`{"image":"azure-blob://c/scans/b.png"}`)
	st := annotationStorage(true)
	st.KeyTemplate = "{data.name}/{source_stem}-{annotation_id}"
	res, err := SyncAll(context.Background(), deps, st, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusCompletedWithErrors || res.Uploaded != 2 || res.Failed != 1 {
		t.Fatalf("result = %+v, want 2 uploaded and 1 failure", res)
	}
	if f := res.Failures[0]; f.AnnotationID != 21 || !strings.Contains(f.Message, `"name"`) {
		t.Errorf("failure = %+v, want annotation 21 naming the missing field", f)
	}
	if got, want := c.keys(), []string{"out/first/a-11.json", "out/first/a-12.json"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}

	// A renamed field moves the objects: the old ones go with their links.
	s.tasks[1].Data = json.RawMessage(`{"image":"azure-blob://c/scans/a.png","name":"renamed"}`)
	mustExport(t, deps, st, 11, 1, OutcomeUploaded)
	mustExport(t, deps, st, 12, 1, OutcomeUploaded)
	if got, want := c.keys(), []string{"out/renamed/a-11.json", "out/renamed/a-12.json"}; !slices.Equal(got, want) {
		t.Fatalf("after the rename, keys = %v, want %v", got, want)
	}
	if _, ok := s.links["out/first/a-11.json"]; ok || len(s.links) != 2 {
		t.Fatalf("links after the rename: %v", slices.Sorted(maps.Keys(s.links)))
	}

	// The task is deleted with its annotation: the key comes from the link.
	s.deleteAnnotation(11)
	delete(s.tasks, 1)
	mustExport(t, deps, st, 11, 1, OutcomeDeleted)
	if got, want := c.keys(), []string{"out/renamed/a-12.json"}; !slices.Equal(got, want) {
		t.Fatalf("after deleting 11, keys = %v, want %v", got, want)
	}
}

// TestTaskModeKeyTemplate names task files after their source blob.
func TestTaskModeKeyTemplate(t *testing.T) {
	s, c, deps := fixture()
	st := taskStorage(true)
	st.KeyTemplate = "by-image/{source_name}"
	if _, err := SyncAll(context.Background(), deps, st, false, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := c.keys(), []string{"out/by-image/1.jpg.json", "out/by-image/2.jpg.json"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	s.deleteAnnotation(21)
	mustExport(t, deps, st, 21, 2, OutcomeDeleted)
	if got, want := c.keys(), []string{"out/by-image/1.jpg.json"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
}
