package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/exporter"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	azuretest.Main(m)
}

// exportEnv is one SQLite store with the export workers, against Azurite.
type exportEnv struct {
	t     *testing.T
	az    *azuretest.Env
	conn  *azureblob.Connector
	db    *sqlstore.DB
	dir   string
	jobs  bool
	users map[int64]*blobmark.User
}

var testKey = bytes.Repeat([]byte{7}, 32)

func openStore(t testing.TB, dir string) *sqlstore.DB {
	box, err := seal.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{DataDir: dir, Secrets: box})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newExportEnv(t *testing.T, dir string) *exportEnv {
	az := azuretest.Start(t)
	if dir == "" {
		dir = t.TempDir()
	}
	e := &exportEnv{t: t, az: az, conn: azureblob.NewConnector(az.Options()), dir: dir, db: openStore(t, dir)}
	t.Cleanup(func() { e.db.Close() })
	return e
}

// startJobs works export jobs with a short retry backoff.
func (e *exportEnv) startJobs() {
	workers := river.NewWorkers()
	err := jobs.RegisterExport(workers, jobs.ExportDeps{
		Store: e.db, Source: e.db.ExportStore(), Recorder: e.db.ExportStore(),
		Opener:  azureblob.TargetOpener{Connector: e.conn},
		Backoff: func(int) time.Duration { return 100 * time.Millisecond },
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.startJobsWith(workers)
}

// startJobsWith starts the store's job client with workers.
func (e *exportEnv) startJobsWith(workers *river.Workers) {
	if err := e.db.StartJobs(context.Background(), sqlstore.JobsConfig{Workers: workers, PollInterval: 50 * time.Millisecond, MaxWorkers: 8}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *exportEnv) project(tasks int) (int64, []int64) {
	ctx := context.Background()
	p := &blobmark.Project{Title: "export", LabelConfig: `<View><Image name="img" value="$image"/><Choices name="c" toName="img"><Choice value="a"/></Choices></View>`}
	if err := e.db.CreateProject(ctx, p); err != nil {
		e.t.Fatal(err)
	}
	var imports []*blobmark.TaskImport
	for i := range tasks {
		imports = append(imports, &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"image":"azure-blob://c/%d.jpg"}`, i))})
	}
	res, err := e.db.ImportTasks(ctx, p.ID, imports)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID, res.TaskIDs
}

// storage creates a target storage on a fresh container.
func (e *exportEnv) storage(projectID int64, mod func(*blobmark.TargetStorage)) *blobmark.TargetStorage {
	cfg := e.az.AccountKeyConfig()
	s := &blobmark.TargetStorage{
		ProjectID: projectID, Type: "azure", Title: "out", Container: e.az.NewContainer(e.t),
		Connection: blobmark.Connection{"auth_type": string(cfg.AuthType), "account_name": cfg.AccountName, "endpoint": cfg.Endpoint},
		Secrets:    blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)},
	}
	if mod != nil {
		mod(s)
	}
	if err := e.db.CreateTargetStorage(context.Background(), s, false); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *exportEnv) annotate(taskID int64, label string) int64 {
	a := &blobmark.Annotation{TaskID: taskID, Result: result(label)}
	if err := e.db.CreateAnnotation(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

func (e *exportEnv) update(id int64, label string) {
	if _, err := e.db.UpdateAnnotation(context.Background(), id, blobmark.AnnotationUpdate{Result: result(label)}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *exportEnv) remove(id int64) {
	if err := e.db.DeleteAnnotation(context.Background(), id); err != nil {
		e.t.Fatal(err)
	}
}

func result(label string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`[{"from_name":"c","to_name":"img","type":"choices","value":{"choices":[%q]}}]`, label))
}

// container returns the container's objects: name → body.
func (e *exportEnv) container(s *blobmark.TargetStorage) map[string][]byte {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.conn.Container(ctx, e.az.AccountKeyConfig(), s.Container)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]byte{}
	err = c.List(ctx, azureblob.ListOptions{Recursive: true}, func(page []azureblob.BlobItem) error {
		for _, b := range page {
			d, err := c.Download(ctx, b.Name, 0, 0)
			if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
				continue // deleted since the listing
			} else if err != nil {
				return err
			}
			body, err := io.ReadAll(d.Body)
			d.Body.Close()
			if err != nil {
				return err
			}
			if d.ContentType != exporter.ContentType {
				return fmt.Errorf("%s has Content-Type %q, want %q", b.Name, d.ContentType, exporter.ContentType)
			}
			out[b.Name] = body
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// summary reduces an exported object to what identifies the state it holds:
// the ids and results of its annotations, in id order.
func summary(format exporter.Format, body []byte) (string, error) {
	type ann struct {
		ID     int64           `json:"id"`
		Result json.RawMessage `json:"result"`
	}
	var anns []ann
	if format == exporter.FormatTask {
		var task struct {
			Annotations []ann `json:"annotations"`
		}
		if err := json.Unmarshal(body, &task); err != nil {
			return "", err
		}
		anns = task.Annotations
	} else {
		var a ann
		if err := json.Unmarshal(body, &a); err != nil {
			return "", err
		}
		anns = []ann{a}
	}
	var b strings.Builder
	for _, a := range anns {
		var buf bytes.Buffer
		if err := json.Compact(&buf, a.Result); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d=%s;", a.ID, buf.String())
	}
	return b.String(), nil
}

// want computes the summaries the container must hold: the current state
// of every annotation, plus keep (objects that may stay because the
// storage may not delete).
func (e *exportEnv) want(s *blobmark.TargetStorage, taskIDs []int64, keep map[string]string) map[string]string {
	e.t.Helper()
	st := exporter.StorageOf(s)
	out := maps.Clone(keep)
	if out == nil {
		out = map[string]string{}
	}
	for _, tid := range taskIDs {
		anns, err := e.db.FindAnnotations(context.Background(), tid)
		if err != nil {
			e.t.Fatal(err)
		}
		var taskSummary strings.Builder
		for _, a := range anns {
			var buf bytes.Buffer
			_ = json.Compact(&buf, a.Result)
			line := fmt.Sprintf("%d=%s;", a.ID, buf.String())
			if st.Format == exporter.FormatAnnotation {
				out[exporter.ObjectKey(st.Prefix, st.Format, a.ID, tid, st.FileExtension)] = line
			}
			taskSummary.WriteString(line)
		}
		if st.Format == exporter.FormatTask && len(anns) > 0 {
			out[exporter.ObjectKey(st.Prefix, st.Format, 0, tid, st.FileExtension)] = taskSummary.String()
		}
	}
	return out
}

// waitFor waits until the container's summaries equal want, failing with
// the difference when they do not within a generous bound.
func (e *exportEnv) waitFor(s *blobmark.TargetStorage, want map[string]string) map[string][]byte {
	e.t.Helper()
	st := exporter.StorageOf(s)
	var got map[string]string
	var objects map[string][]byte
	for range 600 {
		objects = e.container(s)
		got = map[string]string{}
		for k, body := range objects {
			sum, err := summary(st.Format, body)
			if err != nil {
				e.t.Fatalf("%s is not an export: %v: %s", k, err, body)
			}
			got[k] = sum
		}
		if maps.Equal(got, want) {
			return objects
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("container holds\n%v\nwant\n%v", got, want)
	return nil
}

func TestExportFormatsPrefixesAndDeletes(t *testing.T) {
	e := newExportEnv(t, "")
	e.startJobs()
	yes, no := true, false
	cases := []struct {
		name      string
		format    string
		prefix    string
		canDelete bool
		ext       *bool
		wantKey   func(annID, taskID int64) string
	}{
		{"annotation, no prefix, delete", "annotation", "", true, nil, func(a, _ int64) string { return strconv.FormatInt(a, 10) }},
		{"annotation, prefix/, keep", "annotation", "out/", false, nil, func(a, _ int64) string { return "out/" + strconv.FormatInt(a, 10) }},
		{"annotation, prefix, ext", "annotation", "a/b", true, &yes, func(a, _ int64) string { return "a/b/" + strconv.FormatInt(a, 10) + ".json" }},
		{"task, prefix/, delete", "task", "tasks/", true, nil, func(_, tk int64) string { return "tasks/" + strconv.FormatInt(tk, 10) + ".json" }},
		{"task, prefix, keep, no ext", "task", "tasks", false, &no, func(_, tk int64) string { return "tasks/" + strconv.FormatInt(tk, 10) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			pid, tasks := e.project(3)
			s := e.storage(pid, func(s *blobmark.TargetStorage) {
				s.ExportFormat, s.Prefix, s.CanDeleteObjects, s.FileExtension = c.format, c.prefix, c.canDelete, c.ext
			})
			a1 := e.annotate(tasks[0], "one")
			a2 := e.annotate(tasks[0], "two")
			a3 := e.annotate(tasks[1], "three")
			objects := e.waitFor(s, e.want(s, tasks, nil))
			for _, k := range []string{c.wantKey(a1, tasks[0]), c.wantKey(a3, tasks[1])} {
				if _, ok := objects[k]; !ok {
					t.Fatalf("no object %q in %v", k, slices.Collect(maps.Keys(objects)))
				}
				if strings.Contains(k, "//") || strings.HasPrefix(k, "/") {
					t.Fatalf("object name %q has an empty path segment", k)
				}
			}

			e.update(a1, "one-v2")
			e.update(a1, "one-v3")
			before := e.want(s, tasks, nil)
			e.remove(a3)
			e.remove(a2)
			keep := map[string]string{}
			if !c.canDelete {
				if c.format == "annotation" {
					keep[c.wantKey(a3, tasks[1])] = before[c.wantKey(a3, tasks[1])]
					keep[c.wantKey(a2, tasks[0])] = before[c.wantKey(a2, tasks[0])]
				} else {
					keep[c.wantKey(a3, tasks[1])] = before[c.wantKey(a3, tasks[1])]
				}
			}
			e.waitFor(s, e.want(s, tasks, keep))

			links, err := e.db.ExportStore().FindExportLinks(context.Background(), s.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range links {
				if l.ETag == "" || l.ExportedAt.IsZero() || l.ContentHash == "" {
					t.Fatalf("link %+v does not record what was written", l)
				}
			}
		})
	}
}

// crashChildEnv names the variables of the child process of
// TestExportSurvivesCrash: the data directory and the task to annotate.
const crashChildEnv = "BLOBMARK_TEST_CRASH_DIR"

// crashChild saves one annotation, with no job worker running, prints its
// id and exits at once without closing anything: a process killed between
// the annotation's commit and its export.
func crashChild() {
	db := openStore(&testing.T{}, os.Getenv(crashChildEnv))
	taskID, _ := strconv.ParseInt(os.Getenv(crashChildEnv+"_TASK"), 10, 64)
	a := &blobmark.Annotation{TaskID: taskID, Result: result("crash")}
	if err := db.CreateAnnotation(context.Background(), a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(a.ID)
	os.Exit(3)
}

func TestExportSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	e := newExportEnv(t, dir)
	pid, tasks := e.project(1)
	s := e.storage(pid, nil)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashChildEnv+"_TASK="+strconv.FormatInt(tasks[0], 10))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("child ended with %v: %s", err, out.String())
	}
	annID, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
	if err != nil {
		t.Fatalf("child printed %q", out.String())
	}
	if got := e.container(s); len(got) != 0 {
		t.Fatalf("the container holds %d objects before any worker ran", len(got))
	}
	if _, err := os.Stat(filepath.Join(dir, "blobmark.db")); err != nil {
		t.Fatal(err)
	}

	e.startJobs()
	objects := e.waitFor(s, e.want(s, tasks, nil))
	if _, ok := objects[strconv.FormatInt(annID, 10)]; !ok {
		t.Fatalf("annotation %d saved by the crashed process was not exported: %v", annID, objects)
	}
}

// deadEndpoint returns an Azurite-shaped endpoint on a loopback port that
// nothing listens on.
func deadEndpoint(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr + "/" + azuretest.AccountName + "/"
}

// waitFailedAttempt waits until an export job of the storage has failed an
// attempt.
func (e *exportEnv) waitFailedAttempt(kind string, storageID int64) {
	e.t.Helper()
	for range 1200 {
		res, err := e.db.River().JobList(context.Background(), river.NewJobListParams().Kinds(kind).First(1000))
		if err != nil {
			e.t.Fatal(err)
		}
		for _, j := range res.Jobs {
			var args blobmark.ExportAnnotationJob
			_ = json.Unmarshal(j.EncodedArgs, &args)
			if len(j.Errors) > 0 && args.StorageID == storageID {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("no %s job failed an attempt", kind)
}

// TestExportNothingLostWhileAzureDown saves, updates and deletes
// annotations while the storage's endpoint answers nothing, then repairs
// the endpoint, and expects exactly the latest state in the container.
func TestExportNothingLostWhileAzureDown(t *testing.T) {
	e := newExportEnv(t, "")
	e.startJobs()
	for _, format := range []string{"annotation", "task"} {
		t.Run(format, func(t *testing.T) {
			e.t = t
			pid, tasks := e.project(3)
			good := e.az.AccountKeyConfig().Endpoint
			s := e.storage(pid, func(s *blobmark.TargetStorage) {
				s.ExportFormat, s.CanDeleteObjects, s.Prefix = format, true, "down/"
				s.Connection["endpoint"] = deadEndpoint(t)
			})
			a1 := e.annotate(tasks[0], "one")
			a2 := e.annotate(tasks[1], "two")
			e.annotate(tasks[2], "three")
			e.update(a1, "one-v2")
			e.waitFailedAttempt("export_annotation", s.ID)
			e.remove(a2)
			e.update(a1, "one-v3")
			a4 := e.annotate(tasks[1], "four")
			e.update(a4, "four-v2")
			if got := e.container(s); len(got) != 0 {
				t.Fatalf("the container holds %v while the endpoint was dead", got)
			}

			s.Connection["endpoint"] = good
			if _, err := e.db.UpdateTargetStorage(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			e.waitFor(s, e.want(s, tasks, nil))
		})
	}
}

// leaseBlobs writes placeholder blobs at keys and takes an infinite lease
// on each, so that the exporter's uploads to them fail as Azure fails them.
func (e *exportEnv) leaseBlobs(containerName string, keys ...string) {
	e.t.Helper()
	ctx := context.Background()
	cred, err := azblob.NewSharedKeyCredential(azuretest.AccountName, azuretest.AccountKey)
	if err != nil {
		e.t.Fatal(err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential(e.az.BlobEndpoint, cred,
		&azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.az.HTTPClient}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := client.UploadBuffer(ctx, containerName, k, []byte("leased"), nil); err != nil {
			e.t.Fatal(err)
		}
		bb := client.ServiceClient().NewContainerClient(containerName).NewBlockBlobClient(k)
		lc, err := lease.NewBlobClient(bb, nil)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := lc.AcquireLease(ctx, -1, nil); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *exportEnv) waitSync(id int64) *blobmark.TargetStorage {
	e.t.Helper()
	for range 600 {
		s, err := e.db.FindTargetStorageByID(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		switch s.State.Status {
		case blobmark.StatusCompleted, blobmark.StatusCompletedWithErrors, blobmark.StatusFailed:
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatal("the sync did not end")
	return nil
}

type syncMeta struct {
	Processed, Succeeded, Uploaded, Unchanged, Failed int
	Failures                                          []exporter.Failure
}

// TestExportSyncReportsRealFailures runs a full sync in which Azure refuses
// two uploads (their blobs are leased) and expects the sync to say so.
func TestExportSyncReportsRealFailures(t *testing.T) {
	e := newExportEnv(t, "")
	e.startJobs()
	pid, tasks := e.project(5)
	var ids []int64
	for i, tid := range tasks {
		ids = append(ids, e.annotate(tid, fmt.Sprint("label", i)))
	}
	s := e.storage(pid, func(s *blobmark.TargetStorage) { s.Prefix = "sync" })
	e.leaseBlobs(s.Container, "sync/"+strconv.FormatInt(ids[1], 10), "sync/"+strconv.FormatInt(ids[3], 10))

	if _, err := e.db.SyncTargetStorage(context.Background(), s.ID, false); err != nil {
		t.Fatal(err)
	}
	got := e.waitSync(s.ID)
	var m syncMeta
	if err := json.Unmarshal(got.State.Meta, &m); err != nil {
		t.Fatal(err)
	}
	if got.State.Status != blobmark.StatusCompletedWithErrors || m.Failed != 2 || m.Succeeded != 3 || m.Uploaded != 3 ||
		got.State.LastSyncCount == nil || *got.State.LastSyncCount != 3 {
		t.Fatalf("status %s, meta %s, last_sync_count %v; want completed_with_errors, 3 uploaded, 2 failed",
			got.State.Status, got.State.Meta, got.State.LastSyncCount)
	}
	var failed []int64
	for _, f := range m.Failures {
		failed = append(failed, f.AnnotationID)
		if f.Message == "" {
			t.Fatalf("failure %+v has no message", f)
		}
	}
	slices.Sort(failed)
	if !slices.Equal(failed, []int64{ids[1], ids[3]}) {
		t.Fatalf("failures name %v, want %v", failed, []int64{ids[1], ids[3]})
	}
	links, err := e.db.ExportStore().FindExportLinks(context.Background(), s.ID)
	if err != nil || len(links) != 3 {
		t.Fatalf("%d links (%v), want one per real upload", len(links), err)
	}

	// only_new after the leases are gone exports exactly the two misses.
	s2 := e.storage(pid, func(s *blobmark.TargetStorage) { s.Prefix = "again" })
	if _, err := e.db.SyncTargetStorage(context.Background(), s2.ID, false); err != nil {
		t.Fatal(err)
	}
	e.waitSync(s2.ID)
	e.update(ids[0], "changed")
	e.waitFor(s2, e.want(s2, tasks, nil))
	if _, err := e.db.SyncTargetStorage(context.Background(), s2.ID, true); err != nil {
		t.Fatal(err)
	}
	got = e.waitSync(s2.ID)
	m = syncMeta{}
	_ = json.Unmarshal(got.State.Meta, &m)
	if got.State.Status != blobmark.StatusCompleted || m.Processed != 0 {
		t.Fatalf("only_new after everything was exported: status %s meta %s, want nothing to do", got.State.Status, got.State.Meta)
	}
}

// TestExportAuthErrorFailsStorage: a refused credential fails the storage
// with a message instead of retrying forever, and the next sync after the
// fix catches up on what was missed.
func TestExportAuthErrorFailsStorage(t *testing.T) {
	e := newExportEnv(t, "")
	e.startJobs()
	pid, tasks := e.project(2)
	refused := strings.Repeat("A", 86) + "=="
	s := e.storage(pid, func(s *blobmark.TargetStorage) {
		s.Secrets["account_key"] = blobmark.Secret(refused)
	})
	e.annotate(tasks[0], "lost?")
	var got *blobmark.TargetStorage
	for range 600 {
		var err error
		if got, err = e.db.FindTargetStorageByID(context.Background(), s.ID); err != nil {
			t.Fatal(err)
		}
		if got.State.Status == blobmark.StatusFailed {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.State.Status != blobmark.StatusFailed || got.State.Traceback == nil || !strings.Contains(*got.State.Traceback, "key") {
		t.Fatalf("storage state after a refused key: %+v", got.State)
	}
	if strings.Contains(*got.State.Traceback, refused) {
		t.Fatal("the storage's message contains the key")
	}
	cancelled := 0
	for range 200 {
		res, err := e.db.River().JobList(context.Background(), river.NewJobListParams().Kinds("export_annotation").States(rivertype.JobStateCancelled))
		if err != nil {
			t.Fatal(err)
		}
		if cancelled = len(res.Jobs); cancelled > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cancelled != 1 {
		t.Fatalf("%d cancelled export jobs, want the one that met the refused key", cancelled)
	}

	got.Secrets = blobmark.Secrets{"account_key": azuretest.AccountKey}
	if _, err := e.db.UpdateTargetStorage(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SyncTargetStorage(context.Background(), s.ID, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(s, e.want(s, tasks, nil))
	if st := e.waitSync(s.ID); st.State.Status != blobmark.StatusCompleted || st.State.Traceback != nil {
		t.Fatalf("after the fix and a sync: %+v", st.State)
	}
}

// TestExportTaskDeletion: deleting a task removes its exported objects from
// storages that may delete, and leaves them where they may not.
func TestExportTaskDeletion(t *testing.T) {
	e := newExportEnv(t, "")
	e.startJobs()
	for _, format := range []string{"annotation", "task"} {
		t.Run(format, func(t *testing.T) {
			e.t = t
			pid, tasks := e.project(2)
			del := e.storage(pid, func(s *blobmark.TargetStorage) { s.ExportFormat, s.CanDeleteObjects = format, true })
			keep := e.storage(pid, func(s *blobmark.TargetStorage) { s.ExportFormat = format })
			e.annotate(tasks[0], "gone")
			e.annotate(tasks[0], "gone too")
			e.annotate(tasks[1], "stays")
			e.waitFor(del, e.want(del, tasks, nil))
			kept := e.waitFor(keep, e.want(keep, tasks, nil))
			if err := e.db.DeleteTask(context.Background(), tasks[0]); err != nil {
				t.Fatal(err)
			}
			e.waitFor(del, e.want(del, tasks[1:], nil))
			if got := e.container(keep); len(got) != len(kept) {
				t.Fatalf("a storage without can_delete_objects lost objects: %d of %d left", len(got), len(kept))
			}
		})
	}
}
