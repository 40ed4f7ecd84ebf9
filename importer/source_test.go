package importer

import (
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

func TestNormalizePrefix(t *testing.T) {
	tests := map[string]string{
		"":            "",
		"/":           "",
		"//":          "",
		"data":        "data/",
		"data/":       "data/",
		"data//":      "data/",
		"/data":       "data/",
		"//a/b///":    "a/b/",
		"a/b":         "a/b/",
		"with space ": "with space /",
	}
	for in, want := range tests {
		if got := NormalizePrefix(in); got != want {
			t.Errorf("NormalizePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompileFilterMatchesAtTheStartOfTheFullKey(t *testing.T) {
	tests := []struct {
		expr, key string
		want      bool
	}{
		// re.match: anchored at the start, not a full match.
		{`img_.*\.png`, "img_1.png", true},
		{`img_.*\.png`, "img_1.png.bak", true},
		{`img_.*\.png`, "x/img_1.png", false},   // the key includes the prefix
		{`.*img_.*\.png`, "x/img_1.png", true},  // so a pattern must account for it
		{`x/img_.*\.png`, "x/img_1.png", true},  // or spell it out
		{`.*\.png$`, "a/b.png", true},           // $ still anchors the end
		{`.*\.png$`, "a/b.png.txt", false},      //
		{`png`, "a.png", false},                 // not a search
		{`a|b`, "b.json", true},                 // alternation stays anchored as a whole
		{`a|b`, "xb.json", false},               //
		{`(?i)IMG`, "img.png", true},            // flags work
		{`\d+\.json`, "0001.json", true},        //
		{`\d+\.json`, "tasks/0001.json", false}, //
	}
	for _, tt := range tests {
		re, err := CompileFilter(tt.expr)
		if err != nil {
			t.Fatalf("CompileFilter(%q): %v", tt.expr, err)
		}
		if got := re.MatchString(tt.key); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.expr, tt.key, got, tt.want)
		}
	}
	if re, err := CompileFilter(""); re != nil || err != nil {
		t.Errorf("empty filter = %v, %v; want nil, nil", re, err)
	}
}

func TestCompileFilterRejectsInvalidExpressions(t *testing.T) {
	for _, expr := range []string{`a)|(b`, `(`, `[a-`, `(?<=x)y`, `(a)\1`, `*.png`} {
		re, err := CompileFilter(expr)
		if err == nil {
			t.Errorf("CompileFilter(%q) = %v, want an error", expr, re)
			continue
		}
		var e *blobmark.Error
		if !asError(err, &e) || e.Code != blobmark.EINVALID || e.Field != "regex_filter" || len(e.Fields["regex_filter"]) == 0 {
			t.Errorf("CompileFilter(%q) error = %#v, want EINVALID on regex_filter", expr, err)
		}
	}
}

func asError(err error, target **blobmark.Error) bool {
	e, ok := err.(*blobmark.Error)
	*target = e
	return ok
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	err := Options{RegexFilter: "(", MaxFileSize: -1}.Validate()
	var e *blobmark.Error
	if !asError(err, &e) || e.Code != blobmark.EINVALID {
		t.Fatalf("Validate = %v, want EINVALID", err)
	}
	for _, f := range []string{"container", "regex_filter", "max_file_size"} {
		if len(e.Fields[f]) == 0 {
			t.Errorf("field %s not reported: %v", f, e.Fields)
		}
	}
	if err := (Options{Container: "c", RegexFilter: `.*\.json`}).Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	err = Options{Container: "c", RegexFilter: "["}.Validate()
	if !asError(err, &e) || e.Field != "regex_filter" {
		t.Errorf("one problem should name its field: %v", err)
	}
}

func TestNewSource(t *testing.T) {
	src, err := NewSource(7, Options{Container: "c", Prefix: "/in/", RegexFilter: `in/a`, UseBlobURLs: true})
	if err != nil {
		t.Fatal(err)
	}
	if src.StorageID != 7 || src.Prefix != "in/" || src.Filter == nil || !src.UseBlobURLs {
		t.Errorf("source = %+v", src)
	}
	if src.MaxFileSize != DefaultMaxFileSize || src.PageSize != DefaultPageSize || src.Concurrency != DefaultConcurrency {
		t.Errorf("defaults not filled: %+v", src)
	}
	if _, err := NewSource(7, Options{}); blobmark.ErrorCode(err) != blobmark.EINVALID {
		t.Errorf("NewSource without container = %v, want EINVALID", err)
	}
}

func TestInScope(t *testing.T) {
	flat, _ := NewSource(1, Options{Container: "c", Prefix: "data"})
	deep, _ := NewSource(1, Options{Container: "c", Prefix: "data", Recursive: true})
	root, _ := NewSource(1, Options{Container: "c"})
	filtered, _ := NewSource(1, Options{Container: "c", Prefix: "data", Recursive: true, RegexFilter: `data/.*\.json`})
	tests := []struct {
		name string
		src  *Source
		obj  Object
		want bool
	}{
		{"direct child", flat, Object{Key: "data/a.json"}, true},
		{"deeper, not recursive", flat, Object{Key: "data/sub/a.json"}, false},
		{"deeper, recursive", deep, Object{Key: "data/sub/a.json"}, true},
		{"sibling folder with same start", flat, Object{Key: "data2/a.json"}, false},
		{"the prefix marker itself", flat, Object{Key: "data/"}, false},
		{"deeper folder marker, recursive", deep, Object{Key: "data/sub/"}, false},
		{"hdi_isfolder blob", deep, Object{Key: "data/sub", Folder: true}, false},
		{"zero-byte file is a file", flat, Object{Key: "data/empty.txt", Size: 0}, true},
		{"root, not recursive", root, Object{Key: "a.json"}, true},
		{"root, nested", root, Object{Key: "x/a.json"}, false},
		{"regex match", filtered, Object{Key: "data/x/a.json"}, true},
		{"regex mismatch", filtered, Object{Key: "data/x/a.txt"}, false},
	}
	for _, tt := range tests {
		if got := tt.src.InScope(tt.obj); got != tt.want {
			t.Errorf("%s: InScope(%q) = %v, want %v", tt.name, tt.obj.Key, got, tt.want)
		}
	}
}

func TestProgressReport(t *testing.T) {
	p := Progress{FilesFailed: 2, Failures: []Failure{{Key: "a", Reason: "a: bad"}, {Key: "b", Reason: "b: worse"}}, FailuresOmitted: 3}
	if tb := p.Traceback(); tb != "a: bad\nb: worse\n… and 3 more" {
		t.Errorf("Traceback = %q", tb)
	}
	m := p.Meta()
	if m["files_failed"] != int64(2) || m["failures_omitted"] != int64(3) || len(m["failures"].([]Failure)) != 2 {
		t.Errorf("Meta = %v", m)
	}
	if p.status() != StatusCompletedWithErrors || (Progress{TasksCreated: 5}).status() != StatusCompleted {
		t.Error("status does not follow failures")
	}
	if (Progress{}).Traceback() != "" || !strings.Contains(StatusCompletedWithErrors, "errors") {
		t.Error("empty progress has a traceback")
	}
}
