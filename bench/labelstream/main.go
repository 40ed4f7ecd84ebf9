// Command labelstream measures the label stream under a team: A
// annotators (50 by default), each a user of their own and a member of
// the project, loop "GET /api/projects/{id}/next/ → label → POST the
// annotation" on a project of N tasks (1,000,000 by default), of which a
// share is already labeled, so the stream has to start past them.
// Labeling takes -think on average (drawn from 0.5–1.5 × think, so the
// annotators do not march in step): 1 s by default, quicker than any
// person labels an image, so the team asks for work faster than a real
// one. With -think 0 they loop with no pause: the server is then saturated
// and the latencies measure its queue, not the stream; the tasks/s line is
// its throughput.
// It prints the p50/p99 latency of next, and, as the yardstick measured in
// the same run by the same annotators, of GET /api/tasks/{id}/ for the
// task just handed out: the same task, presented the same way, without
// choosing or locking it. The goal is next p99 ≤ 20 ms.
//
// Run it with `go run ./bench/labelstream [-tasks 1000000] [-annotators 50]
// [-rounds 40] [-think 1s] [-labeled 0.5] [-sampling "Sequential sampling"]
// [-overlap 1] [-database-url postgres://…]` (embedded SQLite by
// default). It never fails on timing: it prints numbers.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/httpapi"
)

func main() {
	tasks := flag.Int("tasks", 1_000_000, "tasks in the project")
	annotators := flag.Int("annotators", 50, "concurrent annotators")
	rounds := flag.Int("rounds", 40, "next → submit rounds per annotator")
	think := flag.Duration("think", time.Second, "mean time an annotator takes to label a task (0: no pause)")
	labeled := flag.Float64("labeled", 0.5, "share of the tasks, from the first, already labeled")
	sampling := flag.String("sampling", string(blobmark.SequentialSampling), "the project's sampling")
	overlap := flag.Int("overlap", 1, "the project's maximum_annotations")
	databaseURL := flag.String("database-url", "", "PostgreSQL URL (default: embedded SQLite in a temporary directory)")
	flag.Parse()
	ctx := context.Background()

	store := benchkit.OpenStoreURL(ctx, *databaseURL)
	defer store.Close()
	db := store.DB
	samp, err := blobmark.ParseSampling(*sampling)
	benchkit.Check(err)
	p := &blobmark.Project{Title: "bench", MaximumAnnotations: *overlap, Sampling: samp,
		LabelConfig: `<View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/></Choices></View>`}
	benchkit.Check(db.CreateProject(store.Context, p))

	t0 := time.Now()
	const chunk = 100_000
	for first := 0; first < *tasks; first += chunk {
		rows := make([]string, min(chunk, *tasks-first))
		for i := range rows {
			rows[i] = fmt.Sprintf(`{"image":"azure-blob://bench/img/%07d.jpg"}`, first+i)
		}
		benchkit.Check(db.BareInsertTasks(ctx, p.ID, int64(first+1), rows))
	}
	// The first share of the project is done: the stream must find the
	// rest without reading it.
	done := int(float64(*tasks) * *labeled)
	_, err = db.SQL().ExecContext(ctx, db.Rebind(`UPDATE tasks SET is_labeled = ?, total_annotations = ?
		WHERE project_id = ? AND inner_id <= ?`), true, *overlap, p.ID, done)
	benchkit.Check(err)
	benchkit.Settle(ctx, db)
	seed := time.Since(t0)

	var tokens []string
	for i := range *annotators {
		u, token, err := db.AddUser(ctx, blobmark.NewUser{Email: fmt.Sprintf("annotator%d@example.com", i), Password: "bench password",
			OrganizationID: store.User.OrganizationID, Role: blobmark.RoleAnnotator})
		benchkit.Check(err)
		benchkit.Check(db.AddProjectMember(ctx, p.ID, u.ID))
		tokens = append(tokens, token)
	}

	api := &httpapi.Server{Users: db, Projects: db, Tasks: db, Annotations: db, ProjectAccess: db,
		LabelStream: db, Predictions: db, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *annotators}}
	call := func(token, method, path, body string, want int) ([]byte, time.Duration) {
		return benchkit.Call(client, token, method, srv.URL+path, body, want)
	}

	var mu sync.Mutex
	var next, get, submit []time.Duration
	var wg sync.WaitGroup
	t1 := time.Now()
	for _, token := range tokens {
		wg.Go(func() {
			// Annotators come in at random moments, as a team already at
			// work does, not all in the same millisecond.
			if *think > 0 {
				time.Sleep(rand.N(*think))
			}
			for range *rounds {
				raw, dNext := call(token, "GET", fmt.Sprintf("/api/projects/%d/next/", p.ID), "", http.StatusOK)
				var task struct{ ID int64 }
				benchkit.Check(json.Unmarshal(raw, &task))
				_, dGet := call(token, "GET", fmt.Sprintf("/api/tasks/%d/", task.ID), "", http.StatusOK)
				if *think > 0 {
					time.Sleep(*think/2 + rand.N(*think))
				}
				_, dSubmit := call(token, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", task.ID), `{"result":[]}`, http.StatusCreated)
				mu.Lock()
				next, get, submit = append(next, dNext), append(get, dGet), append(submit, dSubmit)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	run := time.Since(t1)

	dbName := benchkit.DatabaseName(ctx, db)
	fmt.Printf("blobmark label stream (%s, %d tasks, %.0f%% labeled, %s, overlap %d; %d annotators × %d rounds, labeling %s each; seeded in %s, ran in %s, %.0f tasks/s)\n\n",
		dbName, *tasks, *labeled*100, samp, *overlap, *annotators, *rounds, *think, benchkit.Round(seed), benchkit.Round(run),
		float64(len(next))/run.Seconds())
	fmt.Printf("| request | p50 | p99 | p99 / GET task p99 | goal |\n|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		d    []time.Duration
		goal string
	}{
		{"GET /api/projects/{id}/next/", next, "p99 ≤ 20 ms"},
		{"GET /api/tasks/{id}/ (yardstick)", get, ""},
		{"POST /api/tasks/{id}/annotations/", submit, ""},
	} {
		p99 := benchkit.Percentile(row.d, 99)
		fmt.Printf("| %s | %s | %s | %.2f | %s |\n", row.name, benchkit.Round(benchkit.Percentile(row.d, 50)), benchkit.Round(p99),
			p99.Seconds()/benchkit.Percentile(get, 99).Seconds(), row.goal)
	}
}
