// Command datamanager measures the Data Manager on a project of N tasks:
// the latency of one page of GET /api/tasks/ filtered and sorted on a task
// data field, and filtered and sorted on annotation counts (goal: p99 ≤
// 100 ms), against the limit of the same run — the same page unfiltered,
// in id order; then the delete_tasks action on a selection of the first
// 100,000 tasks (or a tenth of a smaller project): its time, tasks per
// second, and the process's peak memory before and during the deletion
// (memory must stay flat: the action works in batches).
//
// Run it with `go run ./bench/datamanager [-tasks 1000000] [-requests 100]
// [-delete 100000] [-database-url postgres://…]` (embedded SQLite by
// default). It never fails on timing: it prints numbers.
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
	"net/url"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/httpapi"
)

const pageSize = 100

func main() {
	tasks := flag.Int("tasks", 1_000_000, "tasks in the project")
	requests := flag.Int("requests", 100, "requests per kind of page")
	toDelete := flag.Int("delete", 100_000, "tasks the delete_tasks action selects (at most a tenth of -tasks)")
	databaseURL := flag.String("database-url", "", "PostgreSQL URL (default: embedded SQLite in a temporary directory)")
	flag.Parse()
	ctx := context.Background()

	store := benchkit.OpenStoreURL(ctx, *databaseURL)
	defer store.Close()
	db, owner, token := store.DB, store.User, store.Token
	p := &blobmark.Project{Title: "bench", LabelConfig: `<View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/></Choices></View>`}
	benchkit.Check(db.CreateProject(blobmark.NewContextWithUser(ctx, owner), p))
	seed := time.Now()
	const chunk = 100_000
	for start := 0; start < *tasks; start += chunk {
		rows := make([]string, min(chunk, *tasks-start))
		for i := range rows {
			n := start + i
			rows[i] = fmt.Sprintf(`{"image":"azure-blob://bench/img/%07d.jpg","score":%d,"text":"item %d of the bench"}`, n, (n*7919)%1000, n)
		}
		benchkit.Check(db.BareInsertTasks(ctx, p.ID, int64(start+1), rows))
	}
	benchkit.Check(db.BareSpreadCounts(ctx, p.ID, 3))
	benchkit.Settle(ctx, db)
	seeded := time.Since(seed)

	api := &httpapi.Server{Users: db, Projects: db, Tasks: db, Annotations: db, ProjectAccess: db, Views: db, TaskActions: db,
		Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	filter := func(column, op, typ string, value any) string {
		q, _ := json.Marshal(map[string]any{"filters": map[string]any{"conjunction": "and", "items": []any{
			map[string]any{"filter": "filter:tasks:" + column, "operator": op, "type": typ, "value": value}}}})
		return string(q)
	}
	kinds := []struct{ name, query, ordering string }{
		{"unfiltered, id order (limit)", "", ""},
		{"data.score > 900, by -data.score", filter("data.score", "greater", "Number", 900), "-tasks:data.score"},
		{"data.text contains \"99 of\", by -data.score", filter("data.text", "contains", "String", "99 of"), "-tasks:data.score"},
		{"total_annotations ≥ 1, by -total_annotations", filter("total_annotations", "greater_or_equal", "Number", 1), "-tasks:total_annotations"},
		{"total_annotations = 0, by id", filter("total_annotations", "equal", "Number", 0), ""},
	}
	// Save the data-field kinds as views, as a team does, and build the
	// indexes their saving enqueues (the job's work, run here directly).
	for _, kind := range kinds[1:3] {
		body, _ := json.Marshal(map[string]any{"project": p.ID, "data": json.RawMessage(
			fmt.Sprintf(`{"title":%q,"filters":%s,"ordering":[%q]}`, kind.name, kind.query[len(`{"filters":`):len(kind.query)-1], kind.ordering))})
		call("POST", srv.URL+"/api/dm/views/", token, body)
	}
	indexStart := time.Now()
	benchkit.Check(db.IndexDataFields(ctx, []string{"score", "text"}))
	indexed := time.Since(indexStart)

	results := make([][]time.Duration, len(kinds))
	totals := make([]int, len(kinds))
	for i := range *requests + 1 {
		for k, kind := range kinds { // interleaved, so drift hits every kind alike
			path := fmt.Sprintf("/api/tasks/?project=%d&page=%d&page_size=%d", p.ID, 1+i%2, pageSize)
			if kind.query != "" {
				path += "&query=" + url.QueryEscape(kind.query)
			}
			if kind.ordering != "" {
				path += "&ordering=" + url.QueryEscape(kind.ordering)
			}
			d, body := call("GET", srv.URL+path, token, nil)
			if i == 0 { // warm-up
				var list struct{ Total int }
				benchkit.Check(json.Unmarshal(body, &list))
				totals[k] = list.Total
				continue
			}
			results[k] = append(results[k], d)
		}
	}

	// delete_tasks of the first tasks, selected by a filter on inner_id.
	n := min(*toDelete, *tasks/10)
	before := benchkit.ProcStatusKB("VmHWM")
	// Reset the peak so that the deletion's own is measured (Linux).
	_ = benchkit.ResetPeakRSS()
	body, _ := json.Marshal(map[string]any{"selectedItems": map[string]any{"all": true, "excluded": []int64{}},
		"filters": map[string]any{"conjunction": "and", "items": []any{
			map[string]any{"filter": "filter:tasks:inner_id", "operator": "less_or_equal", "type": "Number", "value": n}}}})
	took, answer := call("POST", fmt.Sprintf("%s/api/dm/actions/?id=delete_tasks&project=%d", srv.URL, p.ID), token, body)
	peak := benchkit.ProcStatusKB("VmHWM")
	var res struct {
		Processed int `json:"processed_items"`
	}
	benchkit.Check(json.Unmarshal(answer, &res))

	dbName := benchkit.DatabaseName(ctx, db)
	fmt.Printf("blobmark Data Manager (%s, %d tasks seeded in %s, %d requests per page kind, pages of %d, the first and second)\n",
		dbName, *tasks, benchkit.Round(seeded), *requests, pageSize)
	fmt.Printf("indexes of the saved views' data fields (score, text) built in %s\n\n", benchkit.Round(indexed))
	fmt.Printf("| page | matching | p50 | p99 | p99 / limit's p99 | goal |\n|---|---|---|---|---|---|\n")
	limit := benchkit.Percentile(results[0], 99)
	for k, kind := range kinds {
		p50, p99 := benchkit.Percentile(results[k], 50), benchkit.Percentile(results[k], 99)
		fmt.Printf("| %s | %d | %s | %s | %.1f | p99 ≤ 100ms |\n", kind.name, totals[k], benchkit.Round(p50), benchkit.Round(p99), p99.Seconds()/limit.Seconds())
	}
	fmt.Printf("\ndelete_tasks of %d selected tasks (filter inner_id ≤ %d): %d processed in %s (%.0f tasks/s); peak RSS %d MiB before (seeding), %d MiB during the deletion\n",
		n, n, res.Processed, benchkit.Round(took), float64(res.Processed)/took.Seconds(), before/1024, peak/1024)
}

// call times one request with an API token; anything but a 2xx stops the
// run.
func call(method, url, token string, body []byte) (time.Duration, []byte) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	benchkit.Check(err)
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	benchkit.Check(err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if resp.StatusCode/100 != 2 {
		benchkit.Fatal(fmt.Sprintf("%s %s: %d %.300s", method, url, resp.StatusCode, data))
	}
	return d, data
}
