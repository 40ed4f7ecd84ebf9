// Command api measures the foundation's two hot paths on embedded SQLite and
// prints them beside their physical limit, measured in the same run:
//
//   - importing N tasks through POST /api/projects/{id}/import, as a ratio to
//     a bare batched INSERT of the same rows into the same schema;
//   - the latency of POST /api/tasks/{id}/annotations/ (p50, p99).
//
// Run it with `go run ./bench/api [-tasks 100000] [-annotations 2000]`.
// It never fails on timing: it prints numbers.
//
// Like every program under bench/, it may import any blobmark package.
package main

import (
	"bytes"
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
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/sqlstore"
)

func main() {
	tasks := flag.Int("tasks", 100_000, "tasks to import")
	annotations := flag.Int("annotations", 2000, "annotations to post for the latency percentiles")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the API import to this file")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "blobmark-bench-api")
	benchkit.Check(err)
	defer os.RemoveAll(dir)
	db, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	benchkit.Check(err)
	defer db.Close()
	_, token, err := db.CreateUser(ctx, "bench@example.com", "bench-password")
	benchkit.Check(err)
	api := &httpapi.Server{Users: db, Projects: db, Tasks: db, Annotations: db, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	c := &client{base: srv.URL, token: token}

	// The same rows for both paths: one small JSON object per task.
	rows := make([]string, *tasks)
	body := make([]map[string]string, *tasks)
	for i := range rows {
		url := fmt.Sprintf("azure-blob://bench/img/%07d.jpg", i)
		rows[i] = fmt.Sprintf(`{"image":%q}`, url)
		body[i] = map[string]string{"image": url}
	}
	payload, err := json.Marshal(body)
	benchkit.Check(err)

	bareProject := c.project()
	start := time.Now()
	benchkit.Check(db.BareInsertTasks(ctx, bareProject, 1, rows))
	bare := time.Since(start)

	apiProject := c.project()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		benchkit.Check(err)
		benchkit.Check(pprof.StartCPUProfile(f))
	}
	start = time.Now()
	var res blobmark.ImportResult
	c.do("POST", fmt.Sprintf("/api/projects/%d/import", apiProject), payload, &res)
	viaAPI := time.Since(start)
	pprof.StopCPUProfile()
	if res.TaskCount != *tasks {
		benchkit.Fatal(fmt.Sprintf("import created %d tasks, want %d", res.TaskCount, *tasks))
	}

	// Annotation latency on tasks of the imported project.
	var list struct {
		Tasks []struct{ ID int64 } `json:"tasks"`
	}
	c.do("GET", fmt.Sprintf("/api/tasks/?project=%d&page=1&page_size=1000", apiProject), nil, &list)
	result := []byte(`{"result":[{"from_name":"label","to_name":"image","type":"rectanglelabels","value":{"x":10,"y":10,"width":20,"height":20,"rectanglelabels":["Cat"]}}]}`)
	lat := make([]time.Duration, *annotations)
	for i := range lat {
		id := list.Tasks[i%len(list.Tasks)].ID
		t0 := time.Now()
		c.do("POST", fmt.Sprintf("/api/tasks/%d/annotations/", id), result, nil)
		lat[i] = time.Since(t0)
	}

	fmt.Printf("blobmark API benchmark (SQLite, %d tasks, %d annotations)\n\n", *tasks, *annotations)
	fmt.Printf("| measure | value | limit (same run) | ratio | goal |\n|---|---|---|---|---|\n")
	fmt.Printf("| import via API | %.0f tasks/s (%s) | bare batched INSERT %.0f tasks/s (%s) | %.2f | ≥ 0.5 |\n",
		float64(*tasks)/viaAPI.Seconds(), viaAPI.Round(time.Millisecond),
		float64(*tasks)/bare.Seconds(), bare.Round(time.Millisecond), bare.Seconds()/viaAPI.Seconds())
	fmt.Printf("| POST annotation p50 | %s | | | |\n", benchkit.Percentile(lat, 50).Round(10*time.Microsecond))
	fmt.Printf("| POST annotation p99 | %s | | | ≤ 10ms |\n", benchkit.Percentile(lat, 99).Round(10*time.Microsecond))
}

type client struct{ base, token string }

func (c *client) project() int64 {
	var p struct{ ID int64 }
	c.do("POST", "/api/projects/", []byte(`{"title":"bench","label_config":"<View><Image name=\"image\" value=\"$image\"/><RectangleLabels name=\"label\" toName=\"image\"><Label value=\"Cat\"/></RectangleLabels></View>"}`), &p)
	return p.ID
}

func (c *client) do(method, path string, body []byte, out any) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	benchkit.Check(err)
	req.Header.Set("Authorization", "Token "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	benchkit.Check(err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		benchkit.Fatal(fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, data))
	}
	if out != nil {
		benchkit.Check(json.Unmarshal(data, out))
	}
}
