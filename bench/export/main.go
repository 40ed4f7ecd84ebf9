// Command export measures exports to a target storage against their
// physical limit, measured side by side in the same run, and prints a table:
//
//   - a full export (sync) of N annotations ÷ uploading the same N payloads
//     straight to a container with the same SDK at the same concurrency;
//   - p50/p99 of POST /api/tasks/{id}/annotations/ on a project with a
//     target storage attached vs one without (the export job is enqueued in
//     the annotation's transaction, so this is its whole cost on the write);
//   - time from an annotation's save (the POST's answer) to its blob being
//     visible in the container, p50/p99, with the export workers running.
//
// Run it with `go run ./bench/export [-database-url postgres://…]` (embedded
// SQLite by default); flags shrink the parts. It never
// fails on timing: it prints numbers.
//
// Like every program under bench/, it may import any blobmark package.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/exporter"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/lswire"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

const labelConfig = `<View><Text name="text" value="$text"/><Choices name="c" toName="text"><Choice value="a"/><Choice value="b"/></Choices></View>`

func main() {
	n := flag.Int("annotations", 10_000, "annotations in the full export")
	concurrency := flag.Int("concurrency", jobs.DefaultExportConcurrency, "uploads at once, for the export and the direct upload alike")
	posts := flag.Int("posts", 400, "annotation POSTs per project for the latency comparison")
	visible := flag.Int("visible", 200, "annotations timed from save to visible blob")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the full export to this file")
	databaseURL := flag.String("database-url", "", "PostgreSQL URL (default: embedded SQLite in a temporary directory)")
	flag.Parse()
	ctx := context.Background()

	az := benchkit.StartAzurite()
	defer az.Stop()
	cfg := az.Config()
	conn := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true})

	store := benchkit.OpenStoreURL(ctx, *databaseURL)
	defer store.Close()
	db, token, ctx := store.DB, store.Token, store.Context

	// Part 1: full export vs direct upload, in the order direct, export,
	// export, direct (each to a fresh container), so Azurite's warm-up and
	// its growing blob count weigh on both sides alike.
	pid, _ := project(ctx, db, *n, true)
	var exportTime, directTime time.Duration
	var payloads map[string][]byte
	for i, step := range []string{"direct", "export", "export", "direct"} {
		name := fmt.Sprintf("%s%d", step, i)
		az.CreateContainer(ctx, name)
		if step == "direct" {
			if payloads == nil {
				payloads = payloadsOf(ctx, db, pid)
			}
			c, err := conn.Container(ctx, cfg, name)
			benchkit.Check(err)
			_, _ = c.UploadBytes(ctx, "warmup", []byte("{}"), exporter.ContentType)
			start := time.Now()
			uploadAll(ctx, c, payloads, *concurrency)
			directTime += time.Since(start)
			continue
		}
		st := storage(pid, cfg, name)
		benchkit.Check(db.CreateTargetStorage(ctx, st, false))
		up, err := azureblob.TargetOpener{Connector: conn}.OpenUploader(ctx, st)
		benchkit.Check(err)
		_, _ = up.Upload(ctx, "warmup", []byte("{}"), exporter.ContentType)
		deps := exporter.Deps{Source: db.ExportStore(), Recorder: db.ExportStore(), Uploader: up, Concurrency: *concurrency}
		if *cpuprofile != "" && i == 1 {
			f, err := os.Create(*cpuprofile)
			benchkit.Check(err)
			benchkit.Check(pprof.StartCPUProfile(f))
		}
		start := time.Now()
		res, err := exporter.SyncAll(ctx, deps, exporter.StorageOf(st), false, nil)
		benchkit.Check(err)
		exportTime += time.Since(start)
		pprof.StopCPUProfile()
		if res.Uploaded != *n || res.Failed != 0 {
			benchkit.Fatal(fmt.Sprintf("export uploaded %d of %d, %d failed", res.Uploaded, *n, res.Failed))
		}
	}
	exportTime, directTime = exportTime/2, directTime/2

	// Parts 2 and 3 run through the HTTP API with the export workers on.
	workers := river.NewWorkers()
	benchkit.Check(jobs.RegisterExport(workers, jobs.ExportDeps{Store: db, Source: db.ExportStore(), Recorder: db.ExportStore(),
		Opener: azureblob.TargetOpener{Connector: conn}}))
	// The server's own job settings: workers are woken by each enqueue.
	benchkit.Check(db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers}))
	api := &httpapi.Server{Users: db, Projects: db, Tasks: db, Annotations: db, TargetStorages: db, ProjectExporter: db,
		Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	plainProject, plainTasks := project(ctx, db, *posts, false)
	storedProject, storedTasks := project(ctx, db, *posts+*visible, false)
	liveContainer := "live"
	az.CreateContainer(ctx, liveContainer)
	live := storage(storedProject, cfg, liveContainer)
	benchkit.Check(db.CreateTargetStorage(ctx, live, false))
	_ = plainProject

	client := srv.Client()
	var without, with []time.Duration
	for i := range *posts { // interleaved, so both see the same machine
		without = append(without, post(client, srv.URL, token, plainTasks[i]).latency)
		with = append(with, post(client, srv.URL, token, storedTasks[i]).latency)
	}

	liveC, err := conn.Container(ctx, cfg, liveContainer)
	benchkit.Check(err)
	var toVisible []time.Duration
	for i := range *visible {
		p := post(client, srv.URL, token, storedTasks[*posts+i])
		for {
			if _, err := liveC.Properties(ctx, strconv.FormatInt(p.id, 10)); err == nil {
				break
			} else if blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
				benchkit.Check(err)
			}
			time.Sleep(time.Millisecond)
		}
		toVisible = append(toVisible, time.Since(p.saved))
	}
	benchkit.Check(db.StopJobs(ctx))

	rows := [][3]string{
		{"measure", "value", "goal"},
		{fmt.Sprintf("full export of %d annotations (%d at once, mean of 2)", *n, *concurrency), benchkit.Round(exportTime), ""},
		{"direct upload of the same payloads, same concurrency (mean of 2)", benchkit.Round(directTime), ""},
		{"ratio: direct upload ÷ export", fmt.Sprintf("%.2f", directTime.Seconds()/exportTime.Seconds()), "≥ 0.8"},
		{fmt.Sprintf("POST annotation p50 / p99, no target storage (%d)", *posts), pct(without, 50) + " / " + pct(without, 99), ""},
		{fmt.Sprintf("POST annotation p50 / p99, target storage (%d)", *posts), pct(with, 50) + " / " + pct(with, 99), ""},
		{"p50 difference (with − without)", benchkit.Round(benchkit.Percentile(with, 50) - benchkit.Percentile(without, 50)), "≤ 2ms"},
		{fmt.Sprintf("save → blob visible p50 / p99 (%d)", *visible), pct(toVisible, 50) + " / " + pct(toVisible, 99), ""},
	}
	fmt.Printf("blobmark export (%s)\n\n", benchkit.DatabaseName(ctx, db))
	for _, r := range rows {
		fmt.Printf("%-66s %-24s %s\n", r[0], r[1], r[2])
	}
}

// project creates a project with n tasks, each with one annotation when
// annotated (imported, so no export job is queued for them).
func project(ctx context.Context, db *sqlstore.DB, n int, annotated bool) (int64, []int64) {
	p := &blobmark.Project{Title: "bench", LabelConfig: labelConfig}
	benchkit.Check(db.CreateProject(ctx, p))
	var ids []int64
	for start := 0; start < n; start += 1000 {
		var batch []*blobmark.TaskImport
		for i := start; i < min(n, start+1000); i++ {
			t := &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"text":"task %d"}`, i))}
			if annotated {
				t.Annotations = []*blobmark.Annotation{{Result: result(i), CompletedBy: blobmark.UserIDFromContext(ctx), LeadTime: 3.5}}
			}
			batch = append(batch, t)
		}
		res, err := db.ImportTasks(ctx, p.ID, batch)
		benchkit.Check(err)
		ids = append(ids, res.TaskIDs...)
	}
	return p.ID, ids
}

func result(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`[{"id":"r%d","from_name":"c","to_name":"text","type":"choices","value":{"choices":["a"]}}]`, i))
}

func storage(projectID int64, cfg azureblob.Config, container string) *blobmark.TargetStorage {
	return &blobmark.TargetStorage{ProjectID: projectID, Type: "azure", Title: "bench", Container: container,
		Connection: blobmark.Connection{"auth_type": string(cfg.AuthType), "account_name": cfg.AccountName, "endpoint": cfg.Endpoint},
		Secrets:    blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}}
}

// payloadsOf builds the exact bytes the export writes for every annotation
// of the project, keyed by object name, before any timing starts.
func payloadsOf(ctx context.Context, db *sqlstore.DB, projectID int64) map[string][]byte {
	src := db.ExportStore()
	out := map[string][]byte{}
	q := exporter.ExportQuery{ProjectID: projectID, Limit: 1000}
	for {
		page, err := src.FindAnnotationsToExport(ctx, q)
		benchkit.Check(err)
		if len(page) == 0 {
			return out
		}
		for _, ref := range page {
			a, err := src.FindAnnotationByID(ctx, ref.ID)
			benchkit.Check(err)
			t, err := src.FindTaskByID(ctx, ref.TaskID)
			benchkit.Check(err)
			u, err := src.FindUserByID(ctx, a.CompletedBy)
			benchkit.Check(err)
			body, err := lswire.AnnotationJSON(a, t, u)
			benchkit.Check(err)
			out[strconv.FormatInt(a.ID, 10)] = body
		}
		q.AfterID = page[len(page)-1].ID
	}
}

func uploadAll(ctx context.Context, c *azureblob.Container, payloads map[string][]byte, concurrency int) {
	keys := make(chan string)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for k := range keys {
				_, err := c.UploadBytes(ctx, k, payloads[k], exporter.ContentType)
				benchkit.Check(err)
			}
		})
	}
	for k := range payloads {
		keys <- k
	}
	close(keys)
	wg.Wait()
}

type posted struct {
	id      int64
	latency time.Duration
	saved   time.Time
}

func post(client *http.Client, base, token string, taskID int64) posted {
	raw, took := benchkit.Call(client, token, "POST", fmt.Sprintf("%s/api/tasks/%d/annotations/", base, taskID),
		`{"result":[{"from_name":"c","to_name":"text","type":"choices","value":{"choices":["b"]}}],"lead_time":2}`, http.StatusCreated)
	saved := time.Now()
	var a struct{ ID int64 }
	benchkit.Check(json.Unmarshal(raw, &a))
	return posted{id: a.ID, latency: took, saved: saved}
}

func pct(d []time.Duration, p int) string { return benchkit.Round(benchkit.Percentile(d, p)) }
