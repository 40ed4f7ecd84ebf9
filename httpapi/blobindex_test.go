package httpapi_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

// TestStorageBlobIndexSettings: metadata_keys, tag_keys and tag_filter are
// refused with a 400 naming the field at fault at every endpoint that
// takes storage settings, a refused PATCH changes nothing, and good
// settings are saved and shown. A storage that never sends them shows
// empty lists and no filter, as before.
func TestStorageBlobIndexSettings(t *testing.T) {
	env := newTestEnv(t)
	env.api.SourceStorages = env.db
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("Blob index", imageConfig)
	st := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c", Presign: true, PresignTTL: 15, UseBlobURLs: true,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"},
		Secrets:    blobmark.Secrets{"account_key": "a2V5"}}
	if err := env.db.CreateSourceStorage(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/storages/azure/%d", st.ID)
	var got map[string]any
	env.request("GET", path, nil).json(t, &got)
	if fmt.Sprintf("%v %v %q", got["metadata_keys"], got["tag_keys"], got["tag_filter"]) != `[] [] ""` {
		t.Fatalf("a storage without the settings shows %v %v %q", got["metadata_keys"], got["tag_keys"], got["tag_filter"])
	}

	bad := []struct {
		name, field string
		body        map[string]any
		says        string
	}{
		{"metadata_keys not a list", "metadata_keys", map[string]any{"metadata_keys": "camera"}, "list of strings"},
		{"tag_keys star and names", "tag_keys", map[string]any{"tag_keys": []string{"*", "split"}}, `"*" alone`},
		{"metadata_keys in Tasks mode", "metadata_keys", map[string]any{"use_blob_urls": false, "metadata_keys": []string{"camera"}}, "use_blob_urls"},
		{"tag_filter unclosed", "tag_filter", map[string]any{"tag_filter": `"split" = 'train`}, "unclosed"},
		{"tag_filter no comparison", "tag_filter", map[string]any{"tag_filter": `split`}, "no comparison"},
		{"tag_filter with sync_deleted", "sync_deleted", map[string]any{"tag_filter": `"a" = 'b'`, "sync_deleted": true}, "tag_filter"},
	}
	base := map[string]any{"project": p.ID, "container": "c", "account_name": "acct", "account_key": "a2V5", "use_blob_urls": true}
	for _, tt := range bad {
		for _, ep := range []struct{ method, path string }{{"POST", "/api/storages/azure/"}, {"PATCH", path}, {"POST", "/api/storages/azure/validate"}} {
			t.Run(tt.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				body := maps.Clone(base)
				maps.Copy(body, tt.body)
				r := env.request(ep.method, ep.path, body)
				if r.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400; body %.300s", r.status, r.raw)
				}
				if msgs := r.envelope(t).ValidationErrors[tt.field]; !strings.Contains(strings.Join(msgs, " "), tt.says) {
					t.Fatalf("body %.400s: want a message on %s saying %q", r.raw, tt.field, tt.says)
				}
			})
		}
	}
	if s, err := env.db.FindSourceStorageByID(t.Context(), st.ID); err != nil || s.MetadataKeys != nil || s.TagFilter != "" || !s.UseBlobURLs {
		t.Fatalf("after refused PATCHes the storage is %+v, %v", s, err)
	}

	r := env.request("PATCH", path, map[string]any{"metadata_keys": []string{"camera"}, "tag_keys": []string{"*"}})
	if r.status != http.StatusOK {
		t.Fatalf("PATCH: status %d; body %.300s", r.status, r.raw)
	}
	s, err := env.db.FindSourceStorageByID(t.Context(), st.ID)
	if err != nil || !slices.Equal(s.MetadataKeys, []string{"camera"}) || !slices.Equal(s.TagKeys, []string{"*"}) {
		t.Fatalf("saved %+v, %v", s, err)
	}
	r = env.request("PATCH", path, map[string]any{"metadata_keys": []string{}, "tag_filter": `"split" = 'train'`})
	r.json(t, &got)
	if r.status != http.StatusOK || fmt.Sprintf("%v %v %v", got["metadata_keys"], got["tag_keys"], got["tag_filter"]) != `[] [*] "split" = 'train'` {
		t.Fatalf("PATCH: status %d, body %.400s", r.status, r.raw)
	}
}

// TestFilesPreviewByTagFilter: the files preview of a storage with a tag
// filter lists the blobs Azure finds by their tags, and an expression
// Azure refuses is a 400 on tag_filter with Azure's reason, before the
// storage is saved.
func TestFilesPreviewByTagFilter(t *testing.T) {
	e := newStorageEnv(t)
	e.az.PutIndexedBlob(t, e.container, "a.jpg", "x", nil, map[string]string{"split": "train"})
	e.az.PutIndexedBlob(t, e.container, "b.jpg", "x", nil, map[string]string{"split": "test"})
	cfg := e.az.AccountKeyConfig()
	body := map[string]any{"project": e.project, "container": e.container, "account_name": cfg.AccountName,
		"account_key": cfg.AccountKey, "endpoint": cfg.Endpoint, "use_blob_urls": true, "tag_filter": `"split" = 'train'`}
	var files struct{ Files []struct{ Key string } }
	e.call(200, "POST", "/api/storages/azure/files", body).json(t, &files)
	if len(files.Files) != 1 || files.Files[0].Key != "a.jpg" {
		t.Fatalf("preview = %+v, want a.jpg only", files.Files)
	}
	body["tag_filter"] = `"split" = 'train' AND`
	r := e.call(400, "POST", "/api/storages/azure/files", body)
	if msgs := r.envelope(t).ValidationErrors["tag_filter"]; !strings.Contains(strings.Join(msgs, " "), "rejected by Azure Storage") {
		t.Fatalf("body %.400s: want Azure's refusal on tag_filter", r.raw)
	}
}
