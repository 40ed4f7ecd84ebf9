package jobs_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/egress"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// verifySignature reports whether signature is valid for body and
// timestamp, and the timestamp within maxAge of now: the check the package
// documentation asks of a receiver.
func verifySignature(secret, signature, timestamp string, body []byte, maxAge time.Duration, now time.Time) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxAge || d < -maxAge {
		return false
	}
	return hmac.Equal([]byte(signature), []byte(jobs.WebhookSignature(secret, ts, body)))
}

// receiver is a webhook endpoint on loopback that records what it gets and
// answers with the status its respond function picks (200 without one).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
	respond  func(n int, w http.ResponseWriter, r *http.Request) // n counts from 1
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.requests = append(rc.requests, received{r.Header.Clone(), body})
		n := len(rc.requests)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.requests...)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startWebhookJobs works webhook deliveries with a 50 ms retry backoff.
func startWebhookJobs(t *testing.T, db *sqlstore.DB) {
	startWebhookJobsVia(t, db, (&egress.Guard{AllowPrivate: true}).Transport())
}

// startWebhookJobsVia is startWebhookJobs sending through transport.
func startWebhookJobsVia(t *testing.T, db *sqlstore.DB, transport http.RoundTripper) {
	workers := river.NewWorkers()
	if err := jobs.RegisterWebhooks(workers, &jobs.DeliverWebhookWorker{Store: db,
		Client:  jobs.NewWebhookClient(transport),
		Backoff: func(int) time.Duration { return 50 * time.Millisecond }}); err != nil {
		t.Fatal(err)
	}
	if err := db.StartJobs(context.Background(), sqlstore.JobsConfig{Workers: workers, PollInterval: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
}

func webhookProject(t *testing.T, db *sqlstore.DB, title string) int64 {
	p := &blobmark.Project{Title: title}
	if err := db.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func createWebhook(t *testing.T, db *sqlstore.DB, projectID int64, url string, mod func(*blobmark.Webhook)) *blobmark.Webhook {
	h := &blobmark.Webhook{ProjectID: projectID, URL: url, SendPayload: true, SendForAllActions: true, IsActive: true}
	if mod != nil {
		mod(h)
	}
	if err := db.CreateWebhook(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if h.Secret == "" {
		t.Fatal("no secret generated")
	}
	return h
}

// deliveryJobs returns the webhook ids of every delivery job queued.
func deliveryJobs(t *testing.T, db *sqlstore.DB) []int64 {
	rows, err := db.SQL().Query("SELECT json(args) FROM river_job WHERE kind = 'deliver_webhook'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var a blobmark.DeliverWebhookJob
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a.WebhookID)
	}
	return out
}

func TestWebhookDeliveredSignedOnlyToItsProject(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	mine, other, inactive := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	p1, p2 := webhookProject(t, db, "one"), webhookProject(t, db, "two")
	hook := createWebhook(t, db, p1, mine.URL, func(h *blobmark.Webhook) {
		h.SendForAllActions = false
		h.Actions = []string{blobmark.ActionTasksCreated, blobmark.ActionAnnotationCreated}
		h.Headers = map[string]string{"X-Custom": "yes", "Content-Type": "text/plain"}
	})
	createWebhook(t, db, p2, other.URL, nil)
	off := createWebhook(t, db, p1, inactive.URL, func(h *blobmark.Webhook) { h.IsActive = false })
	startWebhookJobs(t, db)

	res, err := db.ImportTasks(ctx, p1, []*blobmark.TaskImport{{Data: json.RawMessage(`{"text":"a"}`)}, {Data: json.RawMessage(`{"text":"b"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	a := &blobmark.Annotation{TaskID: res.TaskIDs[0], Result: json.RawMessage(`[]`)}
	if err := db.CreateAnnotation(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Not among the webhook's actions: sent nowhere.
	if _, err := db.UpdateAnnotation(ctx, a.ID, blobmark.AnnotationUpdate{Result: json.RawMessage(`[{"x":1}]`)}); err != nil {
		t.Fatal(err)
	}
	// Project two's events go to project two's webhook only.
	if _, err := db.ImportTasks(ctx, p2, []*blobmark.TaskImport{{Data: json.RawMessage(`{"text":"c"}`)}}); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "two deliveries", func() bool { return len(mine.got()) == 2 })
	waitFor(t, "project two's delivery", func() bool { return len(other.got()) == 1 })
	time.Sleep(200 * time.Millisecond)
	got := mine.got()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	if n := len(inactive.got()); n != 0 {
		t.Fatalf("inactive webhook got %d requests", n)
	}
	for _, id := range deliveryJobs(t, db) {
		if id == off.ID {
			t.Fatal("a delivery job was queued for the inactive webhook")
		}
	}
	actions := map[string]map[string]json.RawMessage{}
	for _, r := range got {
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if r.header.Get("X-Custom") != "yes" {
			t.Errorf("custom header missing")
		}
		sig, ts := r.header.Get(jobs.WebhookSignatureHeader), r.header.Get(jobs.WebhookTimestampHeader)
		if !verifySignature(hook.Secret.Reveal(), sig, ts, r.body, 5*time.Minute, time.Now()) {
			t.Fatalf("signature %q (ts %q) does not verify", sig, ts)
		}
		if verifySignature("another secret!!", sig, ts, r.body, 5*time.Minute, time.Now()) {
			t.Fatal("signature verifies with the wrong secret")
		}
		if verifySignature(hook.Secret.Reveal(), sig, ts, r.body, time.Minute, time.Now().Add(time.Hour)) {
			t.Fatal("an old delivery verifies")
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatal(err)
		}
		var action string
		_ = json.Unmarshal(m["action"], &action)
		actions[action] = m
	}
	tc := actions[blobmark.ActionTasksCreated]
	var tasks []blobmark.Task
	if err := json.Unmarshal(tc["tasks"], &tasks); err != nil || len(tasks) != 2 || tasks[0].ID != res.TaskIDs[0] {
		t.Fatalf("TASKS_CREATED tasks = %s (%v)", tc["tasks"], err)
	}
	var pr blobmark.Project
	if err := json.Unmarshal(tc["project"], &pr); err != nil || pr.ID != p1 {
		t.Fatalf("TASKS_CREATED project = %s", tc["project"])
	}
	ac := actions[blobmark.ActionAnnotationCreated]
	var ann blobmark.Annotation
	var task blobmark.Task
	if json.Unmarshal(ac["annotation"], &ann) != nil || ann.ID != a.ID || json.Unmarshal(ac["task"], &task) != nil || task.ID != a.TaskID {
		t.Fatalf("ANNOTATION_CREATED = %v", ac)
	}
	log, err := db.FindWebhookDeliveries(ctx, hook.ID, 10)
	if err != nil || len(log) != 2 || !log[0].Success || log[0].StatusCode != 200 || log[0].Attempt != 1 {
		t.Fatalf("delivery log = %+v (%v)", log, err)
	}
}

func TestWebhookRetriedUntilDelivered(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			http.Error(w, "down for a moment", http.StatusServiceUnavailable)
		}
	})
	p := webhookProject(t, db, "retry")
	hook := createWebhook(t, db, p, rc.URL, nil)
	startWebhookJobs(t, db)
	if _, err := db.ImportTasks(ctx, p, []*blobmark.TaskImport{{Data: json.RawMessage(`{"text":"a"}`)}}); err != nil {
		t.Fatal(err)
	}
	var log []*blobmark.WebhookDelivery
	waitFor(t, "three attempts logged", func() bool {
		log, _ = db.FindWebhookDeliveries(ctx, hook.ID, 10)
		return len(log) == 3
	})
	if n := len(rc.got()); n != 3 {
		t.Fatalf("receiver got %d requests, want 3", n)
	}
	for i, d := range log { // newest first
		attempt := 3 - i
		wantStatus, wantOK := 503, false
		if attempt == 3 {
			wantStatus, wantOK = 200, true
		}
		if d.Attempt != attempt || d.StatusCode != wantStatus || d.Success != wantOK || d.Action != blobmark.ActionTasksCreated {
			t.Errorf("delivery %d = %+v", i, d)
		}
		if !wantOK && d.Error == "" {
			t.Errorf("failed attempt %d has no error", attempt)
		}
	}
	// The three attempts sent the same signed body.
	got := rc.got()
	if string(got[0].body) != string(got[2].body) {
		t.Error("retry sent a different body")
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.got()); n != 3 {
		t.Fatalf("receiver got %d requests after success", n)
	}
}

func TestWebhookRedirectNotFollowed(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	elsewhere := newReceiver(t, nil)
	redirecting := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/stolen", http.StatusTemporaryRedirect)
	})
	refusing := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	})
	p := webhookProject(t, db, "redirect")
	h1 := createWebhook(t, db, p, redirecting.URL, nil)
	h2 := createWebhook(t, db, p, refusing.URL, nil)
	startWebhookJobs(t, db)
	if _, err := db.ImportTasks(ctx, p, []*blobmark.TaskImport{{Data: json.RawMessage(`{"text":"a"}`)}}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*blobmark.Webhook{h1, h2} {
		waitFor(t, "an attempt logged", func() bool {
			log, _ := db.FindWebhookDeliveries(ctx, h.ID, 10)
			return len(log) == 1
		})
	}
	time.Sleep(300 * time.Millisecond) // time for retries that must not happen
	if n := len(elsewhere.got()); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
	if n1, n2 := len(redirecting.got()), len(refusing.got()); n1 != 1 || n2 != 1 {
		t.Fatalf("attempts: redirecting %d, refusing %d; want 1 each (no retry)", n1, n2)
	}
	log, _ := db.FindWebhookDeliveries(ctx, h1.ID, 10)
	if d := log[0]; d.Success || d.StatusCode != http.StatusTemporaryRedirect || d.Error == "" {
		t.Fatalf("redirect delivery = %+v", d)
	}
	log, _ = db.FindWebhookDeliveries(ctx, h2.ID, 10)
	if d := log[0]; d.Success || d.StatusCode != http.StatusBadRequest {
		t.Fatalf("4xx delivery = %+v", d)
	}
}

// TestWebhookDeliveryLogKeepsNoResponseBody: whatever a receiver answers,
// the delivery log and the job's recorded errors keep its status, never
// its body, so a webhook pointed at an internal service cannot be used to
// read it.
func TestWebhookDeliveryLogKeepsNoResponseBody(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	const leak = "internal-service-answer-7f3a"
	answering := func(status int) *receiver {
		return newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if status == http.StatusFound {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"token": "`+leak+`"}`)
		})
	}
	p := webhookProject(t, db, "no bodies")
	statuses := []int{http.StatusOK, http.StatusFound, http.StatusBadRequest, http.StatusInternalServerError}
	hooks := map[int]*blobmark.Webhook{}
	for _, status := range statuses {
		hooks[status] = createWebhook(t, db, p, answering(status).URL, nil)
	}
	startWebhookJobs(t, db)
	if _, err := db.ImportTasks(ctx, p, []*blobmark.TaskImport{{Data: json.RawMessage(`{"text":"a"}`)}}); err != nil {
		t.Fatal(err)
	}
	// The 500 is retried; two attempts are enough to see what is kept.
	for _, status := range statuses {
		want := 1
		if status == http.StatusInternalServerError {
			want = 2
		}
		waitFor(t, fmt.Sprintf("%d attempts at the receiver answering %d", want, status), func() bool {
			log, _ := db.FindWebhookDeliveries(ctx, hooks[status].ID, 10)
			return len(log) >= want
		})
		log, err := db.FindWebhookDeliveries(ctx, hooks[status].ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range log {
			if d.StatusCode != status || d.Success != (status == http.StatusOK) {
				t.Errorf("delivery to the receiver answering %d = %+v", status, d)
			}
			if strings.Contains(d.Error, leak) || strings.Contains(d.Error, "token") {
				t.Errorf("delivery log keeps the answer's body: %q", d.Error)
			}
			if status != http.StatusOK && !strings.Contains(d.Error, strconv.Itoa(status)) {
				t.Errorf("failed delivery's error %q does not give the status %d", d.Error, status)
			}
		}
	}
	var leaked int
	if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM river_job WHERE kind = 'deliver_webhook' AND CAST(errors AS TEXT) LIKE ?",
		"%"+leak+"%").Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Errorf("%d delivery jobs recorded the answer's body among their errors", leaked)
	}
}

func TestWebhookStorageAndExportEvents(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	rc := newReceiver(t, nil)
	p := webhookProject(t, db, "storages")
	hook := createWebhook(t, db, p, rc.URL, nil)
	bare := newReceiver(t, nil)
	createWebhook(t, db, p, bare.URL, func(h *blobmark.Webhook) {
		h.SendPayload, h.SendForAllActions, h.Actions = false, false, []string{blobmark.ActionExportFailed}
	})
	src := &blobmark.SourceStorage{ProjectID: p, Type: "azure", Title: "in", Container: "c"}
	if err := db.CreateSourceStorage(ctx, src); err != nil {
		t.Fatal(err)
	}
	dst := &blobmark.TargetStorage{ProjectID: p, Type: "azure", Title: "out", Container: "d"}
	if err := db.CreateTargetStorage(ctx, dst, false); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishSourceSync(ctx, src.ID, 0, blobmark.StatusCompleted, 7, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishSourceSync(ctx, src.ID, 0, blobmark.StatusFailed, 0, "boom", nil); err != nil {
		t.Fatal(err)
	}
	if err := db.FailTargetStorage(ctx, dst.ID, "no role"); err != nil {
		t.Fatal(err)
	}
	startWebhookJobs(t, db)
	waitFor(t, "three deliveries", func() bool { return len(rc.got()) == 3 })
	waitFor(t, "the bare delivery", func() bool { return len(bare.got()) == 1 })
	byAction := map[string]map[string]any{}
	for _, r := range rc.got() {
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatal(err)
		}
		byAction[m["action"].(string)] = m
	}
	st, _ := byAction[blobmark.ActionStorageSyncCompleted]["storage"].(map[string]any)
	if st == nil || st["id"] != float64(src.ID) || st["last_sync_count"] != float64(7) || st["status"] != "completed" {
		t.Fatalf("STORAGE_SYNC_COMPLETED = %v", byAction[blobmark.ActionStorageSyncCompleted])
	}
	st, _ = byAction[blobmark.ActionStorageSyncFailed]["storage"].(map[string]any)
	if st == nil || st["traceback"] != "boom" {
		t.Fatalf("STORAGE_SYNC_FAILED = %v", byAction[blobmark.ActionStorageSyncFailed])
	}
	st, _ = byAction[blobmark.ActionExportFailed]["storage"].(map[string]any)
	if st == nil || st["id"] != float64(dst.ID) || st["traceback"] != "no role" {
		t.Fatalf("EXPORT_FAILED = %v", byAction[blobmark.ActionExportFailed])
	}
	if string(bare.got()[0].body) != `{"action":"EXPORT_FAILED"}` {
		t.Fatalf("payload-less delivery = %s", bare.got()[0].body)
	}
	// The receiver has the requests before the worker records their
	// answers in the log.
	waitFor(t, "three logged deliveries", func() bool {
		log, err := db.FindWebhookDeliveries(ctx, hook.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(log) == 3
	})
}
