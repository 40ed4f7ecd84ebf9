package media

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

// res is the resolve URL of uri for task 7 under host h.example.
func res(uri string) string { return ResolveURL("https://h.example", 7, uri) }

// jsonStr returns s as a JSON string literal without Go's HTML escaping, so
// expectations read like the data they describe.
func jsonStr(s string) string { return `"` + string(appendJSONChars(nil, s)) + `"` }

func TestRewrite(t *testing.T) {
	match := Matcher([]blobmark.MediaLocation{located(publicSvc, 1, "images", "")})
	const covered = "https://acct.blob.core.windows.net/images/a.png"
	const uncovered = "https://acct.blob.core.windows.net/other/a.png"
	tests := []struct {
		name  string
		in    string
		want  string
		match func(string) bool
	}{
		{"whole value",
			`{"image":"azure-blob://images/a.png"}`,
			`{"image":` + jsonStr(res("azure-blob://images/a.png")) + `}`, nil},
		{"whole value with surrounding space keeps the space",
			`{"image":"  azure-blob://images/a.png\n"}`,
			`{"image":` + jsonStr("  "+res("azure-blob://images/a.png")+"\n") + `}`, nil},
		{"nested list and object",
			`{"a":["azure-blob://images/1.png",{"b":"azure-blob://images/2.png","n":1.50}],"k":"x"}`,
			`{"a":[` + jsonStr(res("azure-blob://images/1.png")) + `,{"b":` + jsonStr(res("azure-blob://images/2.png")) + `,"n":1.50}],"k":"x"}`, nil},
		{"double-quoted in HTML",
			`{"html":"<img src=\"azure-blob://images/a.png\"> text"}`,
			`{"html":` + jsonStr(`<img src="`+res("azure-blob://images/a.png")+`"> text`) + `}`, nil},
		{"single-quoted in HTML",
			`{"html":"<img src='azure-blob://images/a.png'>"}`,
			`{"html":` + jsonStr(`<img src='`+res("azure-blob://images/a.png")+`'>`) + `}`, nil},
		{"several URIs in one string",
			`{"html":"<img src='azure-blob://images/a.png'><img src=\"azure-blob://images/b.png\">"}`,
			`{"html":` + jsonStr(`<img src='`+res("azure-blob://images/a.png")+`'><img src="`+res("azure-blob://images/b.png")+`">`) + `}`, nil},
		{"URI with = inside quotes (Label Studio misses it)",
			`{"html":"<a href='azure-blob://images/a=b.png'>"}`,
			`{"html":` + jsonStr(`<a href='`+res("azure-blob://images/a=b.png")+`'>`) + `}`, nil},
		{"unquoted URI inside text is left alone",
			`{"t":"see azure-blob://images/a.png here"}`,
			`{"t":"see azure-blob://images/a.png here"}`, nil},
		{"unbalanced quote is left alone",
			`{"t":"<img src=\"azure-blob://images/a.png>"}`,
			`{"t":"<img src=\"azure-blob://images/a.png>"}`, nil},
		{"non-azure strings, numbers and keys untouched",
			`{ "azure-blob://images/key.png" : 1, "s": "s3://b/k", "n": 1e3, "b": true, "z": null }`,
			`{ "azure-blob://images/key.png" : 1, "s": "s3://b/k", "n": 1e3, "b": true, "z": null }`, nil},
		{"key order and spacing preserved",
			"{\n  \"z\": \"azure-blob://images/a.png\",\n  \"a\": 2\n}",
			"{\n  \"z\": " + jsonStr(res("azure-blob://images/a.png")) + ",\n  \"a\": 2\n}", nil},
		{"escaped slashes are still found",
			`{"image":"azure-blob:\/\/images\/a.png"}`,
			`{"image":` + jsonStr(res("azure-blob://images/a.png")) + `}`, nil},
		{"Go-escaped HTML is found and stays a valid string",
			`{"html":"\u003cimg src=\"azure-blob://images/a.png\"\u003e"}`,
			`{"html":` + jsonStr(`<img src="`+res("azure-blob://images/a.png")+`">`) + `}`, nil},
		{"https blob URL covered by a storage",
			`{"image":"` + covered + `"}`,
			`{"image":` + jsonStr(res(covered)) + `}`, match},
		{"https blob URL quoted in HTML",
			`{"html":"<img src='` + covered + `'>"}`,
			`{"html":` + jsonStr(`<img src='`+res(covered)+`'>`) + `}`, match},
		{"https blob URL of an uncovered container",
			`{"image":"` + uncovered + `"}`,
			`{"image":"` + uncovered + `"}`, match},
		{"https URL elsewhere",
			`{"image":"https://example.com/a.png"}`,
			`{"image":"https://example.com/a.png"}`, match},
		{"quoted URI inside an uncovered URL value",
			`{"u":"https://example.com/v?img='azure-blob://images/a.png'"}`,
			`{"u":` + jsonStr(`https://example.com/v?img='`+res("azure-blob://images/a.png")+`'`) + `}`, match},
		{"https blob URL without a matcher",
			`{"image":"` + covered + `"}`,
			`{"image":"` + covered + `"}`, nil},
		{"scheme alone is not a URI",
			`{"image":"azure-blob://"}`,
			`{"image":"azure-blob://"}`, nil},
		{"top-level string",
			`"azure-blob://images/a.png"`,
			jsonStr(res("azure-blob://images/a.png")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rewrite(json.RawMessage(tt.in), 7, "https://h.example/", tt.match)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("Rewrite\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("Rewrite produced invalid JSON: %s", got)
			}
		})
	}
}

func TestRewriteUntouchedDataIsShared(t *testing.T) {
	in := json.RawMessage(`{"text":"no media here","n":[1,2,3]}`)
	got, err := Rewrite(in, 1, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &in[0] {
		t.Fatal("data without URIs should be returned without copying")
	}
}

func TestRewriteInvalidJSON(t *testing.T) {
	for _, in := range []string{``, `{"a":`, `{"a":"azure-blob://c/k}`, `nope`} {
		if _, err := Rewrite(json.RawMessage(in), 1, "", nil); blobmark.ErrorCode(err) != blobmark.EINVALID {
			t.Errorf("Rewrite(%q) error = %v, want EINVALID", in, err)
		}
	}
}

// TestRewriteRoundTrip checks that every rewritten URL leads back to the
// original URI and that the URI is then found in the original task data.
func TestRewriteRoundTrip(t *testing.T) {
	keys := []string{"a b.png", "x#y.png", "q?a=1&b=2.png", "100%.png", "ünï/日本.jpg", "it's.png", `say "hi".png`}
	for _, key := range keys {
		uri := "azure-blob://images/" + key
		data, _ := json.Marshal(map[string]any{"image": uri, "list": []string{uri}})
		out, err := Rewrite(data, 3, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Image string
			List  []string
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%q: %v in %s", key, err, out)
		}
		for _, got := range append(v.List, v.Image) {
			u, err := url.Parse(got)
			if err != nil {
				t.Fatalf("%q: %v", key, err)
			}
			if u.Path != "/tasks/3/resolve/" {
				t.Fatalf("%q: path %q", key, u.Path)
			}
			back, err := DecodeFileURI(u.Query().Get("fileuri"))
			if err != nil || back != uri {
				t.Fatalf("%q: decoded %q, %v", key, back, err)
			}
			if !URIInTaskData(data, back) {
				t.Fatalf("%q: URI not found in the task data it came from", key)
			}
		}
	}
}

func TestURIInTaskData(t *testing.T) {
	data := json.RawMessage(`{
		"image": " azure-blob://images/a.png ",
		"nested": {"list": ["azure-blob://images/b.png", 3]},
		"html": "<img src=\"azure-blob://images/c.png\"><img src='https://acct.blob.core.windows.net/images/d.png'>",
		"escaped": "azure-blob:\/\/images\/e.png",
		"text": "mentions azure-blob://images/f.png without quotes",
		"link": "https://example.com/v?img='azure-blob://images/g.png'",
		"azure-blob://images/key.png": "a key, not a value"
	}`)
	tests := []struct {
		uri  string
		want bool
	}{
		{"azure-blob://images/a.png", true},
		{"azure-blob://images/b.png", true},
		{"azure-blob://images/c.png", true},
		{"https://acct.blob.core.windows.net/images/d.png", true},
		{"azure-blob://images/e.png", true},
		{"azure-blob://images/f.png", false}, // not quoted, so never rewritten either
		{"azure-blob://images/g.png", true},  // quoted inside a URL that may not be a blob URL
		{"https://example.com/v?img='azure-blob://images/g.png'", true},
		{"azure-blob://images/key.png", false}, // object keys are not data
		{"azure-blob://images/a", false},       // prefix of a URI
		{"azure-blob://images/other.png", false},
		{"azure-blob://images/c.png\"><img src='https://acct.blob.core.windows.net/images/d.png", false},
		{"https://acct.blob.core.windows.net/images/other.png", false},
		{"azure-blob://", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := URIInTaskData(data, tt.uri); got != tt.want {
			t.Errorf("URIInTaskData(%q) = %v, want %v", tt.uri, got, tt.want)
		}
	}
	if URIInTaskData(json.RawMessage(`{"a":"azure-blob://images/a.png"`), "azure-blob://images/a.png") {
		t.Error("invalid JSON must hold no URI")
	}
}

// page builds n task data objects of the shape a labeling page carries:
// a media URI, HTML with quoted URIs, a list, a blob URL and plain text.
func page(n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		out[i] = json.RawMessage(fmt.Sprintf(`{"image":"azure-blob://images/batch-%03d/photo %d.jpg","html":"<p>Compare <img src=\"azure-blob://images/ref/%d.png\"> and <img src='azure-blob://images/ref/%d-b.png'></p>","frames":["azure-blob://images/f/%d-1.jpg","azure-blob://images/f/%d-2.jpg"],"url":"https://acct.blob.core.windows.net/images/u/%d.png","meta":{"source":"camera %d","score":0.%d,"tags":["a","b","c"]},"caption":"%s"}`,
			i/10, i, i, i, i, i, i, i, i, strings.Repeat("lorem ipsum ", 8)))
	}
	return out
}

func TestPageRewritesEverything(t *testing.T) {
	match := Matcher([]blobmark.MediaLocation{located(publicSvc, 1, "images", "")})
	for i, d := range page(3) {
		out, err := Rewrite(d, int64(i+1), "", match)
		if err != nil {
			t.Fatal(err)
		}
		if s := string(out); strings.Contains(s, "azure-blob://") || strings.Contains(s, "blob.core.windows.net") {
			t.Fatalf("page task %d still holds a raw URI: %s", i, s)
		}
		var a, b map[string]any
		_ = json.Unmarshal(d, &a)
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a["meta"], b["meta"]) || a["caption"] != b["caption"] {
			t.Fatalf("page task %d: untouched fields changed", i)
		}
	}
}

// BenchmarkRewritePage rewrites a 100-task page, each task holding six
// azure-blob URIs (whole values, quoted in HTML, in a list) and one blob URL
// matched against a storage — the work of one task-list response.
func BenchmarkRewritePage(b *testing.B) {
	tasks := page(100)
	match := Matcher([]blobmark.MediaLocation{located(publicSvc, 1, "images", "")})
	b.ReportAllocs()
	for b.Loop() {
		for i, d := range tasks {
			if _, err := Rewrite(d, int64(i+1), "https://label.example.com", match); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRewritePageNoMedia is the common case of a text-only project.
func BenchmarkRewritePageNoMedia(b *testing.B) {
	tasks := make([]json.RawMessage, 100)
	for i := range tasks {
		tasks[i] = json.RawMessage(fmt.Sprintf(`{"text":"%s %d","meta":{"n":%d}}`, strings.Repeat("lorem ipsum ", 20), i, i))
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, d := range tasks {
			if _, err := Rewrite(d, int64(i+1), "", nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
