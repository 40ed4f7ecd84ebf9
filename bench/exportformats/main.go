// Command exportformats measures project exports in JSON, COCO and YOLO,
// two ways: the download route (GET /api/projects/{id}/export?exportType=…,
// streamed as the rows are read), and a snapshot (what its jobs do: the
// JSON written into the database, converted into the format when that is
// not JSON, then downloaded from the store). The physical limit, measured
// in the same run, is merely streaming the same task and annotation rows
// out of the database. For each of two project sizes it prints the time,
// the tasks per second, the ratio limit ÷ export (goal ≥ 0.5) and the peak
// RSS of the process during that one export, which must stay flat from
// the small project to the large one. Label Studio publishes 50,000
// records in about four minutes (~210 tasks/s) for comparison.
//
// Run it with `go run ./bench/exportformats [-tasks 100000] [-small 10000]
// [-formats JSON,COCO,YOLO] [-cpuprofile file] [-database-url postgres://…]`
// (embedded SQLite by default). It never fails on timing: it prints
// numbers.
//
// Like every program under bench/, it may import any blobmark package.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/sqlstore"
)

const labelConfig = `<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">` +
	`<Label value="Cat"/><Label value="Dog"/><Label value="Bird"/></RectangleLabels></View>`

func main() {
	large := flag.Int("tasks", 100_000, "annotated tasks in the large project")
	small := flag.Int("small", 10_000, "annotated tasks in the small project, to show the peak RSS does not grow")
	databaseURL := flag.String("database-url", "", "PostgreSQL URL (default: embedded SQLite in a temporary directory)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the exports (not of the project setup) to this file")
	only := flag.String("formats", "JSON,COCO,YOLO", "comma-separated formats to export")
	flag.Parse()
	ctx := context.Background()

	store := benchkit.OpenStoreURL(ctx, *databaseURL)
	defer store.Close()
	db, ctx := store.DB, store.Context
	api := &httpapi.Server{Users: db, Projects: db, Tasks: db, Annotations: db, ProjectExporter: db, ExportSnapshots: db,
		Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	sizes := []int{*small, *large}
	projects := make([]int64, len(sizes))
	for i, n := range sizes {
		projects[i] = project(ctx, db, n)
	}
	benchkit.Settle(ctx, db)

	backend := "SQLite"
	if *databaseURL != "" {
		backend = "PostgreSQL"
	}
	fmt.Printf("blobmark export formats benchmark (%s, one annotation of 2 boxes per task)\n\n", backend)
	fmt.Printf("| tasks | format | way | export | tasks/s | output | limit: stream rows | ratio limit ÷ export | peak RSS | goal |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|\n")
	ways := []struct {
		name string
		run  func(project int64, format string) int64
	}{
		{"download", func(project int64, format string) int64 {
			return download(srv, store.Token, fmt.Sprintf("/api/projects/%d/export?exportType=%s", project, format))
		}},
		{"snapshot", func(project int64, format string) int64 {
			return snapshot(ctx, db, srv, store.Token, project, format)
		}},
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		benchkit.Check(err)
		benchkit.Check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	for i, n := range sizes {
		limit := streamRows(ctx, db, projects[i])
		for _, format := range strings.Split(*only, ",") {
			for _, way := range ways {
				benchkit.Check(benchkit.ResetPeakRSS())
				start := time.Now()
				size := way.run(projects[i], format)
				took := time.Since(start)
				fmt.Printf("| %d | %s | %s | %s | %.0f | %.1f MB | %s | %.2f | %d MB | ≥ 0.5, RSS flat |\n", n, format, way.name, benchkit.Round(took),
					float64(n)/took.Seconds(), float64(size)/1e6, benchkit.Round(limit), limit.Seconds()/took.Seconds(),
					benchkit.ProcStatusKB("VmHWM")/1024)
			}
		}
	}
	fmt.Printf("\nLabel Studio's published figure: 50,000 records in ~4 min ≈ %.0f tasks/s.\n", 50_000/240.0)
}

// project creates a project of n tasks, each with one annotation of two
// rectangles that carry the image size, as the image formats need.
func project(ctx context.Context, db *sqlstore.DB, n int) int64 {
	p := &blobmark.Project{Title: "bench", LabelConfig: labelConfig}
	benchkit.Check(db.CreateProject(ctx, p))
	for start := 0; start < n; start += 1000 {
		var batch []*blobmark.TaskImport
		for i := start; i < min(n, start+1000); i++ {
			batch = append(batch, &blobmark.TaskImport{
				Data:        json.RawMessage(fmt.Sprintf(`{"image":"azure-blob://bench/img/%07d.jpg"}`, i)),
				Annotations: []*blobmark.Annotation{{Result: result(i), CompletedBy: blobmark.UserIDFromContext(ctx), LeadTime: 3.5}},
			})
		}
		_, err := db.ImportTasks(ctx, p.ID, batch)
		benchkit.Check(err)
	}
	return p.ID
}

func result(i int) json.RawMessage {
	box := func(id string, x, y float64, label string) string {
		return fmt.Sprintf(`{"id":%q,"from_name":"label","to_name":"image","type":"rectanglelabels","original_width":1280,"original_height":960,`+
			`"image_rotation":0,"value":{"x":%g,"y":%g,"width":20.5,"height":12.25,"rotation":0,"rectanglelabels":[%q]}}`, id, x, y, label)
	}
	return json.RawMessage("[" + box(fmt.Sprintf("a%d", i), float64(i%70), 10, "Cat") + "," + box(fmt.Sprintf("b%d", i), 5, float64(i%80), "Dog") + "]")
}

// streamRows returns the best of three plain scans of the project's rows,
// so the limit is the machine's, not a momentary hiccup's.
func streamRows(ctx context.Context, db *sqlstore.DB, projectID int64) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		_, err := db.BareStreamExportRows(ctx, projectID)
		benchkit.Check(err)
		best = min(best, time.Since(start))
	}
	return best
}

// snapshot does what a snapshot's jobs do — store the JSON of every task,
// then its conversion into format — and downloads the stored output, as
// a client does once the snapshot is completed. It returns the size.
func snapshot(ctx context.Context, db *sqlstore.DB, srv *httptest.Server, token string, projectID int64, format string) int64 {
	x := &blobmark.ExportSnapshot{ProjectID: projectID, Filter: blobmark.ExportFilter{AllTasks: true}}
	if format != blobmark.ExportJSON {
		x.Converted = []blobmark.ConvertedFormat{{ExportType: format}}
	}
	benchkit.Check(db.CreateExportSnapshot(ctx, x))
	defer func() { benchkit.Check(db.DeleteExportSnapshot(ctx, x.ID)) }()
	benchkit.Check(db.RunExportSnapshot(ctx, x.ID))
	if format != blobmark.ExportJSON {
		benchkit.Check(db.RunExportConversion(ctx, x.ID, format))
	}
	return download(srv, token, fmt.Sprintf("/api/projects/%d/exports/%d/download?exportType=%s", projectID, x.ID, format))
}

// download reads the whole answer to GET path and returns its size.
func download(srv *httptest.Server, token, path string) int64 {
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	benchkit.Check(err)
	req.Header.Set("Authorization", "Token "+token)
	resp, err := srv.Client().Do(req)
	benchkit.Check(err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		benchkit.Fatal(fmt.Sprintf("GET %s: %d %s", path, resp.StatusCode, b))
	}
	n, err := io.Copy(io.Discard, resp.Body)
	benchkit.Check(err)
	return n
}
