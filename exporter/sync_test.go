package exporter

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// bigFixture is a project of n tasks with one annotation each (annotation
// id = 100 + task id).
func bigFixture(n int) (*memStore, *memContainer, Deps) {
	s := newMemStore()
	s.users[7] = &blobmark.User{ID: 7, Email: "ann@example.com"}
	for i := int64(1); i <= int64(n); i++ {
		s.addTask(i)
		s.addAnnotation(100+i, i, "cat")
	}
	c := newMemContainer()
	return s, c, Deps{Source: s, Uploader: c, Recorder: s, Concurrency: 4, PageSize: 7, ProgressInterval: time.Millisecond}
}

// progressLog collects progress reports; SyncAll promises they never come
// from two goroutines at once, which the race detector checks.
type progressLog struct{ reports []Progress }

func (p *progressLog) report(pr Progress) { p.reports = append(p.reports, pr) }

func TestSyncAllExportsEverything(t *testing.T) {
	s, c, deps := bigFixture(50)
	var log progressLog
	res, err := SyncAll(context.Background(), deps, annotationStorage(false), false, log.report)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusCompleted || res.Processed != 50 || res.Succeeded != 50 || res.Uploaded != 50 || res.Failed != 0 {
		t.Fatalf("result %+v", res)
	}
	if len(c.keys()) != 50 || len(s.links) != 50 {
		t.Fatalf("%d objects, %d links", len(c.keys()), len(s.links))
	}
	// Page by page: 50 rows by 7 is 8 pages, plus the empty page that ends.
	if len(s.queries) != 9 {
		t.Errorf("%d page queries, want 9", len(s.queries))
	}
	for i, q := range s.queries {
		wantAfter := int64(0)
		if i > 0 {
			wantAfter = min(int64(100+7*i), 150)
		}
		if q.Limit != 7 || q.StorageID != 9 || q.ProjectID != 1 || q.OnlyNew || q.AfterID != wantAfter {
			t.Errorf("query %d: %+v", i, q)
		}
	}
	if c.maxInFlight > 4 || c.maxInFlight < 1 {
		t.Errorf("max uploads in flight %d, want 1..4", c.maxInFlight)
	}
	if len(log.reports) == 0 {
		t.Fatal("no progress reported")
	}
	last := log.reports[len(log.reports)-1]
	if last.Processed != 50 || last.Succeeded != 50 || last.Uploaded != 50 {
		t.Errorf("final progress %+v", last)
	}
	for i := 1; i < len(log.reports); i++ {
		if log.reports[i].Processed < log.reports[i-1].Processed {
			t.Errorf("progress went backwards: %v", log.reports)
		}
	}

	// A second full sync uploads everything again (which repairs objects
	// changed in the container), an only_new sync uploads nothing.
	res, err = SyncAll(context.Background(), deps, annotationStorage(false), false, nil)
	if err != nil || res.Uploaded != 50 || c.uploads != 100 {
		t.Fatalf("second full sync: %+v, %v, %d uploads", res, err, c.uploads)
	}
	res, err = SyncAll(context.Background(), deps, annotationStorage(false), true, nil)
	if err != nil || res.Status != StatusCompleted || res.Processed != 0 || c.uploads != 100 {
		t.Fatalf("only_new with nothing new: %+v, %v, %d uploads", res, err, c.uploads)
	}
}

func TestSyncAllOnlyNew(t *testing.T) {
	s, c, deps := bigFixture(10)
	st := annotationStorage(false)
	// Three annotations were exported before; one of them changed since.
	for _, id := range []int64{101, 102, 103} {
		mustExport(t, deps, st, id, id-100, OutcomeUploaded)
	}
	s.updateAnnotation(102, "dog")
	uploadsBefore := c.uploads
	res, err := SyncAll(context.Background(), deps, st, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 7 never exported + 1 changed.
	if res.Processed != 8 || res.Uploaded != 8 || c.uploads-uploadsBefore != 8 {
		t.Fatalf("only_new result %+v, %d uploads", res, c.uploads-uploadsBefore)
	}
	for _, q := range s.queries {
		if !q.OnlyNew {
			t.Errorf("query without OnlyNew: %+v", q)
		}
	}
	body, _ := c.blob("out/102")
	if !slices.Equal(body, currentAnnotationJSON(t, s, 102)) {
		t.Error("changed annotation not re-exported")
	}
}

func TestSyncAllCountsRealFailures(t *testing.T) {
	s, c, deps := bigFixture(30)
	deps.MaxFailures = 2
	failing := map[string]bool{"out/103": true, "out/110": true, "out/125": true}
	c.fail = func(key string) error {
		if failing[key] {
			return blobmark.Errorf(blobmark.EUNAVAILABLE, "server busy")
		}
		return nil
	}
	var log progressLog
	res, err := SyncAll(context.Background(), deps, annotationStorage(false), false, log.report)
	if err != nil {
		t.Fatalf("per-object failures must not fail the sync: %v", err)
	}
	if res.Status != StatusCompletedWithErrors || res.Processed != 30 || res.Succeeded != 27 || res.Uploaded != 27 || res.Failed != 3 {
		t.Fatalf("result %+v", res)
	}
	if len(res.Failures) != 2 {
		t.Fatalf("failures list %v, want the first 2 of 3", res.Failures)
	}
	for _, f := range res.Failures {
		if !failing[fmt.Sprintf("out/%d", f.AnnotationID)] || f.Message != "server busy" || f.TaskID != f.AnnotationID-100 {
			t.Errorf("failure %+v", f)
		}
	}
	if len(c.keys()) != 27 || len(s.links) != 27 {
		t.Errorf("%d objects and %d links, want 27 (a failed upload is never recorded)", len(c.keys()), len(s.links))
	}
	if last := log.reports[len(log.reports)-1]; last.Failed != 3 || last.Succeeded != 27 {
		t.Errorf("final progress %+v", last)
	}

	// The next only_new sync catches up on exactly the failed ones.
	c.fail = nil
	res, err = SyncAll(context.Background(), deps, annotationStorage(false), true, nil)
	if err != nil || res.Status != StatusCompleted || res.Uploaded != 3 || len(c.keys()) != 30 {
		t.Fatalf("catch-up sync %+v, %v, %d objects", res, err, len(c.keys()))
	}
}

func TestSyncAllStopsOnFinalError(t *testing.T) {
	_, c, deps := bigFixture(40)
	var mu sync.Mutex
	calls := 0
	c.fail = func(key string) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls > 5 {
			return blobmark.Errorf(blobmark.EFORBIDDEN, "the identity lacks Storage Blob Data Contributor")
		}
		return nil
	}
	res, err := SyncAll(context.Background(), deps, annotationStorage(false), false, nil)
	if blobmark.ErrorCode(err) != blobmark.EFORBIDDEN {
		t.Fatalf("want the forbidden error, got %v", err)
	}
	if res.Status != StatusFailed {
		t.Errorf("status %s", res.Status)
	}
	if res.Uploaded != 5 || res.Uploaded != len(c.keys()) {
		t.Errorf("result %+v with %d objects: uploads must be counted exactly", res, len(c.keys()))
	}
	if res.Processed >= 40 {
		t.Errorf("sync went on after a final error: %+v", res)
	}
}

func TestSyncAllCancelled(t *testing.T) {
	_, c, deps := bigFixture(20)
	ctx, cancel := context.WithCancel(context.Background())
	c.onUpload = func(string) { cancel() }
	res, err := SyncAll(ctx, deps, annotationStorage(false), false, nil)
	if err == nil || res.Status != StatusFailed {
		t.Fatalf("cancelled sync: %+v, %v", res, err)
	}
	if res.Uploaded != len(c.keys()) {
		t.Errorf("counted %d uploads, container has %d", res.Uploaded, len(c.keys()))
	}
}

func TestSyncAllTaskMode(t *testing.T) {
	s, c, deps := bigFixture(12)
	s.addAnnotation(200, 3, "dog")
	s.addTask(13) // no annotations: no file
	st := taskStorage(true)
	res, err := SyncAll(context.Background(), deps, st, false, nil)
	if err != nil || res.Status != StatusCompleted || res.Uploaded != 12 {
		t.Fatalf("task sync %+v, %v", res, err)
	}
	if _, ok := c.blob("out/13.json"); ok {
		t.Error("a task without annotations got a file")
	}
	body, _ := c.blob("out/3.json")
	if got := annotationIDsIn(t, body); !slices.Equal(got, []int64{103, 200}) {
		t.Errorf("task 3 file holds %v", got)
	}

	// only_new: one annotation deleted from task 3, task 5 lost its only
	// annotation, task 7 changed: exactly those three are handled.
	s.deleteAnnotation(200)
	s.deleteAnnotation(105)
	s.updateAnnotation(107, "fish")
	res, err = SyncAll(context.Background(), deps, st, true, nil)
	if err != nil || res.Processed != 3 || res.Uploaded != 2 || res.Deleted != 1 {
		t.Fatalf("only_new task sync %+v, %v", res, err)
	}
	body, _ = c.blob("out/3.json")
	if got := annotationIDsIn(t, body); !slices.Equal(got, []int64{103}) {
		t.Errorf("task 3 file holds %v", got)
	}
	if _, ok := c.blob("out/5.json"); ok {
		t.Error("file of a task without annotations left with can_delete_objects")
	}
}

func TestSyncAllSourceError(t *testing.T) {
	_, _, deps := bigFixture(1)
	deps.Source = failingPages{deps.Source}
	res, err := SyncAll(context.Background(), deps, annotationStorage(false), false, nil)
	if err == nil || res.Status != StatusFailed {
		t.Fatalf("%+v, %v", res, err)
	}
}

// failingPages is a Source whose paging fails, as a dropped database does.
type failingPages struct{ Source }

func (failingPages) FindAnnotationsToExport(context.Context, ExportQuery) ([]AnnotationRef, error) {
	return nil, blobmark.Errorf(blobmark.EUNAVAILABLE, "database unavailable")
}
