package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/sqlstore"
)

// lateEvents lets a test wire the store after newTestEnv has built the routes.
type lateEvents struct{ *sqlstore.DB }

func TestStorageEventsWebhookHandshakesAndToken(t *testing.T) {
	late := &lateEvents{}
	env := newTestEnv(t, func(s *httpapi.Server) { s.StorageEvents = late })
	late.DB = env.db
	env.api.SourceStorages = env.db
	ctx := t.Context()
	p := &blobmark.Project{Title: "p"}
	if err := env.db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	st := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c1", UseBlobURLs: true, Connection: blobmark.Connection{}}
	if err := env.db.CreateSourceStorage(ctx, st); err != nil {
		t.Fatal(err)
	}
	base := "/api/storages/azure/" + strconv.FormatInt(st.ID, 10) + "/events"

	// Not enabled: refused, whatever the token.
	if r := env.requestWith("POST", base+"?code=x", `[]`, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("disabled: %d %s", r.status, r.text())
	}
	var on map[string]any
	env.must(http.StatusOK, "PATCH", base+"/settings", map[string]any{"events_enabled": true}).json(t, &on)
	u, _ := on["events_url"].(string)
	i := strings.Index(u, "?code=")
	if i < 0 {
		t.Fatalf("no events_url in %v", on)
	}
	code := u[i+len("?code="):]
	var again map[string]any
	env.must(http.StatusOK, "GET", base+"/settings", nil).json(t, &again)
	if _, shown := again["events_url"]; shown || again["events_enabled"] != true {
		t.Fatalf("settings shown again: %v", again)
	}
	if r := env.requestWith("POST", base+"?code=wrong", `[]`, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", r.status)
	}

	// Event Grid's subscription validation.
	r := env.requestWith("POST", base+"?code="+code, `[{"id":"v","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent",
		"subject":"","data":{"validationCode":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},"eventTime":"2025-01-01T00:00:00Z"}]`, nil)
	var vr map[string]string
	r.json(t, &vr)
	if r.status != http.StatusOK || vr["validationResponse"] != "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" {
		t.Fatalf("validation: %d %v", r.status, vr)
	}
	// CloudEvents abuse protection.
	r = env.requestWith("OPTIONS", base+"?code="+code, nil, http.Header{"Webhook-Request-Origin": {"eventgrid.azure.net"}})
	if r.status != http.StatusOK || r.header.Get("WebHook-Allowed-Origin") != "eventgrid.azure.net" {
		t.Fatalf("options: %d %v", r.status, r.header)
	}
	// A delivery is persisted before the 200: the counters show it.
	r = env.requestWith("POST", base+"?code="+code, `{"specversion":"1.0","id":"1","type":"Microsoft.Storage.BlobCreated",
		"subject":"/blobServices/default/containers/c1/blobs/a.png","time":"2025-01-01T00:00:00Z","data":{"sequencer":"01"}}`, nil)
	if r.status != http.StatusOK {
		t.Fatalf("delivery: %d %s", r.status, r.text())
	}
	ev, err := env.db.FindStorageEvents(ctx, st.ID)
	if err != nil || ev.Received != 1 {
		t.Fatalf("after delivery: %+v %v", ev, err)
	}
	// Rotation invalidates the old token.
	env.must(http.StatusOK, "PATCH", base+"/settings", map[string]any{"rotate": true})
	if r := env.requestWith("POST", base+"?code="+code, `[]`, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("old token after rotation: %d", r.status)
	}
}
