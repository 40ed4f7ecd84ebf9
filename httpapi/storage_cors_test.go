package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// corsAnswer is a source storage's validate answer.
type corsAnswer struct {
	CORS     *blobmark.CORSReport `json:"cors"`
	Warnings []string             `json:"warnings"`
}

// TestStorageCORSIsCheckedAndAdded: validate says that presigned media
// will not load from the public URL's origin and why, the add action puts
// the rule next to the account's other rule, and validate then passes; a
// credential that may not change the account is told what it needs.
func TestStorageCORSIsCheckedAndAdded(t *testing.T) {
	e := newStorageEnv(t, func(s *httpapi.Server) { s.PublicURL = "https://label.example.com/blobmark" })
	const origin = "https://label.example.com"
	other := azuretest.CORSRule("https://other.example.org", "GET", 60)
	e.az.SetCORSRules(t, other)
	st := createPresignedStorage(t, e)

	var a corsAnswer
	e.call(200, "POST", "/api/storages/azure/validate", map[string]any{"id": st.ID}).json(t, &a)
	if a.CORS == nil || a.CORS.Status != blobmark.CORSMissing || a.CORS.Origin != origin || len(a.Warnings) != 1 ||
		!strings.Contains(a.Warnings[0], origin) || !strings.Contains(a.CORS.Command, "--origins "+origin) {
		t.Fatalf("validate before the rule: %+v", a)
	}

	var rep blobmark.CORSReport
	e.call(200, "POST", fmt.Sprintf("/api/storages/azure/%d/cors", st.ID), nil).json(t, &rep)
	if rep.Status != blobmark.CORSPresent || rep.Rules != 2 {
		t.Fatalf("add: %+v", rep)
	}
	if rules := e.az.CORSRules(t); len(rules) != 2 || *rules[0].AllowedOrigins != origin || *rules[1].AllowedOrigins != *other.AllowedOrigins {
		t.Fatalf("rules after the add: %d", len(rules))
	}
	a = corsAnswer{}
	e.call(200, "POST", "/api/storages/azure/validate", map[string]any{"id": st.ID}).json(t, &a)
	if a.CORS == nil || a.CORS.Status != blobmark.CORSPresent || len(a.Warnings) != 0 {
		t.Fatalf("validate after the rule: %+v", a)
	}

	// Media that is streamed needs no rule: validate answers as before.
	if r := e.call(200, "POST", "/api/storages/azure/validate", map[string]any{"id": st.ID, "presign": false}); len(r.raw) != 0 {
		t.Fatalf("validate without presign: %s", r.raw)
	}

	// A SAS that may read the account but not change it: the rule's
	// absence is reported, and the add says what is needed instead.
	e.az.SetCORSRules(t, other)
	sasStorage := map[string]any{"project": e.project, "title": "sas", "auth_type": "sas_token", "sas_token": e.az.ReadOnlyAccountSAS(t),
		"container": e.container, "presign": true, "endpoint": e.az.BlobEndpoint}
	e.call(201, "POST", "/api/storages/azure/", sasStorage).json(t, &st)
	env := e.call(403, "POST", fmt.Sprintf("/api/storages/azure/%d/cors", st.ID), nil).envelope(t)
	if !strings.Contains(env.Detail, "srt=s") || !strings.Contains(env.Detail, "az storage cors add --services b --methods GET HEAD --origins "+origin) {
		t.Fatalf("add with a read-only SAS: %s", env.Detail)
	}
	if len(e.az.CORSRules(t)) != 1 {
		t.Fatal("the rules changed")
	}
	e.call(404, "POST", "/api/storages/azure/999999/cors", nil)
}

// TestStorageCORSOriginIsTheBrowsers: without a public URL the rule is for
// the origin the browser calls from, and an Origin that is not one origin
// is refused rather than written into the account's rules.
func TestStorageCORSOriginIsTheBrowsers(t *testing.T) {
	e := newStorageEnv(t)
	other := azuretest.CORSRule("https://other.example.org", "GET", 60)
	e.az.SetCORSRules(t, other)
	st := createPresignedStorage(t, e)
	path := fmt.Sprintf("/api/storages/azure/%d/cors", st.ID)
	from := func(origin string) *response {
		return e.requestWith("POST", path, nil, http.Header{"Authorization": {"Token " + e.token}, "Origin": {origin}})
	}
	for _, bad := range []string{"https://a.example,https://b.example", "ftp://files.example", "https://user@a.example"} {
		if r := from(bad); r.status != 400 || !strings.Contains(string(r.raw), "--public-url") {
			t.Errorf("Origin %q: %d %s", bad, r.status, r.raw)
		}
	}
	if rules := e.az.CORSRules(t); len(rules) != 1 {
		t.Fatalf("a refused origin changed the rules: %d", len(rules))
	}
	r := from("http://localhost:8080")
	if r.status != 200 {
		t.Fatalf("add from the browser's origin: %d %s", r.status, r.raw)
	}
	var rep blobmark.CORSReport
	if r.json(t, &rep); rep.Origin != "http://localhost:8080" || rep.Status != blobmark.CORSPresent {
		t.Fatalf("add from the browser's origin: %+v", rep)
	}
	if rules := e.az.CORSRules(t); len(rules) != 2 || *rules[0].AllowedOrigins != "http://localhost:8080" {
		t.Fatalf("rules after the add: %d", len(rules))
	}
}

// createPresignedStorage creates a source storage on the env's container
// whose media is presigned, with the account key.
func createPresignedStorage(t *testing.T, e *storageEnv) (st struct{ ID int64 }) {
	t.Helper()
	e.call(201, "POST", "/api/storages/azure/", map[string]any{"project": e.project, "title": "imgs",
		"account_name": azuretest.AccountName, "account_key": azuretest.AccountKey,
		"container": e.container, "presign": true, "endpoint": e.az.BlobEndpoint}).json(t, &st)
	return st
}
