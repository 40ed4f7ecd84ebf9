// Command events measures event-driven sync against the listing it
// replaces, in one run, on one Azurite:
//
//   - latency from a blob's event to its task being visible in the task
//     API, p50 and p99, for push (an Event Grid delivery POSTed to the
//     storage's events endpoint) and for pull (the event written to an
//     Azurite storage queue, read by the periodic queue poll);
//   - the throughput of absorbing N pushed events (Event Grid batches of up
//     to 1 MB) until all N tasks exist ÷ that of a sync importing the same N
//     keys of the same container (Files mode); goal ≥ 1: events are never
//     slower than listing. The endpoint's own answer latency during the
//     burst and that of a project GET beside it show it does not block.
//
// Run it with `go run ./bench/events`. It never fails on timing.
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
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/server"
)

type row struct{ name, value, goal string }

func main() {
	samples := flag.Int("samples", 100, "events per latency measure")
	burst := flag.Int("burst", 10_000, "events of the throughput burst (and keys of the sync)")
	sweep := flag.Duration("sweep", time.Second, "queue poll period (server EventSweepInterval)")
	flag.Parse()
	ctx := context.Background()

	az := benchkit.StartAzurite()
	defer az.Stop()
	queue := benchkit.StartAzuriteService("queue")
	defer queue.Stop()
	qEndpoint := queue.Endpoint
	dir, err := os.MkdirTemp("", "blobmark-bench-events")
	benchkit.Check(err)
	benchkit.AtExit(func() { os.RemoveAll(dir) })
	defer os.RemoveAll(dir)
	srv, err := server.Open(ctx, server.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler), AllowPrivateNetwork: true,
		JobPollInterval: 10 * time.Millisecond, EventSweepInterval: *sweep})
	benchkit.Check(err)
	defer srv.Close(ctx)
	benchkit.Check(srv.StartJobs(ctx))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	benchkit.Check(err)
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(l)
	defer hs.Close()
	_, token, err := srv.DB.CreateUser(ctx, "bench@example.com", "a long bench password")
	benchkit.Check(err)
	c := &client{base: "http://" + l.Addr().String(), token: token, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	conn := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true})

	var rows []row

	// Latency, push and pull, each on its own project and container.
	pushP, _, pushURL := c.storage("push", az, "", true)
	pushLat := latency(ctx, c, conn, az, "push", pushP, *samples, func(i int, key string) {
		c.post(pushURL, "["+gridEvent("p"+strconv.Itoa(i), "push", key, i+1)+"]")
	})
	qName := "events" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	queueURL := qEndpoint + qName
	pullP, _, _ := c.storage("pull", az, queueURL, false)
	q, err := conn.Queue(ctx, az.Config(), queueURL)
	benchkit.Check(err)
	benchkit.Check(q.Create(ctx))
	pullLat := latency(ctx, c, conn, az, "pull", pullP, *samples/4, func(i int, key string) {
		benchkit.Check(q.Send(ctx, []byte(gridEvent("q"+strconv.Itoa(i), "pull", key, i+1))))
	})
	rows = append(rows,
		row{fmt.Sprintf("push: event → task visible, p50 (%d events)", len(pushLat)), benchkit.Round(benchkit.Percentile(pushLat, 50)), ""},
		row{"push: event → task visible, p99", benchkit.Round(benchkit.Percentile(pushLat, 99)), ""},
		row{fmt.Sprintf("pull: event → task visible, p50 (%d events, poll every %s)", len(pullLat), *sweep), benchkit.Round(benchkit.Percentile(pullLat, 50)), "≤ poll + ε"},
		row{"pull: event → task visible, p99", benchkit.Round(benchkit.Percentile(pullLat, 99)), "≤ poll + ε"},
	)

	// Throughput: a burst of pushed events, then a sync of the same keys.
	cont := container(ctx, conn, az, "burst")
	keys := make([]string, *burst)
	for i := range keys {
		keys[i] = fmt.Sprintf("img/%03d/%07d.jpg", i/1000, i)
	}
	upload(ctx, cont, keys)
	burstP, _, burstURL := c.storageOn("burst-push", az, "burst", "", true)
	bodies := batches(keys, "burst", 1<<20)
	var answer []time.Duration
	var mu sync.Mutex
	stopProbe := c.probe(burstP)
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan string)
	for range 4 { // Event Grid delivers several batches at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				t := time.Now()
				c.post(burstURL, b)
				mu.Lock()
				answer = append(answer, time.Since(t))
				mu.Unlock()
			}
		}()
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	accepted := time.Since(start)
	c.waitTasks(burstP, *burst, 10*time.Minute)
	pushT := time.Since(start)
	probeLat := stopProbe()

	syncP, syncS, _ := c.storageOn("burst-sync", az, "burst", "", false)
	start = time.Now()
	c.do("POST", fmt.Sprintf("/api/storages/azure/%d/sync", syncS), "", http.StatusOK)
	c.waitTasks(syncP, *burst, 10*time.Minute)
	syncT := time.Since(start)

	rows = append(rows,
		row{fmt.Sprintf("push burst: %d events in %d requests (≤ 1 MB), all accepted", *burst, len(bodies)), benchkit.Round(accepted), ""},
		row{"  endpoint answer p50 / p99 per request", benchkit.Round(benchkit.Percentile(answer, 50)) + " / " + benchkit.Round(benchkit.Percentile(answer, 99)), ""},
		row{"  GET project beside the burst p50 / p99", benchkit.Round(benchkit.Percentile(probeLat, 50)) + " / " + benchkit.Round(benchkit.Percentile(probeLat, 99)), "not blocked"},
		row{fmt.Sprintf("  all %d tasks visible after", *burst), benchkit.Round(pushT), ""},
		row{fmt.Sprintf("sync of the same %d keys (Files mode)", *burst), benchkit.Round(syncT), ""},
		row{"events throughput ÷ sync throughput", fmt.Sprintf("%.2f", syncT.Seconds()/pushT.Seconds()), "≥ 1"},
	)

	fmt.Printf("\n%-66s %-20s %s\n", "measure", "value", "goal")
	fmt.Println(strings.Repeat("-", 100))
	for _, r := range rows {
		fmt.Printf("%-66s %-20s %s\n", r.name, r.value, r.goal)
	}
}

// gridEvent is one Event Grid BlobCreated event.
func gridEvent(id, container, key string, seq int) string {
	return fmt.Sprintf(`{"id":%q,"eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/%s/blobs/%s","eventTime":%q,"data":{"api":"PutBlob","eTag":"0x1","contentType":"image/jpeg","contentLength":1,"blobType":"BlockBlob","url":"https://%s.blob.core.windows.net/%s/%s","sequencer":"%016x"},"dataVersion":"","metadataVersion":"1","topic":"/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/%s"}`,
		id, container, key, time.Now().UTC().Format(time.RFC3339Nano), benchkit.Account, container, key, seq, benchkit.Account)
}

// batches packs the keys' events into JSON arrays of at most limit bytes,
// as Event Grid batches its deliveries.
func batches(keys []string, container string, limit int) []string {
	var out []string
	var b strings.Builder
	for i, k := range keys {
		ev := gridEvent("b"+strconv.Itoa(i), container, k, i+1)
		if b.Len() > 0 && b.Len()+len(ev)+2 > limit {
			out = append(out, b.String()+"]")
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteString("[")
		} else {
			b.WriteString(",")
		}
		b.WriteString(ev)
	}
	if b.Len() > 0 {
		out = append(out, b.String()+"]")
	}
	return out
}

// latency uploads n blobs one at a time and measures, for each, the time
// from send (the event) to the task being visible in the task API.
func latency(ctx context.Context, c *client, conn *azureblob.Connector, az *benchkit.Azurite, name string, project int64, n int, send func(i int, key string)) []time.Duration {
	cont, err := conn.Container(ctx, az.Config(), name)
	benchkit.Check(err)
	var out []time.Duration
	for i := range n {
		key := fmt.Sprintf("lat/%05d.jpg", i)
		_, err := cont.UploadBytes(ctx, key, []byte("x"), "image/jpeg")
		benchkit.Check(err)
		t := time.Now()
		send(i, key)
		c.waitTasks(project, i+1, time.Minute)
		out = append(out, time.Since(t))
	}
	return out
}

type client struct {
	base, token string
	http        *http.Client
}

func (c *client) do(method, path, body string, want int) []byte {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	benchkit.Check(err)
	req.Header.Set("Authorization", "Token "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	benchkit.Check(err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		benchkit.Fatal(fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, b))
	}
	return b
}

// post delivers an event batch to a storage's events URL (its token in it).
func (c *client) post(eventsURL, body string) {
	resp, err := c.http.Post(eventsURL, "application/json", strings.NewReader(body))
	benchkit.Check(err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		benchkit.Fatal(fmt.Sprintf("events delivery: %d %s", resp.StatusCode, b))
	}
}

// storage creates a project with a Files-mode storage on a new container
// of that name; see storageOn.
func (c *client) storage(name string, az *benchkit.Azurite, queue string, push bool) (int64, int64, string) {
	az.CreateContainer(context.Background(), name)
	return c.storageOn(name, az, name, queue, push)
}

// storageOn creates a project and a Files-mode storage of container, with
// events enabled when push or queue is set; it returns the project, the
// storage and the events URL.
func (c *client) storageOn(title string, az *benchkit.Azurite, container, queue string, push bool) (int64, int64, string) {
	var p, s struct{ ID int64 }
	benchkit.Check(json.Unmarshal(c.do("POST", "/api/projects/", `{"title":"`+title+`"}`, http.StatusCreated), &p))
	body, _ := json.Marshal(map[string]any{"project": p.ID, "title": title, "container": container, "use_blob_urls": true,
		"recursive_scan": true, "auth_type": "account_key", "account_name": benchkit.Account, "account_key": benchkit.Key,
		"endpoint": az.Endpoint})
	benchkit.Check(json.Unmarshal(c.do("POST", "/api/storages/azure/", string(body), http.StatusCreated), &s))
	if !push && queue == "" {
		return p.ID, s.ID, ""
	}
	set, _ := json.Marshal(map[string]any{"events_enabled": true, "events_queue": queue})
	var ev struct {
		URL string `json:"events_url"`
	}
	benchkit.Check(json.Unmarshal(c.do("PATCH", fmt.Sprintf("/api/storages/azure/%d/events/settings", s.ID), string(set), http.StatusOK), &ev))
	return p.ID, s.ID, ev.URL
}

// taskCount asks the task API how many tasks the project has.
func (c *client) taskCount(project int64) int {
	var r struct {
		Total int `json:"total"`
	}
	benchkit.Check(json.Unmarshal(c.do("GET", fmt.Sprintf("/api/tasks/?project=%d&page_size=1", project), "", http.StatusOK), &r))
	return r.Total
}

func (c *client) waitTasks(project int64, n int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for c.taskCount(project) < n {
		if time.Now().After(deadline) {
			benchkit.Fatal(fmt.Sprintf("project %d: fewer than %d tasks after %s", project, n, limit))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// probe GETs the project every 20 ms until stopped and returns the
// latencies.
func (c *client) probe(project int64) func() []time.Duration {
	done := make(chan struct{})
	res := make(chan []time.Duration)
	go func() {
		var out []time.Duration
		for {
			select {
			case <-done:
				res <- out
				return
			case <-time.After(20 * time.Millisecond):
			}
			t := time.Now()
			c.do("GET", fmt.Sprintf("/api/projects/%d/", project), "", http.StatusOK)
			out = append(out, time.Since(t))
		}
	}()
	return func() []time.Duration { close(done); return <-res }
}

func container(ctx context.Context, conn *azureblob.Connector, az *benchkit.Azurite, name string) *azureblob.Container {
	az.CreateContainer(ctx, name)
	c, err := conn.Container(ctx, az.Config(), name)
	benchkit.Check(err)
	return c
}

// upload writes the keys with 64 writers.
func upload(ctx context.Context, c *azureblob.Container, keys []string) {
	idx := make(chan string, 1024)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range idx {
				_, err := c.UploadBytes(ctx, k, []byte("x"), "image/jpeg")
				benchkit.Check(err)
			}
		}()
	}
	for _, k := range keys {
		idx <- k
	}
	close(idx)
	wg.Wait()
}
