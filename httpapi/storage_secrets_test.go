package httpapi_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/seal"
)

// TestStorageReadsDoNotDecryptSecrets: the answers that never show or use a
// storage's secrets do not decrypt them, so a storage whose secrets this
// process cannot open (sealed by a replica with another key, before the key
// check refused such replicas) is still shown, listed, synced and deleted;
// only the requests that use the credential fail.
func TestStorageReadsDoNotDecryptSecrets(t *testing.T) {
	e := newTestEnv(t)
	e.api.SourceStorages, e.api.TargetStorages = e.db, e.db
	e.srv.Config.Handler = e.api.Handler() // with the storage routes, now that the services are set
	ctx := t.Context()
	var p struct{ ID int64 }
	e.must(201, "POST", "/api/projects/", map[string]any{"title": "p"}).json(t, &p)
	conn := blobmark.Connection{"auth_type": "account_key", "account_name": "acct"}
	secrets := blobmark.Secrets{"account_key": "TOPSECRETKEYVALUE=="}
	src := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "in", Connection: conn, Secrets: secrets}
	if err := e.db.CreateSourceStorage(ctx, src); err != nil {
		t.Fatal(err)
	}
	dst := &blobmark.TargetStorage{ProjectID: p.ID, Type: "azure", Container: "out", Connection: conn, Secrets: secrets}
	if err := e.db.CreateTargetStorage(ctx, dst, false); err != nil {
		t.Fatal(err)
	}
	other, err := seal.New(bytes.Repeat([]byte{99}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Seal(`{"account_key":"x"}`)
	for _, table := range []string{"source_storages", "target_storages"} {
		if _, err := e.db.SQL().ExecContext(ctx, "UPDATE "+table+" SET secrets = '"+foreign+"'"); err != nil {
			t.Fatal(err)
		}
	}

	source := fmt.Sprintf("/api/storages/azure/%d", src.ID)
	target := fmt.Sprintf("/api/storages/export/azure/%d", dst.ID)
	var got map[string]any
	e.must(200, "GET", source, nil).json(t, &got)
	if got["container"] != "in" || got["account_name"] != "acct" {
		t.Errorf("GET source storage = %v", got)
	}
	e.must(200, "GET", fmt.Sprintf("/api/storages/azure/?project=%d", p.ID), nil)
	e.must(200, "GET", fmt.Sprintf("/api/storages/?project=%d", p.ID), nil)
	e.must(200, "POST", source+"/sync", nil)
	e.must(200, "GET", target, nil).json(t, &got)
	if got["container"] != "out" {
		t.Errorf("GET target storage = %v", got)
	}
	e.must(200, "GET", fmt.Sprintf("/api/storages/export/azure?project=%d", p.ID), nil)
	e.must(200, "POST", target+"/sync", nil)

	// A PATCH keeps the stored secrets, so it must open them: that fails,
	// without saying more than that to the client.
	r := e.request("PATCH", source, map[string]any{"title": "renamed"})
	if r.status != 500 || strings.Contains(r.text(), "TOPSECRET") || !strings.Contains(e.logs.String(), "decrypt") {
		t.Errorf("PATCH with undecryptable secrets: status %d body %s; want 500, the cause in the log", r.status, r.raw)
	}

	e.must(204, "DELETE", source, nil)
	e.must(204, "DELETE", target, nil)
}
