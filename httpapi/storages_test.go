package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// storageEnv is the API with source storages over Azurite and the sync
// workers running on the same SQLite store.
type storageEnv struct {
	*testEnv
	az        *azuretest.Env
	conn      *azureblob.Connector
	container string
	project   int64
	bodies    []string // every answer, for the secret-leak check
}

func newStorageEnv(t *testing.T, configure ...func(*httpapi.Server)) *storageEnv {
	t.Helper()
	az := azuretest.Start(t)
	conn := azureblob.NewConnector(az.Options())
	checker := &azureblob.Checker{Connector: conn}
	var e *testEnv
	e = newTestEnv(t, append([]func(*httpapi.Server){func(s *httpapi.Server) {
		s.StorageChecker = checker
		s.StorageFiles = checker
		s.StorageCORS = checker
	}}, configure...)...)
	e.api.SourceStorages = e.db // the handler reads the field per request
	workers := river.NewWorkers()
	if err := errors.Join(
		river.AddWorkerSafely(workers, &jobs.SyncSourceWorker{Store: e.db, Source: azureblob.SourceOpener{Connector: conn}}),
		river.AddWorkerSafely(workers, &jobs.ScheduleSourceSyncsWorker{Store: e.db}),
	); err != nil {
		t.Fatal(err)
	}
	if err := e.db.StartJobs(t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.StopJobs(context.Background()) })
	se := &storageEnv{testEnv: e, az: az, conn: conn, container: az.NewContainer(t)}
	var p struct{ ID int64 }
	se.call(201, "POST", "/api/projects/", map[string]any{"title": "storages"}).json(t, &p)
	se.project = p.ID
	return se
}

func (e *storageEnv) call(want int, method, path string, body any) *response {
	e.t.Helper()
	r := e.request(method, path, body)
	e.bodies = append(e.bodies, string(r.raw))
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.raw)
	}
	return r
}

func (e *storageEnv) put(key, content string) {
	e.t.Helper()
	c, err := e.conn.Container(e.t.Context(), e.az.AccountKeyConfig(), e.container)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.UploadBytes(e.t.Context(), key, []byte(content), "text/plain"); err != nil {
		e.t.Fatal(err)
	}
}

// waitSynced polls the storage until its sync has finished.
func (e *storageEnv) waitSynced(path string) map[string]any {
	e.t.Helper()
	for range 600 {
		var st map[string]any
		e.call(200, "GET", path, nil).json(e.t, &st)
		if s := st["status"]; s != "queued" && s != "in_progress" {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatal("sync did not finish")
	return nil
}

func (e *storageEnv) taskCount() int {
	e.t.Helper()
	var list struct{ Total int }
	e.call(200, "GET", fmt.Sprintf("/api/tasks/?project=%d", e.project), nil).json(e.t, &list)
	return list.Total
}

func TestAzureSourceStorageEndToEnd(t *testing.T) {
	e := newStorageEnv(t)
	key := azuretest.AccountKey
	for _, k := range []string{"imgs/a.jpg", "imgs/b.jpg", "imgs/l2/c.jpg", "imgs/l2/l3/d.jpg", "imgs/notes.txt"} {
		e.put(k, "0123456789")
	}
	// The SDK's request shape, plus the endpoint Azurite needs.
	create := map[string]any{"project": e.project, "title": "imgs", "account_name": azuretest.AccountName, "account_key": key,
		"container": e.container, "prefix": "imgs", "regex_filter": `.*\.jpg`, "use_blob_urls": true, "presign": true,
		"presign_ttl": 5, "recursive_scan": true, "endpoint": e.az.BlobEndpoint}

	// Preview before saving: the keys in scope, with size and last-modified.
	var files struct {
		Files []struct {
			Key          string    `json:"key"`
			Size         int64     `json:"size"`
			LastModified time.Time `json:"last_modified"`
		}
	}
	e.call(200, "POST", "/api/storages/azure/files", create).json(t, &files)
	if len(files.Files) != 4 || files.Files[0].Key != "imgs/a.jpg" || files.Files[0].Size != 10 || files.Files[0].LastModified.IsZero() {
		t.Fatalf("files preview = %+v", files.Files)
	}

	// Validation names the field to fix.
	bad := clone(create)
	bad["account_key"] = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA=="
	if env := e.call(400, "POST", "/api/storages/azure/validate", bad).envelope(t); len(env.ValidationErrors["account_key"]) == 0 {
		t.Fatalf("a wrong key: validation_errors %v", env.ValidationErrors)
	}
	bad = clone(create)
	bad["regex_filter"] = "(unclosed"
	if env := e.call(400, "POST", "/api/storages/azure/", bad).envelope(t); len(env.ValidationErrors["regex_filter"]) == 0 {
		t.Fatalf("an invalid regex: validation_errors %v", env.ValidationErrors)
	}
	bad = clone(create)
	bad["container"] = "nosuchcontainer"
	if env := e.call(400, "POST", "/api/storages/azure/validate", bad).envelope(t); len(env.ValidationErrors["container"]) == 0 {
		t.Fatalf("a missing container: validation_errors %v", env.ValidationErrors)
	}
	e.call(200, "POST", "/api/storages/azure/validate", create)

	var st map[string]any
	e.call(201, "POST", "/api/storages/azure/", create).json(t, &st)
	id := int64(st["id"].(float64))
	path := fmt.Sprintf("/api/storages/azure/%d", id)
	for _, k := range []string{"id", "type", "synchronizable", "presign", "container", "prefix", "regex_filter", "use_blob_urls",
		"account_name", "last_sync", "last_sync_count", "last_sync_job", "status", "traceback", "meta", "title", "description",
		"created_at", "presign_ttl", "recursive_scan", "project"} {
		if _, ok := st[k]; !ok {
			t.Errorf("storage JSON lacks %q: %v", k, st)
		}
	}
	if st["type"] != "azure" || st["status"] != "initialized" {
		t.Fatalf("created storage %v", st)
	}
	e.call(400, "GET", "/api/storages/azure/", nil)
	var list []map[string]any
	e.call(200, "GET", fmt.Sprintf("/api/storages/azure/?project=%d", e.project), nil).json(t, &list)
	if len(list) != 1 {
		t.Fatalf("list = %v", list)
	}

	// A PATCH that omits the secret keeps it: the sync below authenticates.
	e.call(200, "PATCH", path, map[string]any{"title": "renamed"})

	var first, second map[string]any
	e.call(200, "POST", path+"/sync", nil).json(t, &first)
	e.call(200, "POST", path+"/sync", nil).json(t, &second)
	if first["status"] == "initialized" || first["last_sync_job"] == nil {
		t.Fatalf("sync answer %v", first)
	}
	if second["status"] != "completed" && second["last_sync_job"] != first["last_sync_job"] {
		t.Fatalf("a second request while the first runs enqueued again: %v then %v", first["last_sync_job"], second["last_sync_job"])
	}
	st = e.waitSynced(path)
	if st["status"] != "completed" || st["last_sync_count"].(float64) != 4 || st["title"] != "renamed" {
		t.Fatalf("after sync: %v", st)
	}
	if n := e.taskCount(); n != 4 {
		t.Fatalf("%d tasks, want 4", n)
	}

	var all []map[string]any
	e.call(200, "GET", fmt.Sprintf("/api/storages/?project=%d", e.project), nil).json(t, &all)
	var types []map[string]string
	e.call(200, "GET", "/api/storages/types", nil).json(t, &types)
	if len(all) != 1 || len(types) != 2 || types[0]["name"] != "azure" {
		t.Fatalf("aggregates: %v / %v", all, types)
	}

	// Deleting the storage keeps its tasks.
	e.call(204, "DELETE", path, nil)
	e.call(404, "GET", path, nil)
	if n := e.taskCount(); n != 4 {
		t.Fatalf("after deleting the storage: %d tasks, want 4 kept", n)
	}
	assertNoSecret(t, e, key)
}

func TestAzureSPISourceStorage(t *testing.T) {
	e := newStorageEnv(t)
	cfg := e.az.ServicePrincipalConfig()
	e.put("one.json", `{"text":"hello"}`)
	create := map[string]any{"project": e.project, "title": "spi", "account_name": azuretest.AccountName, "container": e.container,
		"tenant_id": cfg.TenantID, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret, "use_blob_urls": false,
		"presign": true, "presign_ttl": 1, "endpoint": cfg.Endpoint, "authority_host": cfg.AuthorityHost}
	var st map[string]any
	e.call(201, "POST", "/api/storages/azure_spi/", create).json(t, &st)
	path := fmt.Sprintf("/api/storages/azure_spi/%v", st["id"])
	if st["type"] != "azure_spi" || st["auth_type"] != "service_principal" {
		t.Fatalf("created %v", st)
	}
	e.call(404, "GET", fmt.Sprintf("/api/storages/azure/%v", st["id"]), nil) // the other flavour's path
	e.call(200, "POST", "/api/storages/azure_spi/validate", map[string]any{"id": st["id"], "title": "x"})
	e.call(200, "POST", path+"/sync", nil)
	st = e.waitSynced(path)
	if st["status"] != "completed" || e.taskCount() != 1 {
		t.Fatalf("after sync: %v, %d tasks", st, e.taskCount())
	}
	assertNoSecret(t, e, cfg.ClientSecret)
}

func clone(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// assertNoSecret checks every answer and the server's log for secret.
func assertNoSecret(t *testing.T, e *storageEnv, secret string) {
	t.Helper()
	for _, b := range e.bodies {
		if strings.Contains(b, secret) {
			t.Fatalf("an answer contains the secret: %s", b)
		}
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the log contains the secret")
	}
	if len(e.bodies) < 5 {
		t.Fatalf("only %d answers checked", len(e.bodies))
	}
}

func TestSourceStorageDeletedBlobIsMarkedInTheTaskAPI(t *testing.T) {
	e := newStorageEnv(t)
	e.put("keep.jpg", "x")
	e.put("drop.jpg", "x")
	var st map[string]any
	e.call(201, "POST", "/api/storages/azure/", map[string]any{"project": e.project, "account_name": azuretest.AccountName,
		"account_key": azuretest.AccountKey, "endpoint": e.az.BlobEndpoint, "container": e.container, "use_blob_urls": true,
		"sync_deleted": true}).json(t, &st)
	path := fmt.Sprintf("/api/storages/azure/%v", st["id"])
	e.call(200, "POST", path+"/sync", nil)
	e.waitSynced(path)
	var list struct {
		Tasks []struct {
			ID   int64          `json:"id"`
			Data map[string]any `json:"data"`
		}
	}
	e.call(200, "GET", fmt.Sprintf("/api/tasks/?project=%d", e.project), nil).json(t, &list)
	if len(list.Tasks) != 2 {
		t.Fatalf("tasks = %+v", list.Tasks)
	}
	annotated := list.Tasks[0].ID
	e.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", annotated), map[string]any{"result": []any{}})

	c, err := e.conn.Container(t.Context(), e.az.AccountKeyConfig(), e.container)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"keep.jpg", "drop.jpg"} {
		if err := c.Delete(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	e.call(200, "POST", path+"/sync", nil)
	st = e.waitSynced(path)
	meta := st["meta"].(map[string]any)
	if meta["tasks_removed"] != 1.0 || meta["tasks_marked_missing"] != 1.0 || e.taskCount() != 1 {
		t.Fatalf("after the blobs were deleted: meta %v, %d tasks", meta, e.taskCount())
	}
	var task map[string]any
	e.call(200, "GET", fmt.Sprintf("/api/tasks/%d/", annotated), nil).json(t, &task)
	if task["blob_missing"] != true {
		t.Fatalf("the annotated task of a deleted blob is not marked: %v", task)
	}
}
