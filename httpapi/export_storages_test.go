package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// exportAPIEnv is the API with target storages over Azurite and the export
// workers running on the same SQLite store.
type exportAPIEnv struct {
	*storageEnv
}

func newExportAPIEnv(t *testing.T) *exportAPIEnv {
	t.Helper()
	az := azuretest.Start(t)
	conn := azureblob.NewConnector(az.Options())
	e := newTestEnv(t, func(s *httpapi.Server) {
		s.StorageChecker = &azureblob.Checker{Connector: conn}
	})
	e.api.TargetStorages = e.db
	e.api.ProjectExporter = e.db
	// The routes are built by Handler; rebuild the test server's handler
	// now that the target storage service is set.
	e.srv.Config.Handler = e.api.Handler()
	workers := river.NewWorkers()
	if err := jobs.RegisterExport(workers, jobs.ExportDeps{Store: e.db, Source: e.db.ExportStore(), Recorder: e.db.ExportStore(),
		Opener: azureblob.TargetOpener{Connector: conn}, Backoff: func(int) time.Duration { return 100 * time.Millisecond }}); err != nil {
		t.Fatal(err)
	}
	// The scheduler works the ticks a test inserts (no periodic job).
	if err := river.AddWorkerSafely(workers, &jobs.ScheduleSourceSyncsWorker{Store: e.db}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.StartJobs(t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.StopJobs(context.Background()) })
	se := &storageEnv{testEnv: e, az: az, conn: conn, container: az.NewContainer(t)}
	var p struct{ ID int64 }
	se.call(201, "POST", "/api/projects/", map[string]any{"title": "exports",
		"label_config": `<View><Text name="text" value="$text"/><Choices name="c" toName="text"><Choice value="a"/></Choices></View>`}).json(t, &p)
	se.project = p.ID
	return &exportAPIEnv{se}
}

// objects returns the container's blobs: name → body.
func (e *exportAPIEnv) objects() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.conn.Container(ctx, e.az.AccountKeyConfig(), e.container)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	err = c.List(ctx, azureblob.ListOptions{Recursive: true}, func(page []azureblob.BlobItem) error {
		for _, b := range page {
			d, err := c.Download(ctx, b.Name, 0, 0)
			if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
				continue
			} else if err != nil {
				return err
			}
			body, _ := io.ReadAll(d.Body)
			d.Body.Close()
			if d.ContentType != "application/json" {
				e.t.Errorf("%s has Content-Type %q", b.Name, d.ContentType)
			}
			out[b.Name] = string(body)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// waitObjects waits until the container's blob names, each with the label
// its annotation holds, equal want.
func (e *exportAPIEnv) waitObjects(want map[string]string) {
	e.t.Helper()
	var got map[string]string
	for range 600 {
		got = map[string]string{}
		for k, body := range e.objects() {
			var a struct {
				Result []struct {
					Value struct{ Choices []string }
				}
			}
			if err := json.Unmarshal([]byte(body), &a); err != nil || len(a.Result) != 1 {
				e.t.Fatalf("%s is not an annotation export: %s", k, body)
			}
			got[k] = strings.Join(a.Result[0].Value.Choices, ",")
		}
		if maps.Equal(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("container holds %v, want %v", got, want)
}

func exportChoice(label string) []map[string]any {
	return []map[string]any{{"from_name": "c", "to_name": "text", "type": "choices", "value": map[string]any{"choices": []string{label}}}}
}

func TestAzureTargetStorageEndToEnd(t *testing.T) {
	e := newExportAPIEnv(t)
	p := e.project
	e.call(201, "POST", fmt.Sprintf("/api/projects/%d/import", p), []map[string]any{{"text": "one"}, {"text": "two"}})
	var tasks struct{ Tasks []struct{ ID int64 } }
	e.call(200, "GET", fmt.Sprintf("/api/tasks/?project=%d", p), nil).json(t, &tasks)
	t1, t2 := tasks.Tasks[0].ID, tasks.Tasks[1].ID
	var a1 struct{ ID int64 }
	e.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", t1), map[string]any{"result": exportChoice("before")}).json(t, &a1)

	// Create: the existing annotation is exported by the initial sync.
	body := map[string]any{
		"project": p, "title": "out", "container": e.container, "prefix": "out/", "can_delete_objects": true,
		"account_name": azuretest.AccountName, "account_key": azuretest.AccountKey, "endpoint": e.az.BlobEndpoint,
	}
	var st map[string]any
	e.call(201, "POST", "/api/storages/export/azure", body).json(t, &st)
	if st["status"] != "queued" || st["export_format"] != "annotation" || st["can_delete_objects"] != true {
		t.Fatalf("created storage %v", st)
	}
	if _, ok := st["account_key"]; ok {
		t.Fatalf("the answer echoes the account key field: %v", st)
	}
	path := fmt.Sprintf("/api/storages/export/azure/%v", st["id"])
	done := e.waitSynced(path)
	if done["status"] != "completed" || done["last_sync_count"] != float64(1) {
		t.Fatalf("initial sync ended %v", done)
	}
	e.waitObjects(map[string]string{fmt.Sprintf("out/%d", a1.ID): "before"})

	// Create, update and delete through the API export at once.
	var a2 struct{ ID int64 }
	e.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", t2), map[string]any{"result": exportChoice("second")}).json(t, &a2)
	e.call(200, "PATCH", fmt.Sprintf("/api/annotations/%d/", a1.ID), map[string]any{"result": exportChoice("after")})
	e.waitObjects(map[string]string{fmt.Sprintf("out/%d", a1.ID): "after", fmt.Sprintf("out/%d", a2.ID): "second"})
	e.call(204, "DELETE", fmt.Sprintf("/api/annotations/%d/", a2.ID), nil)
	e.waitObjects(map[string]string{fmt.Sprintf("out/%d", a1.ID): "after"})

	// Lists and types.
	var list []map[string]any
	e.call(200, "GET", fmt.Sprintf("/api/storages/export?project=%d", p), nil).json(t, &list)
	if len(list) != 1 || list[0]["type"] != "azure" {
		t.Fatalf("aggregate list %v", list)
	}
	e.call(200, "GET", fmt.Sprintf("/api/storages/export/azure?project=%d", p), nil).json(t, &list)
	if len(list) != 1 {
		t.Fatalf("azure list %v", list)
	}
	e.call(200, "GET", fmt.Sprintf("/api/storages/export/azure_spi?project=%d", p), nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("azure_spi list %v", list)
	}
	var types []map[string]string
	e.call(200, "GET", "/api/storages/export/types", nil).json(t, &types)
	if len(types) != 2 {
		t.Fatalf("types %v", types)
	}
	e.call(404, "GET", fmt.Sprintf("/api/storages/export/azure_spi/%v", st["id"]), nil)
	e.call(400, "GET", "/api/storages/export", nil)

	// PATCH keeps the write-only key; switching to task mode applies to
	// the next exports, and a manual sync (SDK style: no body) writes them.
	e.call(200, "PATCH", path, map[string]any{"title": "renamed", "export_format": "task", "prefix": "tasks"}).json(t, &st)
	if st["title"] != "renamed" || st["export_format"] != "task" {
		t.Fatalf("patched storage %v", st)
	}
	e.call(200, "POST", path+"/sync", nil)
	done = e.waitSynced(path)
	if done["status"] != "completed" || done["last_sync_count"] != float64(1) {
		t.Fatalf("sync after PATCH ended %v", done)
	}
	objs := e.objects()
	if !strings.Contains(objs[fmt.Sprintf("tasks/%d.json", t1)], `"after"`) {
		t.Fatalf("task file missing or stale: %v", slices.Collect(maps.Keys(objs)))
	}
	e.call(200, "POST", path+"/sync", map[string]any{"only_new": true})
	done = e.waitSynced(path)
	if meta, _ := done["meta"].(map[string]any); done["status"] != "completed" || meta["only_new"] != true || meta["uploaded"] != float64(0) {
		t.Fatalf("only_new sync with nothing new ended %v", done)
	}
	e.call(400, "POST", path+"/sync", map[string]any{"only_new": "yes"})

	// Validation checks write access and names what to fix.
	bad := clone(body)
	bad["account_key"] = strings.Repeat("A", 86) + "=="
	r := e.call(400, "POST", "/api/storages/export/azure/validate", bad)
	if env := r.envelope(t); len(env.ValidationErrors) == 0 {
		t.Fatalf("validate with a wrong key: %s", r.raw)
	}
	missing := clone(body)
	missing["container"] = "no-such-container"
	r = e.call(400, "POST", "/api/storages/export/azure", missing)
	if env := r.envelope(t); len(env.ValidationErrors["container"]) == 0 {
		t.Fatalf("create with a missing container: %s", r.raw)
	}
	e.call(200, "POST", "/api/storages/export/azure/validate", map[string]any{"id": st["id"]})
	e.call(400, "POST", "/api/storages/export/azure", map[string]any{"project": p, "container": e.container, "export_format": "csv"})

	// The project download holds every task with its annotations, with
	// download_all_tasks; by default only the annotated ones.
	r = e.call(200, "GET", fmt.Sprintf("/api/projects/%d/export?exportType=JSON&download_all_tasks=true", p), nil)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export headers %v", r.header)
	}
	var export []struct {
		ID          int64
		Data        map[string]any
		Annotations []struct {
			ID     int64
			Result []map[string]any
		}
	}
	r.json(t, &export)
	if len(export) != 2 || export[0].ID != t1 || len(export[0].Annotations) != 1 || export[0].Annotations[0].ID != a1.ID ||
		len(export[1].Annotations) != 0 || export[1].Data["text"] != "two" {
		t.Fatalf("project export %s", r.raw)
	}
	e.call(404, "GET", "/api/projects/999999/export?exportType=JSON", nil)
	r = e.call(200, "GET", fmt.Sprintf("/api/projects/%d/export?export_type=JSON_MIN", p), nil)
	var min []map[string]any
	if r.json(t, &min); len(min) != 1 || min[0]["id"] != float64(t1) {
		t.Fatalf("JSON_MIN of the annotated tasks %s", r.raw)
	}
	if r = e.call(400, "GET", fmt.Sprintf("/api/projects/%d/export?export_type=PNG", p), nil); !strings.Contains(string(r.raw), "export_type") {
		t.Fatalf("unknown format: %s", r.raw)
	}

	// Delete keeps the objects and forgets the storage.
	e.call(204, "DELETE", path, nil)
	e.call(404, "GET", path, nil)
	if len(e.objects()) == 0 {
		t.Fatal("deleting the storage removed the exported objects")
	}
	assertNoSecret(t, e.storageEnv, azuretest.AccountKey)
}

func TestAzureSPITargetStorage(t *testing.T) {
	e := newExportAPIEnv(t)
	cfg := e.az.ServicePrincipalConfig()
	body := map[string]any{
		"project": e.project, "title": "spi", "container": e.container, "account_name": cfg.AccountName,
		"endpoint": cfg.Endpoint, "authority_host": cfg.AuthorityHost,
		"tenant_id": cfg.TenantID, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret, "sync_on_create": false,
	}
	var st map[string]any
	e.call(201, "POST", "/api/storages/export/azure_spi", body).json(t, &st)
	if st["auth_type"] != "service_principal" || st["status"] != "initialized" || st["type"] != "azure_spi" {
		t.Fatalf("created %v", st)
	}
	var tasks struct{ Tasks []struct{ ID int64 } }
	e.call(201, "POST", fmt.Sprintf("/api/projects/%d/import", e.project), []map[string]any{{"text": "x"}})
	e.call(200, "GET", fmt.Sprintf("/api/tasks/?project=%d", e.project), nil).json(t, &tasks)
	var a struct{ ID int64 }
	e.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", tasks.Tasks[0].ID), map[string]any{"result": exportChoice("spi")}).json(t, &a)
	e.waitObjects(map[string]string{fmt.Sprint(a.ID): "spi"})
	e.call(404, "GET", fmt.Sprintf("/api/storages/export/azure/%v", st["id"]), nil)
	assertNoSecret(t, e.storageEnv, cfg.ClientSecret)
}
