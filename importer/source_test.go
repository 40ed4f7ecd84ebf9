package importer

import (
	"fmt"
	"regexp/syntax"
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

// TestCompileFilterBounds: a regex_filter past one of the bounds is refused
// with a message that names the field and the limit; one at the bound is
// accepted. The 120 KB expression of 20,000 capturing groups is the one
// that held gigabytes of memory to match two keys.
func TestCompileFilterBounds(t *testing.T) {
	names := make([]string, 0, 200)
	for i := range 200 {
		names = append(names, fmt.Sprintf("img/c%04d\\.png", i))
	}
	manyNames := strings.Join(names, "|")
	if len(manyNames) > MaxFilterBytes {
		t.Fatalf("the list of names is %d bytes; the test wants it under the bound", len(manyNames))
	}
	tests := []struct {
		name, expr string
		want       string // in the message; "" means accepted
	}{
		{"at the length bound", strings.Repeat("a", MaxFilterBytes), ""},
		{"a few hundred names", manyNames, ""},
		{"one byte too long", strings.Repeat("a", MaxFilterBytes+1), fmt.Sprintf("at most %d", MaxFilterBytes)},
		{"the 120 KB expression", strings.Repeat("(ab)|", 24000), "bytes long"},
		{"at the group bound", strings.Repeat("(a)", MaxFilterGroups), ""},
		{"one group too many", strings.Repeat("(a)", MaxFilterGroups+1), fmt.Sprintf("at most %d are allowed", MaxFilterGroups)},
		{"non-capturing groups are free", strings.Repeat("(?:a)", MaxFilterGroups+1), ""},
		{"a large repetition", `a{1000}`, ""},
		{"nested repetitions", `(?:[a-z]{100}/){9}`, ""},
		{"repetitions side by side", strings.Repeat(`[a-z]{1000}`, 9), ""},
		{"too many repetitions side by side", strings.Repeat(`[a-z]{1000}`, 11), fmt.Sprintf("more than %d instructions", MaxFilterInstructions)},
		{"too many nested repetitions", strings.Repeat(`(?:[a-z]{100}/){9}`, 11), "too complex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := CompileFilter(tt.expr)
			if tt.want == "" {
				if err != nil || re == nil {
					t.Fatalf("CompileFilter = %v, %v; want it accepted", re, err)
				}
				return
			}
			var e *blobmark.Error
			if !asError(err, &e) || e.Code != blobmark.EINVALID || e.Field != "regex_filter" {
				t.Fatalf("CompileFilter error = %#v, want EINVALID on regex_filter", err)
			}
			if msgs := e.Fields["regex_filter"]; len(msgs) != 1 || !strings.Contains(msgs[0], tt.want) || !strings.Contains(e.Message, "regex_filter") {
				t.Errorf("message %q / %q, want one naming regex_filter and containing %q", e.Message, msgs, tt.want)
			}
		})
	}
}

// TestProgramSizeBoundsTheCompiledProgram: the size CompileFilter checks,
// counted on the parse tree, is never below the program regexp actually
// builds, so the bound holds for what is compiled.
func TestProgramSizeBoundsTheCompiledProgram(t *testing.T) {
	for _, expr := range []string{
		`a`, `abc`, `(?i)abc`, `.*\.png$`, `[a-z]+\.(?:jpg|png)$`, `(a)(b)(c)`, `a|b|c|d`, `(a*)*`, `(?:a?)+`,
		`x{0,}`, `x{3,}`, `x{2,5}`, `x{0}`, `x{0,3}`, `(?:ab|cd){3,}`, `(?:a{10}){10}`, `(?:(?:ab){3,7}c){2,}`,
		`^img/\d{4}-\d{2}-\d{2}/.*\.json$`, `\bword\B`, `(?s).`, `[^/]*`, `(?:)`, `a{1000}`,
	} {
		parsed, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		prog, err := syntax.Compile(parsed.Simplify())
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := programSize(parsed, 1<<30); got < len(prog.Inst) {
			t.Errorf("%s: counted %d instructions, the program has %d", expr, got, len(prog.Inst))
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
