package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/server"
)

// textServer serves a blobmark over a fresh SQLite store with no Azure, for
// scenarios on text tasks; the log is printed when the test fails.
func textServer(t *testing.T) (*server.Server, string) {
	t.Helper()
	logs := &lockedBuffer{}
	srv, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return srv, serve(t, srv, logs)
}

// serve serves srv on a loopback port until the test ends, and closes it
// then; its log is printed when the test fails.
func serve(t *testing.T, srv *server.Server, logs *lockedBuffer) string {
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(stopCtx)
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		if t.Failed() {
			t.Logf("blobmark log:\n%s", logs.String())
		}
	})
	return ts.URL
}

// scenarioReport is what every scenario of harness.mjs reports.
type scenarioReport struct {
	Steps         []string `json:"steps"`
	Blocked       []string `json:"blocked"`
	ConsoleErrors []string `json:"consoleErrors"`
	Error         string   `json:"error"`
}

// runScenario runs e2e/<script> against base with the environment given,
// decodes its report into rep (which embeds scenarioReport, read through
// common) and fails the test on a failed step, a request to another
// origin or a console error.
func runScenario(t *testing.T, base, script string, env []string, rep any, common *scenarioReport) {
	t.Helper()
	root := moduleRoot(t)
	chromium := prerequisites(t, root)
	artifacts := filepath.Join(root, "test-artifacts", "e2e")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", filepath.Join(root, "e2e", script))
	node.Dir = root
	node.Env = append(os.Environ(), append([]string{"BASE_URL=" + base, "ARTIFACTS=" + artifacts, "CHROMIUM=" + chromium}, env...)...)
	var stdout bytes.Buffer
	node.Stdout = &stdout
	node.Stderr = &prefixWriter{t: t}
	runErr := node.Run()
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), rep); err != nil {
		t.Fatalf("%s: %v; no report on stdout:\n%s", script, runErr, stdout.String())
	}
	t.Logf("browser steps: %s", strings.Join(common.Steps, " → "))
	if runErr != nil || common.Error != "" {
		t.Fatalf("browser run failed (%v): %s", runErr, common.Error)
	}
	if len(common.Blocked) > 0 {
		t.Errorf("the pages requested other origins: %q", common.Blocked)
	}
	if len(common.ConsoleErrors) > 0 {
		t.Errorf("console errors: %q", common.ConsoleErrors)
	}
}

// TestBrowserStreamAndDataManager: two annotators label one project with
// maximum_annotations 1 at the same time and are never handed the same
// task; the owner saves a filtered, sorted Data Manager view and finds it
// so after a reload; a bulk delete of a filtered selection removes exactly
// the tasks selected, after a confirmation that names their number.
func TestBrowserStreamAndDataManager(t *testing.T) {
	srv, base := textServer(t)
	ctx := context.Background()
	const ownerEmail, ownerPassword = "ada@example.com", "analytical engine 1843"
	owner, ownerToken, err := srv.DB.CreateUser(ctx, ownerEmail, ownerPassword)
	if err != nil {
		t.Fatal(err)
	}
	annotators := map[string]int64{}
	var env []string
	for _, name := range []string{"nina", "omar"} {
		email, password := name+"@example.com", name+"'s own password"
		u, _, err := srv.DB.AddUser(ctx, blobmark.NewUser{Email: email, Password: password,
			OrganizationID: owner.OrganizationID, Role: blobmark.RoleAnnotator})
		if err != nil {
			t.Fatal(err)
		}
		annotators[name] = u.ID
		env = append(env, strings.ToUpper(name)+"_EMAIL="+email, strings.ToUpper(name)+"_PASSWORD="+password)
	}

	config := `<View><Text name="text" value="$text"/><Text name="group" value="$group"/>` +
		`<Choices name="sentiment" toName="text" choice="single"><Choice value="Positive"/><Choice value="Negative"/></Choices></View>`
	var stream, catalog struct{ ID int64 }
	call(t, base, ownerToken, "POST", "/api/projects/", map[string]any{"title": "Stream", "label_config": config, "maximum_annotations": 1}, &stream)
	call(t, base, ownerToken, "POST", "/api/projects/", map[string]any{"title": "Catalog", "label_config": config}, &catalog)
	var streamTasks, catalogTasks []map[string]string
	for i := range 8 {
		streamTasks = append(streamTasks, map[string]string{"text": fmt.Sprintf("Review %d", i), "group": "red"})
	}
	for i := range 45 {
		group := "red"
		if i%3 == 0 {
			group = "blue"
		}
		catalogTasks = append(catalogTasks, map[string]string{"text": fmt.Sprintf("Item %d", i), "group": group})
	}
	call(t, base, ownerToken, "POST", fmt.Sprintf("/api/projects/%d/import", stream.ID), streamTasks, nil)
	call(t, base, ownerToken, "POST", fmt.Sprintf("/api/projects/%d/import", catalog.ID), catalogTasks, nil)
	for _, id := range annotators {
		if err := srv.DB.AddProjectMember(ctx, stream.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	// tasksByGroup lists a project's task ids per group, ascending.
	tasksByGroup := func(project int64) map[string][]int64 {
		var page struct {
			Tasks []struct {
				ID   int64
				Data map[string]string
			}
		}
		call(t, base, ownerToken, "GET", fmt.Sprintf("/api/tasks/?project=%d&page_size=100", project), nil, &page)
		out := map[string][]int64{}
		for _, task := range page.Tasks {
			out[task.Data["group"]] = append(out[task.Data["group"]], task.ID)
		}
		for _, ids := range out {
			slices.Sort(ids)
		}
		return out
	}
	catalogBefore := tasksByGroup(catalog.ID)

	var rep struct {
		scenarioReport
		Labeled  map[string][]int64 `json:"labeled"`
		Queues   map[string]string  `json:"queues"`
		ViewID   int64              `json:"viewId"`
		Reopened struct {
			URL, Total, Tab, Column, Operator, Value, SortedBy string
			Rows                                               []int64
		} `json:"reopened"`
		Deleted struct {
			Kept          int64
			Confirm, Done string
			Rows          []int64
		} `json:"deleted"`
	}
	env = append(env, "OWNER_EMAIL="+ownerEmail, "OWNER_PASSWORD="+ownerPassword,
		fmt.Sprintf("STREAM_PROJECT_ID=%d", stream.ID), fmt.Sprintf("CATALOG_PROJECT_ID=%d", catalog.ID))
	runScenario(t, base, "stream.mjs", env, &rep, &rep.scenarioReport)

	// (a) Between them the annotators were handed every task once, each
	// annotated by the one it was handed to.
	seen := map[int64]string{}
	for name, ids := range rep.Labeled {
		if len(ids) == 0 {
			t.Errorf("%s was handed no task: %v", name, rep.Labeled)
		}
		for _, id := range ids {
			if other, ok := seen[id]; ok {
				t.Errorf("task %d was handed to %s and to %s", id, other, name)
			}
			seen[id] = name
		}
	}
	if len(seen) != len(streamTasks) {
		t.Errorf("the annotators were handed %d distinct tasks, want %d: %v", len(seen), len(streamTasks), rep.Labeled)
	}
	for id, name := range seen {
		var anns []struct {
			CompletedBy int64 `json:"completed_by"`
		}
		call(t, base, ownerToken, "GET", fmt.Sprintf("/api/tasks/%d/annotations/", id), nil, &anns)
		if len(anns) != 1 || anns[0].CompletedBy != annotators[name] {
			t.Errorf("task %d has annotations %+v, want one by %s (%d)", id, anns, name, annotators[name])
		}
	}

	// Each labeling page ended counting its annotator's share as done and
	// the whole project as labeled.
	for name, ids := range rep.Labeled {
		want := fmt.Sprintf("You: %d done, 0 left of %d · project: %d of %d tasks labeled", len(ids), len(ids), len(streamTasks), len(streamTasks))
		if rep.Queues[name] != want {
			t.Errorf("%s's queue line %q, want %q", name, rep.Queues[name], want)
		}
	}

	// (b) The reopened view still filters and sorts.
	blue := catalogBefore["blue"]
	wantRows := slices.Clone(blue)
	slices.Reverse(wantRows)
	r := rep.Reopened
	if len(blue) != 15 || !slices.Equal(r.Rows, wantRows) {
		t.Errorf("the reopened view shows the rows %v, want the %d blue tasks newest first %v", r.Rows, len(blue), wantRows)
	}
	if !strings.HasPrefix(r.Total, "15 matching tasks") || r.Tab != "Blue, newest first" ||
		r.Column != "data.group" || r.Operator != "equal" || r.Value != "blue" || r.SortedBy != "id" ||
		!strings.HasSuffix(r.URL, fmt.Sprintf("?view=%d", rep.ViewID)) {
		t.Errorf("the reopened view shows %+v", r)
	}
	var view struct {
		Data struct {
			Ordering []string
			Filters  struct{ Items []map[string]any }
		}
	}
	call(t, base, ownerToken, "GET", fmt.Sprintf("/api/dm/views/%d/", rep.ViewID), nil, &view)
	if !slices.Equal(view.Data.Ordering, []string{"-tasks:id"}) || len(view.Data.Filters.Items) != 1 {
		t.Errorf("the saved view is %+v", view.Data)
	}

	// (c) 29 of the 30 red tasks are gone, every blue one and the red one
	// left out of the selection stay.
	d := rep.Deleted
	if !strings.Contains(d.Confirm, "29 tasks will be affected") || !strings.Contains(d.Done, "29 tasks processed") {
		t.Errorf("the delete said %q, then %q", d.Confirm, d.Done)
	}
	after := tasksByGroup(catalog.ID)
	if !slices.Equal(after["red"], []int64{d.Kept}) || !slices.Equal(d.Rows, []int64{d.Kept}) || !slices.Equal(after["blue"], blue) {
		t.Errorf("after the delete: %v (the page shows %v), want red [%d] and blue %v", after, d.Rows, d.Kept, blue)
	}
}
