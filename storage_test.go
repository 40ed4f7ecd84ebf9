package blobmark_test

import (
	"testing"

	"github.com/blobmark/blobmark"
)

// TestCORSOrigin: a CORS rule gets exactly one http(s) origin, whatever
// path the URL had.
func TestCORSOrigin(t *testing.T) {
	for raw, want := range map[string]string{
		"https://label.example.com/blobmark/": "https://label.example.com",
		"http://127.0.0.1:8080":               "http://127.0.0.1:8080",
		"https://a.example,https://b.example": "",
		"https://a.example, https://b":        "",
		"ftp://files.example":                 "",
		"https://user:pw@a.example":           "",
		"label.example.com":                   "",
		"":                                    "",
	} {
		got, err := blobmark.CORSOrigin(raw)
		if got != want || (want == "") != (blobmark.ErrorCode(err) == blobmark.EINVALID) {
			t.Errorf("CORSOrigin(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}
