package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
)

// TestStorageJSONShowsEvents: a source storage's own answers (detail, list,
// update) carry its event state, read-only.
func TestStorageJSONShowsEvents(t *testing.T) {
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
	path := "/api/storages/azure/" + strconv.FormatInt(st.ID, 10)
	var got map[string]any
	env.must(http.StatusOK, "GET", path, nil).json(t, &got)
	if got["events_enabled"] != false || got["events_received"] != float64(0) || got["events_last_at"] != nil {
		t.Fatalf("before events: %v", got)
	}

	env.must(http.StatusOK, "PATCH", path+"/events/settings", map[string]any{"events_enabled": true})
	before := time.Now().Add(-time.Second)
	if err := env.db.AcceptStorageEvents(ctx, st.ID, []blobmark.BlobEvent{
		{ID: "e1", Container: "c1", Key: "a.jpg", Order: "1"}, {ID: "e2", Container: "c1", Key: "b.jpg", Order: "1"},
	}); err != nil {
		t.Fatal(err)
	}
	check := func(where string, m map[string]any) {
		t.Helper()
		last, _ := m["events_last_at"].(string)
		at, err := time.Parse(time.RFC3339Nano, last)
		if m["events_enabled"] != true || m["events_received"] != float64(2) || err != nil || at.Before(before) {
			t.Fatalf("%s: %v", where, m)
		}
		if _, ok := m["events_applied"]; !ok {
			t.Fatalf("%s: no events_applied in %v", where, m)
		}
	}
	env.must(http.StatusOK, "GET", path, nil).json(t, &got)
	check("detail", got)
	var list []map[string]any
	env.must(http.StatusOK, "GET", "/api/storages/azure/?project="+strconv.FormatInt(p.ID, 10), nil).json(t, &list)
	if len(list) != 1 {
		t.Fatalf("list: %v", list)
	}
	check("list", list[0])
	// Read-only: a PATCH that sends them back changes nothing.
	env.must(http.StatusOK, "PATCH", path, map[string]any{"title": "renamed", "events_received": 99, "events_enabled": false}).json(t, &got)
	check("update", got)
	if got["title"] != "renamed" {
		t.Fatalf("update: %v", got)
	}
	ev, err := env.db.FindStorageEvents(ctx, st.ID)
	if err != nil || !ev.Enabled || ev.Received != 2 {
		t.Fatalf("settings after storage PATCH: %+v %v", ev, err)
	}
}
