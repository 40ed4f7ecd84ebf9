// Package e2e drives blobmark's web UI in a real browser: Debian's Chromium,
// steered by npm playwright-core (e2e/browser.mjs), against blobmark's API
// and embedded UI over a real SQLite store with the real job workers, and a
// real Azurite.
//
// Chromium, node_modules and the embedded editor bundle come from
// scripts/setup.sh; without them the test fails under CI=true and is
// skipped, saying why, otherwise.
//
// It has no code outside its tests, which import package server (the same
// wiring as the command), ui and the Azure test harness.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/server"
	"github.com/blobmark/blobmark/ui"
)

func TestMain(m *testing.M) { azuretest.Main(m) }

// moduleRoot is the directory holding go.mod (tests run in e2e/).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s", dir)
	}
	return dir
}

// prerequisites returns the browser's path, or stops the test when the
// browser, node_modules or the editor bundle are missing: a failure in CI,
// a skip with the fix elsewhere.
func prerequisites(t *testing.T, root string) string {
	t.Helper()
	chromium := os.Getenv("BLOBMARK_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, "Chromium at "+chromium+" (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "node_modules/playwright-core (npm ci)")
	}
	if !ui.EditorBundled() {
		missing = append(missing, "the editor bundle in ui/static/vendor (ui/build.sh)")
	}
	if len(missing) > 0 {
		msg := "missing " + strings.Join(missing, ", ") + "; scripts/setup.sh installs them all"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return chromium
}

// testPNG is a small opaque image the editor can draw on.
func testPNG(t *testing.T, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			img.Set(x, y, color.RGBA{uint8(x) ^ seed, uint8(y), 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// instance is a running blobmark: the HTTP API with the embedded UI over a
// real SQLite store, with the sync and export job workers running.
type instance struct {
	URL   string
	token string // the user's API token
	logs  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startBlobmark builds blobmark with server.Open, as cmd/blobmark's serve does, with the
// Azure connector on the test harness's transport (which trusts Azurite's
// certificate), and serves it on a loopback port with one user.
func startBlobmark(t *testing.T, env *azuretest.Env, email, password string) *instance {
	t.Helper()
	ctx := context.Background()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.Open(ctx, server.Config{
		DataDir:             t.TempDir(),
		Azure:               env.Options(),
		AllowPrivateNetwork: true,
		JobPollInterval:     100 * time.Millisecond,
		Logger:              logger,
	})
	if err != nil {
		t.Fatalf("open blobmark: %v", err)
	}
	_, token, err := srv.DB.CreateUser(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.StartJobs(ctx); err != nil {
		t.Fatal(err)
	}
	return &instance{URL: serve(t, srv, logs), token: token, logs: logs}
}

// browserReport is what browser.mjs prints as its last line.
type browserReport struct {
	ProjectID     int64    `json:"projectId"`
	TaskID        int64    `json:"taskId"`
	AnnotationID  int64    `json:"annotationId"`
	Steps         []string `json:"steps"`
	Requests      []string `json:"requests"`
	Blocked       []string `json:"blocked"`
	ConsoleErrors []string `json:"consoleErrors"`
	WrongKeyText  string   `json:"wrongKeyText"`
	TasksCreated  int      `json:"tasksCreated"`
	// DatasetKey is the target storage's dataset export object.
	DatasetKey string `json:"datasetKey"`
	Error      string `json:"error"`
}

func TestBrowserEndToEnd(t *testing.T) {
	root := moduleRoot(t)
	chromium := prerequisites(t, root)
	env := azuretest.Start(t)
	ctx := context.Background()

	source, target := env.NewContainer(t), env.NewContainer(t)
	blobs, err := azblob.NewClientWithSharedKeyCredential(env.IPEndpoint, mustKey(t),
		&azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTPClient}})
	if err != nil {
		t.Fatal(err)
	}
	images := []string{"images/cat-1.png", "images/cat-2.png"}
	for i, key := range images {
		if _, err := blobs.UploadBuffer(ctx, source, key, testPNG(t, uint8(i*40)), nil); err != nil {
			t.Fatalf("upload %s: %v", key, err)
		}
	}

	const email, password = "ada@example.com", "analytical engine 1843"
	srv := startBlobmark(t, env, email, password)

	// The test covers the storage APIs and the media resolver this server
	// offers, and says loudly what it had to leave out.
	haveSource := hasRoute(t, srv.URL+"/api/storages/azure/?project=1")
	haveTarget := hasRoute(t, srv.URL+"/api/storages/export/azure?project=1")
	haveResolver := hasRoute(t, srv.URL+"/tasks/1/resolve/?fileuri=azure-blob%3A%2F%2Fc%2Fk")
	for what, ok := range map[string]bool{"source storages (/api/storages/azure/)": haveSource,
		"target storages (/api/storages/export/azure)": haveTarget, "the media resolver (/tasks/{id}/resolve/)": haveResolver} {
		if !ok {
			t.Logf("NOT COVERED: this server has no %s", what)
		}
	}
	// Without the resolver (or the synced tasks), the browser labels a task
	// imported with a direct SAS URL to the first image.
	var direct string
	if !haveSource || !haveResolver {
		direct = blobSASURL(t, env, source, images[0])
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}

	artifacts := filepath.Join(root, "test-artifacts", "e2e")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	cmdCtx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	node := exec.CommandContext(cmdCtx, "node", filepath.Join(root, "e2e", "browser.mjs"))
	node.Dir = root
	node.Env = append(os.Environ(),
		"BASE_URL="+srv.URL,
		"EMAIL="+email, "PASSWORD="+password,
		"STORAGE_ENDPOINT="+env.BlobEndpoint,
		"ACCOUNT_NAME="+azuretest.AccountName, "ACCOUNT_KEY="+azuretest.AccountKey,
		"SOURCE_CONTAINER="+source, "SOURCE_PREFIX=images/", "TARGET_CONTAINER="+target,
		fmt.Sprintf("EXPECT_TASKS=%d", len(images)),
		"ARTIFACTS="+artifacts, "CHROMIUM="+chromium, "DIRECT_IMAGE_URL="+direct,
		"SOURCE_STORAGES="+flag(haveSource), "TARGET_STORAGES="+flag(haveTarget))
	var stdout bytes.Buffer
	node.Stdout = &stdout
	node.Stderr = &prefixWriter{t: t}
	runErr := node.Run()
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var rep browserReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("browser.mjs: %v; no report on stdout:\n%s", runErr, stdout.String())
	}
	t.Logf("browser steps: %s", strings.Join(rep.Steps, " → "))
	t.Logf("screenshots in %s", artifacts)
	if runErr != nil || rep.Error != "" {
		t.Fatalf("browser run failed (%v): %s", runErr, rep.Error)
	}

	// The page talked to our server and the storage endpoint only, and
	// logged no console error.
	if len(rep.Blocked) > 0 {
		t.Errorf("the page requested other origins: %q", rep.Blocked)
	}
	for _, u := range rep.Requests {
		if !strings.HasPrefix(u, srv.URL+"/") && !strings.HasPrefix(u, env.BlobEndpoint) {
			t.Errorf("request outside the server and the storage endpoint: %s", u)
		}
	}
	if len(rep.Requests) == 0 {
		t.Error("no request was recorded")
	}
	if len(rep.ConsoleErrors) > 0 {
		t.Errorf("console errors: %q", rep.ConsoleErrors)
	}
	if haveSource {
		if !strings.Contains(rep.WrongKeyText, "rejected the account key") {
			t.Errorf("the form showed %q for a wrong key, want the connector's message", rep.WrongKeyText)
		}
		if rep.TasksCreated != len(images) {
			t.Errorf("the progress bar reported %d tasks created, want %d", rep.TasksCreated, len(images))
		}
	}

	// The submitted annotation is stored with the rectangle and, with a
	// target storage, reached its container.
	var ann annotationDoc
	getJSON(t, srv.URL+fmt.Sprintf("/api/annotations/%d/", rep.AnnotationID), srv.token, &ann)
	raw, _ := json.Marshal(ann)
	if ok, why := holdsRectangle(raw, rep.AnnotationID); !ok {
		t.Errorf("annotation %d holds no rectangle: %s", rep.AnnotationID, raw)
	} else {
		t.Logf("stored %s", why)
	}
	if haveTarget {
		checkExported(t, blobs, target, rep.AnnotationID)
		// The dataset export is one JSON array of the annotated tasks.
		var items []struct{ Annotations []struct{ ID int64 } }
		if err := json.Unmarshal(download(t, blobs, target, rep.DatasetKey), &items); err != nil || len(items) == 0 {
			t.Errorf("the dataset export %s is not a JSON array of tasks: %v", rep.DatasetKey, err)
		}
	}
}

// getJSON GETs an API path with a token and decodes the answer.
func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Token "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || json.Unmarshal(raw, v) != nil {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, raw)
	}
}

// hasRoute reports whether the server routes a path: unknown paths answer
// 404 before authentication, known ones 401 to an anonymous caller.
func hasRoute(t *testing.T, url string) bool {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode != http.StatusNotFound
}

// blobSASURL is a read-only SAS URL to one blob, valid for an hour.
func blobSASURL(t *testing.T, env *azuretest.Env, container, key string) string {
	t.Helper()
	qp, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPS, StartTime: time.Now().Add(-5 * time.Minute), ExpiryTime: time.Now().Add(time.Hour),
		Permissions: (&sas.BlobPermissions{Read: true}).String(), ContainerName: container, BlobName: key,
	}.SignWithSharedKey(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return env.BlobEndpoint + container + "/" + key + "?" + qp.Encode()
}

func mustKey(t *testing.T) *azblob.SharedKeyCredential {
	t.Helper()
	k, err := azblob.NewSharedKeyCredential(azuretest.AccountName, azuretest.AccountKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkExported waits for the exported annotation blob and checks that it
// holds a rectangle label.
func checkExported(t *testing.T, blobs *azblob.Client, container string, annotationID int64) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var seen []string
	for {
		seen = seen[:0]
		pager := blobs.NewListBlobsFlatPager(container, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatalf("list %s: %v", container, err)
			}
			for _, b := range page.Segment.BlobItems {
				seen = append(seen, *b.Name)
			}
		}
		for _, name := range seen {
			raw := download(t, blobs, container, name)
			if ok, why := holdsRectangle(raw, annotationID); ok {
				t.Logf("exported %s: %s", name, why)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no blob in the target container holds annotation %d with a rectangle; blobs: %q", annotationID, seen)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func download(t *testing.T, blobs *azblob.Client, container, name string) []byte {
	t.Helper()
	res, err := blobs.DownloadStream(context.Background(), container, name, nil)
	if err != nil {
		t.Fatalf("download %s: %v", name, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// holdsRectangle reports whether an exported blob (Label Studio's
// annotation or task shape) is annotation id with a drawn rectangle.
func holdsRectangle(raw []byte, id int64) (bool, string) {
	var doc struct {
		ID          int64           `json:"id"`
		Result      []resultItem    `json:"result"`
		Annotations []annotationDoc `json:"annotations"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		return false, ""
	}
	anns := doc.Annotations
	if doc.Result != nil {
		anns = append(anns, annotationDoc{ID: doc.ID, Result: doc.Result})
	}
	for _, a := range anns {
		if a.ID != id {
			continue
		}
		for _, r := range a.Result {
			if r.Type == "rectanglelabels" && r.Value.Width > 0 && r.Value.Height > 0 && len(r.Value.Labels) == 1 {
				return true, fmt.Sprintf("annotation %d: %q box at (%.1f%%, %.1f%%) %.1f%% × %.1f%%",
					id, r.Value.Labels[0], r.Value.X, r.Value.Y, r.Value.Width, r.Value.Height)
			}
		}
	}
	return false, ""
}

type annotationDoc struct {
	ID     int64        `json:"id"`
	Result []resultItem `json:"result"`
}

type resultItem struct {
	Type  string `json:"type"`
	Value struct {
		X      float64  `json:"x"`
		Y      float64  `json:"y"`
		Width  float64  `json:"width"`
		Height float64  `json:"height"`
		Labels []string `json:"rectanglelabels"`
	} `json:"value"`
}

// prefixWriter passes the browser script's progress to the test log.
type prefixWriter struct{ t *testing.T }

func (w *prefixWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log("browser: " + line)
	}
	return len(p), nil
}
