package ui_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/blobmark/blobmark/ui"
)

func TestEditorBundled(t *testing.T) {
	if !ui.EditorBundled() {
		msg := "the Label Studio Frontend bundle is not embedded: run `npm ci && ui/build.sh` (make setup) before go test"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	res := serve(t, "/static/vendor/lsf/"+ui.LSFVersion+"/main.js", http.Header{"Accept-Encoding": {"gzip"}})
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("main.js: %d encoding %q cache %q, want 200, gzip, immutable", res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Cache-Control"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil || len(js) < 1<<20 || !strings.Contains(string(js), "LabelStudio") {
		t.Fatalf("main.js decompressed to %d bytes (err %v), want the 2 MB editor bundle", len(js), err)
	}
}

func TestAssetsRevalidate(t *testing.T) {
	res := serve(t, "/static/app.js", nil)
	etag := res.Header.Get("ETag")
	if res.StatusCode != 200 || etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("app.js: %d ETag %q Cache-Control %q", res.StatusCode, etag, res.Header.Get("Cache-Control"))
	}
	if res := serve(t, "/static/app.js", http.Header{"If-None-Match": {etag}}); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", res.StatusCode)
	}
	if res := serve(t, "/static/", nil); res.StatusCode != 404 {
		t.Errorf("/static/ (a directory): %d, want 404", res.StatusCode)
	}
}

func serve(t *testing.T, path string, h http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	ui.Handler().ServeHTTP(rec, req)
	return rec.Result()
}
