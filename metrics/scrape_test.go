package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/server"
)

func TestMain(m *testing.M) { azuretest.Main(m) }

// client calls one blobmark's API with a user's token.
type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) call(want int, method, path string, body any, out any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	req.Header.Set("Authorization", "Token "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

// scrape reads /metrics without credentials and returns each sample by its
// full series name (labels included, as exposed).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestMetricsAfterActivity syncs a container, proxies a blob, exports an
// annotation and fetches tokens and a delegation key, then checks that
// /metrics, unauthenticated, reports each of them.
func TestMetricsAfterActivity(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), Azure: env.Options(), JobPollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	_, token, err := srv.DB.CreateUser(ctx, "metrics@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.StartJobs(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c := client{t: t, base: ts.URL, token: token}

	src, dst := env.NewContainer(t), env.NewContainer(t)
	admin, err := srv.Connector.Container(ctx, env.AccountKeyConfig(), src)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("x"), 10000)
	for i := range 3 {
		if _, err := admin.UploadBytes(ctx, fmt.Sprintf("img/%d.jpg", i), content, "image/jpeg"); err != nil {
			t.Fatal(err)
		}
	}

	var project struct{ ID int64 }
	c.call(201, "POST", "/api/projects/", map[string]any{"title": "metrics"}, &project)
	conn := map[string]any{"project": project.ID, "account_name": azuretest.AccountName, "account_key": azuretest.AccountKey,
		"endpoint": env.BlobEndpoint, "use_blob_urls": true, "presign": false, "recursive_scan": true}
	conn["container"] = src
	var st struct{ ID int64 }
	c.call(201, "POST", "/api/storages/azure/", conn, &st)
	c.call(200, "POST", fmt.Sprintf("/api/storages/azure/%d/sync", st.ID), nil, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s struct{ Status string }
		c.call(200, "GET", fmt.Sprintf("/api/storages/azure/%d", st.ID), nil, &s)
		if s.Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync status %q", s.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	target := map[string]any{"project": project.ID, "account_name": azuretest.AccountName, "account_key": azuretest.AccountKey,
		"endpoint": env.BlobEndpoint, "container": dst}
	c.call(201, "POST", "/api/storages/export/azure", target, nil)

	var tasks struct {
		Tasks []struct {
			ID   int64
			Data map[string]string
		}
	}
	c.call(200, "GET", fmt.Sprintf("/api/tasks/?project=%d", project.ID), nil, &tasks)
	if len(tasks.Tasks) != 3 {
		t.Fatalf("%d tasks", len(tasks.Tasks))
	}
	// Stream one blob through the proxy (presign is off).
	var resolve string
	for _, v := range tasks.Tasks[0].Data {
		resolve = v
	}
	req, _ := http.NewRequest("GET", ts.URL+resolve, nil)
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(got) != len(content) {
		t.Fatalf("resolve %s: %d, %d bytes", resolve, resp.StatusCode, len(got))
	}
	c.call(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", tasks.Tasks[0].ID), map[string]any{"result": []any{}}, nil)

	// A service principal storage fetches a token; signing with it fetches
	// a user delegation key.
	sp, err := srv.Connector.Container(ctx, env.ServicePrincipalConfig(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sp.SignURL(ctx, "img/0.jpg", time.Minute); err != nil {
		t.Fatal(err)
	}

	var m map[string]float64
	for deadline := time.Now().Add(20 * time.Second); ; {
		m = scrape(t, ts.URL)
		if m[`blobmark_export_successes_total{kind="annotation"}`] >= 1 && m["blobmark_export_lag_seconds"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("annotation not exported: successes %v, lag %v", m[`blobmark_export_successes_total{kind="annotation"}`], m["blobmark_export_lag_seconds"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	checks := map[string]func(float64) bool{
		`blobmark_http_request_duration_seconds_count{method="POST",route="/api/projects/{$}",status="2xx"}`:      func(v float64) bool { return v == 1 },
		`blobmark_http_request_duration_seconds_count{method="GET",route="/tasks/{id}/resolve/{$}",status="2xx"}`: func(v float64) bool { return v == 1 },
		"blobmark_sync_keys_listed_total":                   func(v float64) bool { return v == 3 },
		"blobmark_sync_tasks_created_total":                 func(v float64) bool { return v == 3 },
		"blobmark_sync_files_failed_total":                  func(v float64) bool { return v == 0 },
		"blobmark_sync_failures_total":                      func(v float64) bool { return v == 0 },
		`blobmark_export_failures_total{kind="annotation"}`: func(v float64) bool { return v == 0 },
		"blobmark_azure_token_fetches_total":                func(v float64) bool { return v >= 1 },
		"blobmark_azure_delegation_key_fetches_total":       func(v float64) bool { return v == 1 },
		"blobmark_media_proxy_bytes_total":                  func(v float64) bool { return v == float64(len(content)) },
		"blobmark_export_lag_seconds":                       func(v float64) bool { return v == 0 },
	}
	for name, ok := range checks {
		v, present := m[name]
		if !present || !ok(v) {
			t.Errorf("%s = %v (present %v)", name, v, present)
		}
	}
	// Ids never become labels: only route patterns do.
	for name := range m {
		if regexp.MustCompile(`route="[^"]*/\d+`).MatchString(name) {
			t.Errorf("series with a raw path: %s", name)
		}
	}
}
