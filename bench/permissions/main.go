// Command permissions measures what the role checks cost: the latency of
// GET /api/tasks/?project= (one page of 100 tasks, spread over the whole
// project, with and without fields=all) for an annotator who is a member of
// the project and for its owner, on a project of N tasks. The annotator's
// requests run the membership check and the own-annotations filter; the
// owner's the organization check. The limit, measured in the same run, is
// the store's own query for the same page without HTTP or any check.
//
// Run it with `go run ./bench/permissions [-tasks 100000] [-requests 2000]
// [-database-url postgres://…]` (embedded SQLite by default). It never
// fails on timing: it prints numbers.
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
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/httpapi"
)

const pageSize = 100

func main() {
	tasks := flag.Int("tasks", 100_000, "tasks in the project")
	requests := flag.Int("requests", 2000, "requests per user and kind of list")
	databaseURL := flag.String("database-url", "", "PostgreSQL URL (default: embedded SQLite in a temporary directory)")
	flag.Parse()
	ctx := context.Background()

	store := benchkit.OpenStoreURL(ctx, *databaseURL)
	defer store.Close()
	db, owner, ownerToken, ownerCtx := store.DB, store.User, store.Token, store.Context
	annotator, annotatorToken, err := db.AddUser(ctx, blobmark.NewUser{Email: "annotator@example.com", Password: "bench password",
		OrganizationID: owner.OrganizationID, Role: blobmark.RoleAnnotator})
	benchkit.Check(err)
	p := &blobmark.Project{Title: "bench", LabelConfig: `<View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/></Choices></View>`}
	benchkit.Check(db.CreateProject(ownerCtx, p))
	benchkit.Check(db.AddProjectMember(ctx, p.ID, annotator.ID))
	rows := make([]string, *tasks)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"image":"azure-blob://bench/img/%07d.jpg"}`, i)
	}
	benchkit.Check(db.BareInsertTasks(ctx, p.ID, 1, rows))
	// Every task of the pages measured with fields=all carries one
	// annotation of each user, so the annotator's filter has work to do.
	pages := *tasks / pageSize
	list, err := db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID, Page: blobmark.Page{Limit: *tasks}})
	benchkit.Check(err)
	for i, t := range list.Tasks {
		if i%pageSize >= 10 && pages > 1 { // ten tasks a page is enough
			continue
		}
		for _, u := range []*blobmark.User{owner, annotator} {
			a := &blobmark.Annotation{TaskID: t.ID, Result: json.RawMessage(`[]`)}
			benchkit.Check(db.CreateAnnotation(blobmark.NewContextWithUser(ctx, u), a))
		}
	}

	api := &httpapi.Server{Users: db, Projects: db, Tasks: db, Annotations: db, ProjectAccess: db, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	page := func(i int) int { return 1 + (i*7919)%pages } // spread over the project
	type series struct{ owner, annotator, floor []time.Duration }
	measure := func(fields string) series {
		var s series
		for i := range *requests {
			path := fmt.Sprintf("/api/tasks/?project=%d&page=%d&page_size=%d%s", p.ID, page(i), pageSize, fields)
			// Interleaved, so drift in the machine's load hits both alike.
			s.owner = append(s.owner, get(srv.URL+path, ownerToken))
			s.annotator = append(s.annotator, get(srv.URL+path, annotatorToken))
			t0 := time.Now()
			_, err := db.FindTasks(ownerCtx, blobmark.TaskFilter{ProjectID: p.ID, Page: blobmark.Page{Offset: (page(i) - 1) * pageSize, Limit: pageSize}})
			benchkit.Check(err)
			s.floor = append(s.floor, time.Since(t0))
		}
		return s
	}
	get(srv.URL+fmt.Sprintf("/api/tasks/?project=%d", p.ID), ownerToken) // warm up
	plain, all := measure(""), measure("&fields=all")

	dbName := "SQLite"
	if *databaseURL != "" {
		dbName = "PostgreSQL"
	}
	fmt.Printf("blobmark permission check cost (%s, %d tasks, %d requests per user and list, pages of %d)\n\n", dbName, *tasks, *requests, pageSize)
	fmt.Printf("| list | pct | owner | annotator | annotator / owner | store query alone (floor) | owner / floor | goal |\n|---|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		s    series
	}{{"GET /api/tasks/?project=", plain}, {"… &fields=all", all}} {
		for _, pct := range []int{50, 99} {
			o, a, f := benchkit.Percentile(row.s.owner, pct), benchkit.Percentile(row.s.annotator, pct), benchkit.Percentile(row.s.floor, pct)
			fmt.Printf("| %s | p%d | %s | %s | %.2f | %s | %.2f | annotator ≤ 1.10 × owner |\n", row.name, pct,
				benchkit.Round(o), benchkit.Round(a), a.Seconds()/o.Seconds(), benchkit.Round(f), o.Seconds()/f.Seconds())
		}
	}
}

// get times one GET with an API token; anything but 200 stops the run.
func get(url, token string) time.Duration {
	req, err := http.NewRequest("GET", url, nil)
	benchkit.Check(err)
	req.Header.Set("Authorization", "Token "+token)
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	benchkit.Check(err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		benchkit.Fatal(fmt.Sprintf("GET %s: %d %s", url, resp.StatusCode, data))
	}
	return d
}
