package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/exporter"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/jobs"
)

// stagingOpener is the Azure opener with a hook after every staged block,
// which lets a test stop an export half-way or measure it while it runs.
type stagingOpener struct {
	azureblob.TargetOpener
	afterStage func(staged int)
}

func (o stagingOpener) OpenUploader(ctx context.Context, s *blobmark.TargetStorage) (exporter.ContainerWriter, error) {
	up, err := o.TargetOpener.OpenUploader(ctx, s)
	if err != nil {
		return nil, err
	}
	return &stagingWriter{ContainerWriter: up, after: o.afterStage}, nil
}

type stagingWriter struct {
	exporter.ContainerWriter
	after func(int)
	mu    sync.Mutex
	n     int
}

func (w *stagingWriter) StageBlock(ctx context.Context, key, id string, body []byte) error {
	if err := w.ContainerWriter.StageBlock(ctx, key, id, body); err != nil {
		return err
	}
	w.mu.Lock()
	w.n++
	n := w.n
	w.mu.Unlock()
	if w.after != nil {
		w.after(n)
	}
	return nil
}

// download reads one object, ENOTFOUND when it is not there.
func (e *exportEnv) download(s *blobmark.TargetStorage, key string) ([]byte, error) {
	ctx := context.Background()
	c, err := e.conn.Container(ctx, e.az.AccountKeyConfig(), s.Container)
	if err != nil {
		return nil, err
	}
	d, err := c.Download(ctx, key, 0, 0)
	if err != nil {
		return nil, err
	}
	defer d.Body.Close()
	return io.ReadAll(d.Body)
}

// uncommittedBlocks counts the blocks staged under key but not committed.
func (e *exportEnv) uncommittedBlocks(s *blobmark.TargetStorage, key string) int {
	e.t.Helper()
	cred, err := azblob.NewSharedKeyCredential(azuretest.AccountName, azuretest.AccountKey)
	if err != nil {
		e.t.Fatal(err)
	}
	client, err := blockblob.NewClientWithSharedKeyCredential(strings.TrimSuffix(e.az.BlobEndpoint, "/")+"/"+s.Container+"/"+key, cred,
		&blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.az.HTTPClient}})
	if err != nil {
		e.t.Fatal(err)
	}
	list, err := client.GetBlockList(context.Background(), blockblob.BlockListTypeUncommitted, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list.UncommittedBlocks)
}

// runDataset works one ExportDatasetJob in this goroutine, as River would.
func runDataset(ctx context.Context, deps jobs.ExportDeps, storageID int64) error {
	w := &jobs.ExportDatasetWorker{Deps: deps}
	return w.Work(ctx, &river.Job[blobmark.ExportDatasetJob]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1}, Args: blobmark.ExportDatasetJob{StorageID: storageID}})
}

func (e *exportEnv) datasetState(id int64) blobmark.DatasetState {
	e.t.Helper()
	s, err := e.db.FindTargetStorageByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.Dataset
}

// TestDatasetExportInterruptedKeepsPreviousObject writes a dataset export,
// then stops the next one after it staged three blocks, as a killed
// process would: the object still holds the first export, byte for byte,
// the staged blocks are there but uncommitted, and the run after that
// replaces the object with the current project in one commit.
func TestDatasetExportInterruptedKeepsPreviousObject(t *testing.T) {
	e := newExportEnv(t, "")
	ctx := context.Background()
	projectID, taskIDs := e.project(400)
	for _, id := range taskIDs {
		e.annotate(id, "a")
	}
	s := e.storage(projectID, func(s *blobmark.TargetStorage) {
		s.DatasetFormat = "JSON"
		s.DatasetKeyTemplate = "exports/{project_id}-{format}"
	})
	key := fmt.Sprintf("exports/%d-json.json", projectID)
	opener := stagingOpener{TargetOpener: azureblob.TargetOpener{Connector: e.conn}}
	deps := jobs.ExportDeps{Store: e.db, Source: e.db.ExportStore(), Recorder: e.db.ExportStore(), Opener: opener, BlockSize: 16 << 10,
		Logger: slog.New(slog.DiscardHandler)}

	current := func() []byte {
		var buf bytes.Buffer
		if err := e.db.ExportProject(ctx, projectID, "JSON", blobmark.ExportFilter{}, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if err := runDataset(ctx, deps, s.ID); err != nil {
		t.Fatal(err)
	}
	first, err := e.download(s, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := current(); !bytes.Equal(first, want) {
		t.Fatalf("the first export holds %d bytes, want the project's %d", len(first), len(want))
	}
	st := e.datasetState(s.ID)
	if st.Status != blobmark.StatusCompleted || st.Key != key || st.Bytes != int64(len(first)) || st.Blocks < 4 {
		t.Fatalf("dataset state = %+v, want completed, %s, %d bytes in several blocks", st, key, len(first))
	}

	for _, id := range taskIDs[:100] {
		e.annotate(id, "b")
	}
	stopped, stop := context.WithCancel(ctx)
	opener.afterStage = func(n int) {
		if n == 3 {
			stop()
		}
	}
	deps.Opener = opener
	if err := runDataset(stopped, deps, s.ID); err == nil {
		t.Fatal("the interrupted export reported success")
	}
	if got, err := e.download(s, key); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("after the interrupted export the object holds %d bytes (%v), want the first export's %d unchanged", len(got), err, len(first))
	}
	if n := e.uncommittedBlocks(s, key); n < 3 {
		t.Fatalf("%d uncommitted blocks, want the 3 the interrupted export staged", n)
	}
	if st := e.datasetState(s.ID); st.Status != blobmark.StatusFailed || !strings.Contains(st.Error, "retried") {
		t.Fatalf("dataset state after the interruption = %+v, want failed, to be retried", st)
	}

	opener.afterStage = nil
	deps.Opener = opener
	if err := runDataset(ctx, deps, s.ID); err != nil {
		t.Fatal(err)
	}
	second, err := e.download(s, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := current(); !bytes.Equal(second, want) || bytes.Equal(second, first) {
		t.Fatalf("the next export holds %d bytes, want the current project's %d", len(second), len(want))
	}
	if n := e.uncommittedBlocks(s, key); n != 0 {
		t.Errorf("%d uncommitted blocks left after the commit, want 0", n)
	}
}

// TestDatasetExportLargeProjectFlatMemory exports 100,000 annotated tasks
// through River as ONE object and bounds the memory it took by bytes: the
// output held at once is at most a block, and the live heap, measured
// after every staged block, grows by far less than the object's size.
func TestDatasetExportLargeProjectFlatMemory(t *testing.T) {
	const tasks = 100_000
	const blockSize = 1 << 20
	e := newExportEnv(t, "")
	ctx := context.Background()
	p := &blobmark.Project{Title: "big", LabelConfig: `<View><Image name="img" value="$image"/><Choices name="c" toName="img"><Choice value="a"/></Choices></View>`}
	if err := e.db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	// Seeded in bulk: importing 100,000 annotated tasks one by one would
	// take most of the test's time and prove nothing more here.
	data := make([]string, tasks)
	for i := range data {
		data[i] = fmt.Sprintf(`{"image":"azure-blob://c/img/%07d.jpg"}`, i)
	}
	if err := e.db.BareInsertTasks(ctx, p.ID, 1, data); err != nil {
		t.Fatal(err)
	}
	if err := e.db.BareAnnotateAll(ctx, p.ID, string(result("a"))); err != nil {
		t.Fatal(err)
	}
	s := e.storage(p.ID, func(s *blobmark.TargetStorage) { s.DatasetFormat = "JSON" })

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var mu sync.Mutex
	var peak uint64
	opener := stagingOpener{TargetOpener: azureblob.TargetOpener{Connector: e.conn}, afterStage: func(int) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak = max(peak, ms.HeapAlloc)
		mu.Unlock()
	}}
	workers := river.NewWorkers()
	if err := jobs.RegisterExport(workers, jobs.ExportDeps{Store: e.db, Source: e.db.ExportStore(), Recorder: e.db.ExportStore(),
		Opener: opener, BlockSize: blockSize}); err != nil {
		t.Fatal(err)
	}
	e.startJobsWith(workers)
	if _, err := e.db.SyncTargetStorage(ctx, s.ID, false); err != nil {
		t.Fatal(err)
	}
	var st blobmark.DatasetState
	for range 3000 {
		if st = e.datasetState(s.ID); st.Status == blobmark.StatusCompleted || st.Status == blobmark.StatusFailed {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Status != blobmark.StatusCompleted {
		t.Fatalf("dataset state = %+v, want completed", st)
	}
	body, err := e.download(s, fmt.Sprintf("dataset-%d-json.json", p.ID))
	if err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		t.Fatalf("the object is not one JSON array: %v", err)
	}
	if len(items) != tasks || st.Bytes != int64(len(body)) || st.Blocks != (len(body)+blockSize-1)/blockSize {
		t.Fatalf("the object holds %d items in %d bytes (state %+v), want %d items in blocks of %d", len(items), len(body), st, tasks, blockSize)
	}
	growth := int64(peak) - int64(base)
	t.Logf("%d tasks, %d bytes in %d blocks; live heap grew by at most %d bytes", tasks, len(body), st.Blocks, growth)
	if limit := int64(len(body)) / 4; growth > limit {
		t.Errorf("the live heap grew by %d bytes while exporting %d: the export is not streamed", growth, len(body))
	}
	if limit := int64(16 << 20); len(body) < int(3*limit) {
		t.Errorf("the object is only %d bytes: too small to tell streaming from buffering", len(body))
	}
}
