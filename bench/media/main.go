// Command media measures the media resolver against its physical limit,
// side by side in one run, and prints a table:
//
//   - proxy throughput for one large blob ÷ a direct GET of the same blob
//     from Azurite (a SAS URL fetched with a plain HTTP client);
//   - growth of this process's peak RSS (it runs the server in-process)
//     while the proxy streams the blob several times (1 GB by default);
//   - median time to first byte through the proxy minus direct;
//   - server time to render a 100-task page whose data is rewritten to
//     resolve URLs (presign storage), p50/p99, on SQLite.
//
// Run it with `go run ./bench/media`; flags shrink the parts. It never fails
// on timing: it prints numbers.
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
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/media"
	"github.com/blobmark/blobmark/sqlstore"
)

func main() {
	sizeMB := flag.Int("size", 200, "size of the streamed blob in MB")
	streams := flag.Int("streams", 5, "proxy streams of the blob while RSS is watched")
	rounds := flag.Int("rounds", 3, "direct/proxy throughput rounds (each runs both, alternating)")
	ttfbN := flag.Int("ttfb", 200, "requests per side for time to first byte")
	pages := flag.Int("pages", 300, "100-task page renders timed")
	flag.Parse()
	ctx := context.Background()
	size := int64(*sizeMB) << 20

	az := benchkit.StartAzurite()
	defer az.Stop()
	cfg := az.Config()
	conn := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true})
	const container = "media"
	az.CreateContainer(ctx, container)
	c, err := conn.Container(ctx, cfg, container)
	benchkit.Check(err)
	const bigKey, smallKey = "video/big.bin", "img/small.png"
	_, err = c.Upload(ctx, bigKey, io.LimitReader(pseudoRandom{mrand.NewChaCha8([32]byte{1})}, size), "application/octet-stream")
	benchkit.Check(err)
	_, err = c.UploadBytes(ctx, smallKey, make([]byte, 16<<10), "image/png")
	benchkit.Check(err)

	// The server, in this process, over SQLite.
	store := benchkit.OpenStore(ctx)
	defer store.Close()
	db, token, ctx := store.DB, store.Token, store.Context
	resolver := &azureblob.MediaResolver{Connector: conn, Storages: db, Tasks: db}
	api := &httpapi.Server{Users: db, Projects: db, Tasks: db, Annotations: db, SourceStorages: db,
		Media: resolver, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	// Proxy project: presign off. Page project: presign on, 100 tasks.
	proxyProject := newProject(ctx, db)
	addStorage(ctx, db, proxyProject, cfg, container, false)
	bigURI, smallURI := blobmark.FormatBlobURI(container, bigKey), blobmark.FormatBlobURI(container, smallKey)
	ids := importTasks(ctx, db, proxyProject, []string{fmt.Sprintf(`{"video":%q,"image":%q}`, bigURI, smallURI)})
	proxyBig := srv.URL + fmt.Sprintf("/tasks/%d/resolve/?fileuri=%s", ids[0], media.EncodeFileURI(bigURI))
	proxySmall := srv.URL + fmt.Sprintf("/tasks/%d/resolve/?fileuri=%s", ids[0], media.EncodeFileURI(smallURI))
	directBig, _, err := c.SignURL(ctx, bigKey, time.Hour)
	benchkit.Check(err)
	directSmall, _, err := c.SignURL(ctx, smallKey, time.Hour)
	benchkit.Check(err)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}

	// Part 1: throughput, alternating direct and proxy.
	var direct, proxy time.Duration
	for i := range *rounds {
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		for _, viaProxy := range order {
			if viaProxy {
				proxy += fetch(client, proxyBig, token, size)
			} else {
				direct += fetch(client, directBig, "", size)
			}
		}
	}
	mbps := func(total time.Duration) float64 {
		return float64(size) * float64(*rounds) / total.Seconds() / (1 << 20)
	}

	// Part 2: RSS while the proxy streams the blob again and again.
	resetPeak := benchkit.ResetPeakRSS() == nil
	rssBefore := benchkit.ProcStatusKB("VmRSS") << 10
	hwmBefore := benchkit.ProcStatusKB("VmHWM") << 10
	for range *streams {
		fetch(client, proxyBig, token, size)
	}
	hwmAfter := benchkit.ProcStatusKB("VmHWM") << 10
	growth := hwmAfter - rssBefore
	if !resetPeak {
		growth = hwmAfter - hwmBefore // the peak could not be reset: growth of the peak itself
	}

	// Part 3: time to first byte, interleaved.
	var tDirect, tProxy []time.Duration
	for range *ttfbN {
		tDirect = append(tDirect, ttfb(client, directSmall, ""))
		tProxy = append(tProxy, ttfb(client, proxySmall, token))
	}

	// Part 4: a 100-task page with presigned storage, rewritten on read.
	pageProject := newProject(ctx, db)
	addStorage(ctx, db, pageProject, cfg, container, true)
	var data []string
	for i := range 100 {
		data = append(data, fmt.Sprintf(`{"image":"azure-blob://%s/img/%05d.png","text":"<p>task %d</p>","meta":{"thumb":"azure-blob://%s/thumbs/%05d.png"}}`,
			container, i, i, container, i))
	}
	importTasks(ctx, db, pageProject, data)
	pageURL := srv.URL + fmt.Sprintf("/api/tasks/?project=%d&page_size=100", pageProject)
	checkPage(client, pageURL, token)
	var withRewrite, withoutRewrite []time.Duration
	for range *pages {
		withRewrite = append(withRewrite, timeGet(client, pageURL, token))
		withoutRewrite = append(withoutRewrite, timeGet(client, pageURL+"&resolve_uri=false", token))
	}

	rows := [][3]string{
		{"measure", "value", "goal"},
		{fmt.Sprintf("direct GET of a %d MB blob from Azurite (%d rounds)", *sizeMB, *rounds), fmt.Sprintf("%.0f MB/s", mbps(direct)), ""},
		{"proxied GET through /tasks/{id}/resolve/ (same rounds, alternating)", fmt.Sprintf("%.0f MB/s", mbps(proxy)), ""},
		{"ratio: proxy ÷ direct throughput", fmt.Sprintf("%.2f", direct.Seconds()/proxy.Seconds()), "≥ 0.9"},
		{fmt.Sprintf("peak RSS growth while proxying %d × %d MB", *streams, *sizeMB), fmt.Sprintf("%.1f MB", float64(growth)/(1<<20)), "< 32 MB"},
		{"  (RSS before / peak after)", fmt.Sprintf("%.0f / %.0f MB", float64(rssBefore)/(1<<20), float64(hwmAfter)/(1<<20)), ""},
		{fmt.Sprintf("time to first byte p50, direct / proxy (%d each, 16 KB blob)", *ttfbN), benchkit.Round(benchkit.Percentile(tDirect, 50)) + " / " + benchkit.Round(benchkit.Percentile(tProxy, 50)), ""},
		{"time to first byte added by the proxy (p50 difference)", benchkit.Round(benchkit.Percentile(tProxy, 50) - benchkit.Percentile(tDirect, 50)), ""},
		{fmt.Sprintf("100-task page, URIs rewritten, p50 / p99 (%d)", *pages), benchkit.Round(benchkit.Percentile(withRewrite, 50)) + " / " + benchkit.Round(benchkit.Percentile(withRewrite, 99)), "p50 ≤ 20ms"},
		{"100-task page, resolve_uri=false, p50 / p99", benchkit.Round(benchkit.Percentile(withoutRewrite, 50)) + " / " + benchkit.Round(benchkit.Percentile(withoutRewrite, 99)), ""},
	}
	for _, r := range rows {
		fmt.Printf("%-70s %-22s %s\n", r[0], r[1], r[2])
	}
}

// pseudoRandom is an io.Reader of incompressible bytes, so the blob is
// never held in memory whole.
type pseudoRandom struct{ src *mrand.ChaCha8 }

func (p pseudoRandom) Read(b []byte) (int, error) { return p.src.Read(b) }

// fetch GETs url, drains the body and returns how long it took.
func fetch(client *http.Client, url, token string, want int64) time.Duration {
	req, err := http.NewRequest("GET", url, nil)
	benchkit.Check(err)
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	start := time.Now()
	res, err := client.Do(req)
	benchkit.Check(err)
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	benchkit.Check(err)
	if res.StatusCode != 200 || n != want {
		benchkit.Fatal(fmt.Sprintf("GET %s: status %d, %d bytes, want 200 and %d", url, res.StatusCode, n, want))
	}
	return time.Since(start)
}

// ttfb returns the time from sending a GET to its first response byte.
func ttfb(client *http.Client, url, token string) time.Duration {
	var start, first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
	benchkit.Check(err)
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	start = time.Now()
	res, err := client.Do(req)
	benchkit.Check(err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		benchkit.Fatal(fmt.Sprintf("GET %s: status %d", url, res.StatusCode))
	}
	return first.Sub(start)
}

func timeGet(client *http.Client, url, token string) time.Duration {
	req, err := http.NewRequest("GET", url, nil)
	benchkit.Check(err)
	req.Header.Set("Authorization", "Token "+token)
	start := time.Now()
	res, err := client.Do(req)
	benchkit.Check(err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		benchkit.Fatal(fmt.Sprintf("GET %s: status %d", url, res.StatusCode))
	}
	return time.Since(start)
}

// checkPage makes sure the page really carries resolve URLs.
func checkPage(client *http.Client, url, token string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Token "+token)
	res, err := client.Do(req)
	benchkit.Check(err)
	defer res.Body.Close()
	var page struct {
		Tasks []struct {
			Data struct {
				Image string `json:"image"`
			} `json:"data"`
		} `json:"tasks"`
	}
	benchkit.Check(json.NewDecoder(res.Body).Decode(&page))
	if len(page.Tasks) != 100 || !strings.Contains(page.Tasks[0].Data.Image, "/resolve/?fileuri=") {
		benchkit.Fatal(fmt.Sprintf("the page has %d tasks, first image %q: not rewritten", len(page.Tasks), page.Tasks[0].Data.Image))
	}
}

func newProject(ctx context.Context, db *sqlstore.DB) int64 {
	p := &blobmark.Project{Title: "media bench", LabelConfig: `<View><Image name="image" value="$image"/></View>`}
	benchkit.Check(db.CreateProject(ctx, p))
	return p.ID
}

func addStorage(ctx context.Context, db *sqlstore.DB, projectID int64, cfg azureblob.Config, container string, presign bool) {
	benchkit.Check(db.CreateSourceStorage(ctx, &blobmark.SourceStorage{ProjectID: projectID, Type: blobmark.StorageTypeAzure, Title: "media",
		Container: container, Presign: presign, PresignTTL: 15,
		Connection: blobmark.Connection{"auth_type": string(cfg.AuthType), "account_name": cfg.AccountName, "endpoint": cfg.Endpoint},
		Secrets:    blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}}))
}

func importTasks(ctx context.Context, db *sqlstore.DB, projectID int64, data []string) []int64 {
	var in []*blobmark.TaskImport
	for _, d := range data {
		in = append(in, &blobmark.TaskImport{Data: json.RawMessage(d)})
	}
	res, err := db.ImportTasks(ctx, projectID, in)
	benchkit.Check(err)
	return res.TaskIDs
}
