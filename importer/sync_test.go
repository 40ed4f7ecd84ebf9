package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// The doubles below implement importer's own interfaces in memory. They
// follow the contracts documented on Lister, Opener and Sink, and record how
// they were called so tests can check the engine's paging discipline.

// memBlob is one stored blob.
type memBlob struct {
	content []byte
	etag    string
	folder  bool
}

// memBucket is a container: the Lister and Opener read it, tests edit it.
type memBucket struct {
	mu      sync.Mutex
	blobs   map[string]*memBlob
	version int

	listCalls      int
	maxResultsSeen []int
	ignoreDelim    bool // behave like a lister that lists flat whatever is asked

	openCalls   int
	inFlight    int
	maxInFlight int
	openErr     map[string]error
	beforeList  func(call int) // called before each List, outside the lock
}

func newBucket() *memBucket {
	return &memBucket{blobs: map[string]*memBlob{}, openErr: map[string]error{}}
}

func (b *memBucket) put(key, content string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.version++
	b.blobs[key] = &memBlob{content: []byte(content), etag: fmt.Sprintf("\"0x%d\"", b.version)}
}

func (b *memBucket) folder(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blobs[key] = &memBlob{folder: true, etag: "\"dir\""}
}

func (b *memBucket) del(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.blobs, key)
}

// List implements Lister with an opaque numeric marker, like Azure's.
func (b *memBucket) List(ctx context.Context, req ListRequest) (Listing, error) {
	b.mu.Lock()
	b.listCalls++
	call, hook := b.listCalls, b.beforeList
	b.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	if err := ctx.Err(); err != nil {
		return Listing{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxResultsSeen = append(b.maxResultsSeen, req.MaxResults)
	var keys []string
	for k := range b.blobs {
		if !strings.HasPrefix(k, req.Prefix) {
			continue
		}
		if !req.Recursive && !b.ignoreDelim && strings.Contains(k[len(req.Prefix):], "/") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	start := 0
	if req.Marker != "" {
		start, _ = strconv.Atoi(req.Marker)
	}
	end := min(start+req.MaxResults, len(keys))
	var l Listing
	for _, k := range keys[start:end] {
		bl := b.blobs[k]
		l.Objects = append(l.Objects, Object{Key: k, Size: int64(len(bl.content)), ETag: bl.etag, Folder: bl.folder})
	}
	if end < len(keys) {
		l.NextMarker = strconv.Itoa(end)
	}
	return l, nil
}

// Open implements Opener.
func (b *memBucket) Open(ctx context.Context, key string) (Download, error) {
	b.mu.Lock()
	b.openCalls++
	bl, ok := b.blobs[key]
	err := b.openErr[key]
	b.inFlight++
	b.maxInFlight = max(b.maxInFlight, b.inFlight)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}()
	time.Sleep(100 * time.Microsecond) // let downloads overlap so concurrency is exercised
	if err != nil {
		return Download{}, err
	}
	if !ok {
		return Download{}, blobmark.Errorf(blobmark.ENOTFOUND, "blob not found")
	}
	return Download{Body: io.NopCloser(bytes.NewReader(bl.content)), ETag: bl.etag, Size: int64(len(bl.content))}, nil
}

// memTask is a stored task.
type memTask struct {
	data, meta string
	annotated  bool
	missing    bool
	preds      int
}

// memLink is a stored link row.
type memLink struct {
	taskID int64
	etag   string
	size   int64
	gen    int64
}

// linkPos locates a link row.
type linkPos struct {
	key string
	row int
}

// memSink is the store: tasks and link rows unique on (key, row).
type memSink struct {
	mu      sync.Mutex
	storage int64
	tasks   map[int64]*memTask
	links   map[string]map[int]*memLink
	nextID  int64

	lookups        int
	maxLookupKeys  int
	batches        int
	maxBatchTasks  int
	staleLimits    []int
	splitFileFound bool
	createdIn      map[string]int // key → batch that created its rows
	where          map[int64]linkPos
	// beforeWrite runs before batch n (1-based) is applied; an error means
	// the transaction failed and nothing of it is stored.
	beforeWrite func(n int) error
	// afterWrite runs after batch n is committed; an error simulates a crash
	// between commit and acknowledgement.
	afterWrite func(n int) error
}

func newSink() *memSink {
	return &memSink{storage: 1, tasks: map[int64]*memTask{}, links: map[string]map[int]*memLink{},
		createdIn: map[string]int{}, where: map[int64]linkPos{}}
}

func (s *memSink) ExistingLinks(ctx context.Context, storageID int64, keys []string) (map[string]*Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if storageID != s.storage {
		return nil, fmt.Errorf("wrong storage %d", storageID)
	}
	s.lookups++
	s.maxLookupKeys = max(s.maxLookupKeys, len(keys))
	out := map[string]*Link{}
	for _, k := range keys {
		if l := s.linkLocked(k); l != nil {
			out[k] = l
		}
	}
	return out, nil
}

func (s *memSink) linkLocked(key string) *Link {
	rows := s.links[key]
	if len(rows) == 0 {
		return nil
	}
	l := &Link{Key: key}
	for row, lr := range rows {
		t := s.tasks[lr.taskID]
		l.ETag, l.Size = lr.etag, lr.size
		l.Rows = append(l.Rows, LinkRow{Row: row, TaskID: lr.taskID, Annotated: t.annotated, Missing: t.missing})
	}
	sort.Slice(l.Rows, func(i, j int) bool { return l.Rows[i].Row < l.Rows[j].Row })
	return l
}

func (s *memSink) WriteBatch(ctx context.Context, storageID int64, b *Batch) (BatchResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r BatchResult
	if storageID != s.storage {
		return r, fmt.Errorf("wrong storage %d", storageID)
	}
	s.batches++
	n := s.batches
	if s.beforeWrite != nil {
		if err := s.beforeWrite(n); err != nil {
			return r, err
		}
	}
	if err := ctx.Err(); err != nil {
		return r, err // a cancelled transaction rolls back
	}
	s.maxBatchTasks = max(s.maxBatchTasks, b.tasks())
	// Every row of a new file must travel in one batch.
	for _, c := range b.Create {
		if prev, ok := s.createdIn[c.Key]; ok && prev != n {
			s.splitFileFound = true
		}
		s.createdIn[c.Key] = n
	}
	for _, c := range b.Create {
		if s.links[c.Key] == nil {
			s.links[c.Key] = map[int]*memLink{}
		}
		if s.links[c.Key][c.Row] != nil {
			continue // the unique link makes a retried batch idempotent
		}
		s.nextID++
		s.tasks[s.nextID] = &memTask{data: string(c.Task.Data), meta: string(c.Task.Meta),
			annotated: len(c.Task.Annotations) > 0, preds: len(c.Task.Predictions)}
		s.links[c.Key][c.Row] = &memLink{taskID: s.nextID, etag: c.ETag, size: c.Size, gen: b.Generation}
		s.where[s.nextID] = linkPos{c.Key, c.Row}
		r.Created++
	}
	for _, u := range b.Update {
		t := s.tasks[u.TaskID]
		switch {
		case t == nil:
		case t.annotated:
			r.Kept++
		default:
			t.data, t.meta = string(u.Task.Data), string(u.Task.Meta)
			if u.Task.Predictions != nil {
				t.preds = len(u.Task.Predictions)
			}
			t.annotated = len(u.Task.Annotations) > 0 // the file's annotations are added
			r.Updated++
		}
	}
	for _, v := range b.Versions {
		for _, lr := range s.links[v.Key] {
			lr.etag, lr.size = v.ETag, v.Size
		}
	}
	for _, k := range b.Seen {
		for _, lr := range s.links[k] {
			lr.gen = b.Generation
		}
	}
	for _, id := range b.Restore {
		if t := s.tasks[id]; t != nil && t.missing {
			t.missing = false
			r.Restored++
		}
	}
	for _, id := range b.MarkMissing {
		if t := s.tasks[id]; t != nil && !t.missing {
			t.missing = true
			r.Marked++
		}
	}
	for _, id := range b.Remove {
		t := s.tasks[id]
		if t == nil {
			continue
		}
		if t.annotated {
			t.missing = true
			r.Marked++
			continue
		}
		delete(s.tasks, id)
		pos := s.where[id]
		delete(s.where, id)
		delete(s.links[pos.key], pos.row)
		if len(s.links[pos.key]) == 0 {
			delete(s.links, pos.key)
		}
		r.Removed++
	}
	if s.afterWrite != nil {
		if err := s.afterWrite(n); err != nil {
			return BatchResult{}, err
		}
	}
	return r, nil
}

func (s *memSink) StaleLinks(ctx context.Context, storageID, generation int64, after string, limit int) ([]*Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staleLimits = append(s.staleLimits, limit)
	var keys []string
	for k, rows := range s.links {
		if k <= after {
			continue
		}
		for _, lr := range rows {
			if lr.gen < generation {
				keys = append(keys, k)
				break
			}
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]*Link, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.linkLocked(k))
	}
	return out, nil
}

// annotate gives the task of (key, row) an annotation.
func (s *memSink) annotate(t *testing.T, key string, row int) int64 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	lr := s.links[key][row]
	if lr == nil {
		t.Fatalf("no link for %s row %d", key, row)
	}
	s.tasks[lr.taskID].annotated = true
	return lr.taskID
}

// task returns the task of (key, row), or nil.
func (s *memSink) task(key string, row int) *memTask {
	s.mu.Lock()
	defer s.mu.Unlock()
	lr := s.links[key][row]
	if lr == nil {
		return nil
	}
	return s.tasks[lr.taskID]
}

// check asserts the store's invariants: one task per link row, one link row
// per task, and returns the task count.
func (s *memSink) check(t *testing.T) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	owner := map[int64]string{}
	for k, rows := range s.links {
		for row, lr := range rows {
			if prev, dup := owner[lr.taskID]; dup {
				t.Fatalf("task %d linked twice: %s and %s/%d", lr.taskID, prev, k, row)
			}
			owner[lr.taskID] = fmt.Sprintf("%s/%d", k, row)
			if s.tasks[lr.taskID] == nil {
				t.Fatalf("link %s/%d points at missing task %d", k, row, lr.taskID)
			}
		}
	}
	if len(owner) != len(s.tasks) {
		t.Fatalf("%d tasks but %d link rows", len(s.tasks), len(owner))
	}
	return len(s.tasks)
}

// source builds a Source for the doubles with small pages.
func source(t *testing.T, gen int64, o Options) *Source {
	t.Helper()
	if o.Container == "" {
		o.Container = "media"
	}
	src, err := NewSource(1, o)
	if err != nil {
		t.Fatal(err)
	}
	src.Generation = gen
	src.PageSize = 4
	src.Concurrency = 3
	return src
}

func mustSync(t *testing.T, src *Source, b *memBucket, s *memSink) *Result {
	t.Helper()
	res, err := Sync(context.Background(), src, b, b, s, nil)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

func TestSyncFilesMode(t *testing.T) {
	b := newBucket()
	for i := range 10 {
		b.put(fmt.Sprintf("img/%02d.png", i), "x")
	}
	b.put("img/", "")              // folder marker equal to the prefix
	b.folder("img/sub")            // hdi_isfolder directory blob
	b.put("img/sub/deep.png", "x") // below the prefix: not taken without recursion
	b.put("img/notes.txt", "x")    // filtered out by the regex
	b.put("img2/other.png", "x")   // a sibling folder that shares the prefix's start
	s := newSink()
	src := source(t, 1, Options{Prefix: "img", UseBlobURLs: true, RegexFilter: `img/.*\.png`})

	res := mustSync(t, src, b, s)
	if res.Status != StatusCompleted || res.TasksCreated != 10 {
		t.Fatalf("result = %+v", res)
	}
	if got := s.check(t); got != 10 {
		t.Fatalf("tasks = %d, want 10", got)
	}
	if d := s.task("img/03.png", 0).data; d != `{"$undefined$":"azure-blob://media/img/03.png"}` {
		t.Errorf("data = %s", d)
	}
	if s.task("img/sub/deep.png", 0) != nil || s.task("img/notes.txt", 0) != nil || s.task("img2/other.png", 0) != nil {
		t.Error("an out-of-scope key became a task")
	}
	if res.KeysListed != 13 || res.KeysSkipped != 3 { // the lister itself drops img/sub/deep.png and img2/
		t.Errorf("listed/skipped = %d/%d, want 13/3", res.KeysListed, res.KeysSkipped)
	}

	// Re-sync with nothing new: nothing created, nothing written.
	batches := s.batches
	res = mustSync(t, source(t, 2, Options{Prefix: "img", UseBlobURLs: true, RegexFilter: `img/.*\.png`}), b, s)
	if res.TasksCreated != 0 || res.TasksExisted != 10 || s.batches != batches {
		t.Errorf("re-sync: %+v, %d new batches", res.Progress, s.batches-batches)
	}

	// Recursive takes the deeper file, still skipping the folder blobs.
	res = mustSync(t, source(t, 3, Options{Prefix: "img", UseBlobURLs: true, Recursive: true}), b, s)
	if res.TasksCreated != 2 || s.task("img/sub/deep.png", 0) == nil || s.task("img/notes.txt", 0) == nil {
		t.Errorf("recursive: %+v", res.Progress)
	}
	if s.check(t) != 12 {
		t.Error("recursive sync duplicated tasks")
	}
}

func TestSyncNonRecursiveEvenIfTheListerListsFlat(t *testing.T) {
	b := newBucket()
	b.ignoreDelim = true
	b.put("a.json", `{"t": 1}`)
	b.put("d/b.json", `{"t": 2}`)
	s := newSink()
	res := mustSync(t, source(t, 1, Options{}), b, s)
	if res.TasksCreated != 1 || s.task("a.json", 0) == nil || s.task("d/b.json", 0) != nil {
		t.Fatalf("result = %+v", res.Progress)
	}
}

func TestSyncTasksModeIsolatesBadFiles(t *testing.T) {
	b := newBucket()
	b.put("t/01.json", `{"text": "one"}`)
	b.put("t/02.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"c\"}\n")
	b.put("t/03.json", `[{"data": {"text": "x"}, "predictions": [{"result": []}]}, {"text": "y"}]`)
	b.put("t/04.json", "{\"text\": \"ok\"}\n{\"text\": oops}\n") // bad line 2
	b.put("t/05.png", "\x89PNG\r\n")                             // not JSON
	b.put("t/06.json", `[`+strings.Repeat(`{"text": "big"},`, 100)+`{}]`)
	b.put("t/07.json", `[]`)
	b.put("t/08.json", "\uFEFF{\"text\": \"bom\"}")
	b.put("t/09.json", `[1, 2]`)
	s := newSink()
	src := source(t, 1, Options{Prefix: "t", MaxFileSize: 1000})

	res := mustSync(t, src, b, s)
	if res.Status != StatusCompletedWithErrors {
		t.Fatalf("status = %s", res.Status)
	}
	if res.TasksCreated != 7 || s.check(t) != 7 {
		t.Errorf("created = %d, want 7 (1+3+2+1)", res.TasksCreated)
	}
	if res.FilesFailed != 4 || res.FilesRead != 5 {
		t.Errorf("files failed/read = %d/%d, want 4/5", res.FilesFailed, res.FilesRead)
	}
	want := map[string]string{"t/04.json": "line 2", "t/05.png": "use_blob_urls", "t/06.json": "limit", "t/09.json": "index 0"}
	if len(res.Failures) != len(want) {
		t.Fatalf("failures = %+v", res.Failures)
	}
	for _, f := range res.Failures {
		if !strings.Contains(f.Reason, want[f.Key]) || !strings.Contains(f.Reason, f.Key) {
			t.Errorf("failure %+v should mention %q and its key", f, want[f.Key])
		}
		if !strings.Contains(res.Traceback(), f.Reason) {
			t.Errorf("traceback misses %q", f.Reason)
		}
	}
	if s.task("t/02.jsonl", 2).data != `{"text":"c"}` || s.task("t/03.json", 0).preds != 1 {
		t.Error("rows were not stored in file order with their predictions")
	}
	if b.openCalls != 8 { // the oversized file is refused from its listed size, unread
		t.Errorf("open calls = %d, want 8", b.openCalls)
	}
	if b.maxInFlight > src.Concurrency {
		t.Errorf("max downloads in flight = %d, over Concurrency %d", b.maxInFlight, src.Concurrency)
	}

	// Re-sync: linked files are not downloaded again; failed ones are retried.
	b.openCalls = 0
	res = mustSync(t, source(t, 2, Options{Prefix: "t", MaxFileSize: 1000}), b, s)
	if res.TasksCreated != 0 || res.TasksExisted != 7 || res.FilesFailed != 4 {
		t.Errorf("re-sync: %+v", res.Progress)
	}
	if b.openCalls != 4 { // 04, 05, 07 (empty array has no link) and 09
		t.Errorf("re-sync opened %d files, want 4", b.openCalls)
	}
	if s.check(t) != 7 {
		t.Error("re-sync duplicated tasks")
	}
}

func TestSyncFatalDownloadErrorAborts(t *testing.T) {
	b := newBucket()
	b.put("a.json", `{"t": 1}`)
	b.put("b.json", `{"t": 2}`)
	b.openErr["b.json"] = blobmark.Errorf(blobmark.EFORBIDDEN, "missing role Storage Blob Data Reader")
	s := newSink()
	_, err := Sync(context.Background(), source(t, 1, Options{}), b, b, s, nil)
	if blobmark.ErrorCode(err) != blobmark.EFORBIDDEN {
		t.Fatalf("err = %v, want EFORBIDDEN", err)
	}
	// A blob deleted between listing and download is only that file's problem.
	b.openErr["b.json"] = blobmark.Errorf(blobmark.ENOTFOUND, "blob not found")
	res := mustSync(t, source(t, 2, Options{}), b, s)
	if res.FilesFailed != 1 || res.Failures[0].Key != "b.json" || s.check(t) != 1 {
		t.Errorf("result = %+v", res.Progress)
	}
}

func TestSyncChangedFiles(t *testing.T) {
	b := newBucket()
	b.put("f.jsonl", "{\"v\": 0}\n{\"v\": 1}\n{\"v\": 2}\n")
	b.put("g.json", `{"v": "g"}`)
	s := newSink()
	mustSync(t, source(t, 1, Options{}), b, s)
	annotated := s.annotate(t, "f.jsonl", 1)

	b.put("f.jsonl", "{\"v\": 10}\n{\"v\": 11}\n{\"v\": 12}\n{\"v\": 13}\n")

	// Without sync_changed a changed file is left alone, as in Label Studio.
	b.openCalls = 0
	res := mustSync(t, source(t, 2, Options{}), b, s)
	if res.TasksUpdated != 0 || res.TasksCreated != 0 || b.openCalls != 0 || s.task("f.jsonl", 0).data != `{"v":0}` {
		t.Fatalf("without sync_changed: %+v", res.Progress)
	}

	res = mustSync(t, source(t, 3, Options{SyncChanged: true}), b, s)
	if res.TasksUpdated != 2 || res.TasksCreated != 1 || res.TasksKept != 1 {
		t.Fatalf("sync_changed: %+v", res.Progress)
	}
	if res.Status != StatusCompletedWithErrors || len(res.Failures) != 1 || res.Failures[0].TaskID != annotated ||
		!strings.Contains(res.Failures[0].Reason, "has annotations") {
		t.Errorf("the annotated task must be reported: %+v", res.Failures)
	}
	for row, want := range []string{`{"v":10}`, `{"v":1}`, `{"v":12}`, `{"v":13}`} {
		if got := s.task("f.jsonl", row).data; got != want {
			t.Errorf("row %d = %s, want %s", row, got, want)
		}
	}
	if s.check(t) != 5 {
		t.Error("sync_changed duplicated tasks")
	}

	// The new version is remembered: the next sync has nothing to do.
	b.openCalls = 0
	res = mustSync(t, source(t, 4, Options{SyncChanged: true}), b, s)
	if b.openCalls != 0 || res.TasksUpdated+res.TasksCreated+res.TasksKept != 0 || res.Status != StatusCompleted {
		t.Errorf("after the change was applied: %+v, %d downloads", res.Progress, b.openCalls)
	}
}

func TestSyncChangedFileThatShrank(t *testing.T) {
	b := newBucket()
	b.put("f.json", `[{"v": 0}, {"v": 1}, {"v": 2}]`)
	s := newSink()
	mustSync(t, source(t, 1, Options{}), b, s)
	kept := s.annotate(t, "f.json", 2)
	gone := s.task("f.json", 1)

	b.put("f.json", `[{"v": "new"}]`)
	res := mustSync(t, source(t, 2, Options{SyncChanged: true, SyncDeleted: true}), b, s)
	if res.TasksUpdated != 1 || res.TasksRemoved != 1 || res.TasksMarkedMissing != 1 {
		t.Fatalf("result = %+v", res.Progress)
	}
	if s.task("f.json", 1) != nil || s.tasks[kept] == nil || !s.tasks[kept].missing || gone == nil {
		t.Error("the lost unannotated row must be removed and the annotated one marked")
	}
	if s.check(t) != 2 {
		t.Error("wrong task count")
	}
}

func TestSyncDeleted(t *testing.T) {
	b := newBucket()
	for i := range 10 {
		b.put(fmt.Sprintf("in/%02d.png", i), "x")
	}
	b.put("keep/outside.png", "x")
	s := newSink()
	mustSync(t, source(t, 1, Options{Prefix: "in", UseBlobURLs: true}), b, s)
	mustSync(t, source(t, 2, Options{Prefix: "keep", UseBlobURLs: true}), b, s)
	a3 := s.annotate(t, "in/03.png", 0)
	a4 := s.annotate(t, "in/04.png", 0)
	for _, k := range []string{"in/02.png", "in/03.png", "in/04.png", "in/05.png"} {
		b.del(k)
	}

	// Without sync_deleted nothing is removed.
	res := mustSync(t, source(t, 3, Options{Prefix: "in", UseBlobURLs: true}), b, s)
	if res.TasksRemoved+res.TasksMarkedMissing != 0 || s.check(t) != 11 {
		t.Fatalf("without sync_deleted: %+v", res.Progress)
	}

	res = mustSync(t, source(t, 4, Options{Prefix: "in", UseBlobURLs: true, SyncDeleted: true}), b, s)
	if res.TasksRemoved != 2 || res.TasksMarkedMissing != 2 || res.Status != StatusCompleted {
		t.Fatalf("sync_deleted: %+v", res.Progress)
	}
	if !s.tasks[a3].missing || !s.tasks[a4].missing || s.task("in/02.png", 0) != nil || s.task("in/05.png", 0) != nil {
		t.Error("unannotated tasks must go, annotated ones stay marked")
	}
	if s.task("keep/outside.png", 0) == nil {
		t.Error("a link outside the synced prefix was taken for a deleted blob")
	}
	if s.check(t) != 9 {
		t.Error("wrong task count")
	}

	// Again: the marks are not re-reported.
	res = mustSync(t, source(t, 5, Options{Prefix: "in", UseBlobURLs: true, SyncDeleted: true}), b, s)
	if res.TasksRemoved+res.TasksMarkedMissing != 0 {
		t.Errorf("second reconcile: %+v", res.Progress)
	}

	// A blob that comes back clears its task's mark.
	b.put("in/03.png", "x")
	res = mustSync(t, source(t, 6, Options{Prefix: "in", UseBlobURLs: true, SyncDeleted: true}), b, s)
	if res.TasksRestored != 1 || s.tasks[a3].missing || !s.tasks[a4].missing || res.TasksCreated != 0 {
		t.Errorf("restore: %+v", res.Progress)
	}
}

func TestSyncDeletedTasksMode(t *testing.T) {
	b := newBucket()
	b.put("a.jsonl", "{\"v\": 1}\n{\"v\": 2}\n")
	b.put("b.json", `{"v": 3}`)
	s := newSink()
	mustSync(t, source(t, 1, Options{SyncDeleted: true}), b, s)
	s.annotate(t, "a.jsonl", 0)
	b.del("a.jsonl")
	b.del("b.json")
	res := mustSync(t, source(t, 2, Options{SyncDeleted: true}), b, s)
	if res.TasksRemoved != 2 || res.TasksMarkedMissing != 1 || s.check(t) != 1 {
		t.Fatalf("result = %+v", res.Progress)
	}
}

// cancelAfter returns a context cancelled when the sink is about to commit
// batch n, so batches 1..n-1 are stored and batch n is rolled back.
func cancelAfter(s *memSink, n int) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	s.beforeWrite = func(i int) error {
		if i == n {
			cancel()
		}
		return nil
	}
	return ctx
}

func TestSyncCancelledThenResumedImportsEachBlobOnce(t *testing.T) {
	for _, files := range []bool{true, false} {
		t.Run(fmt.Sprintf("files=%v", files), func(t *testing.T) {
			b := newBucket()
			want := 0
			for i := range 23 {
				if files {
					b.put(fmt.Sprintf("k/%03d", i), "x")
					want++
				} else {
					b.put(fmt.Sprintf("k/%03d.jsonl", i), strings.Repeat("{\"v\": 1}\n", i%4+1))
					want += i%4 + 1
				}
			}
			s := newSink()
			ctx := cancelAfter(s, 3)
			res, err := Sync(ctx, source(t, 1, Options{Prefix: "k", UseBlobURLs: files}), b, b, s, nil)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			first := s.check(t)
			if first == 0 || first >= want || int64(first) != res.TasksCreated {
				t.Fatalf("cancelled sync stored %d tasks and counted %d (of %d)", first, res.TasksCreated, want)
			}

			s.beforeWrite = nil
			res = mustSync(t, source(t, 2, Options{Prefix: "k", UseBlobURLs: files}), b, s)
			if got := s.check(t); got != want || int(res.TasksCreated) != want-first || int(res.TasksExisted) != first {
				t.Fatalf("after resume: %d tasks (want %d), created %d, existed %d", got, want, res.TasksCreated, res.TasksExisted)
			}
		})
	}
}

func TestSyncCrashAfterCommitIsIdempotent(t *testing.T) {
	b := newBucket()
	for i := range 12 {
		b.put(fmt.Sprintf("%02d.json", i), fmt.Sprintf(`[{"v": %d}, {"v": %d}]`, i, -i))
	}
	s := newSink()
	// Batch 2 commits but the acknowledgement is lost: the job dies and is
	// retried from the start with the same generation.
	s.afterWrite = func(n int) error {
		if n == 2 {
			return errors.New("connection lost after commit")
		}
		return nil
	}
	if _, err := Sync(context.Background(), source(t, 1, Options{}), b, b, s, nil); err == nil {
		t.Fatal("Sync should report the lost write")
	}
	s.afterWrite = nil
	mustSync(t, source(t, 1, Options{}), b, s)
	if got := s.check(t); got != 24 {
		t.Fatalf("tasks = %d, want 24", got)
	}
	// Replaying a batch that was already applied creates nothing.
	r, err := s.WriteBatch(context.Background(), 1, &Batch{Generation: 1, Create: []NewTask{{Key: "00.json", Row: 1, Task: &blobmark.TaskImport{Data: []byte(`{}`)}}}})
	if err != nil || r.Created != 0 || s.check(t) != 24 {
		t.Errorf("replayed create: %+v %v", r, err)
	}
}

func TestSyncPagingKeepsMemoryBounded(t *testing.T) {
	const n = 5000
	b := newBucket()
	for i := range n {
		b.put(fmt.Sprintf("p/%05d.jpg", i), "x")
	}
	s := newSink()
	src := source(t, 1, Options{Prefix: "p", UseBlobURLs: true, SyncDeleted: true})
	src.PageSize = 250
	src.MaxBatchTasks = 250
	// The lister may run at most a page ahead of the writer: it is never
	// asked for page k+3 before page k has been looked up.
	b.beforeList = func(call int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if call-s.lookups > 3 {
			t.Errorf("list call %d while only %d pages were processed", call, s.lookups)
		}
	}
	res := mustSync(t, src, b, s)
	if res.TasksCreated != n || s.check(t) != n {
		t.Fatalf("created %d, want %d", res.TasksCreated, n)
	}
	for _, m := range b.maxResultsSeen {
		if m != 250 {
			t.Fatalf("lister asked for %d results, want 250", m)
		}
	}
	if s.maxLookupKeys > 250 || s.maxBatchTasks > 250 {
		t.Errorf("largest lookup %d keys, largest batch %d tasks; want ≤ 250", s.maxLookupKeys, s.maxBatchTasks)
	}
	if s.lookups != n/250 {
		t.Errorf("lookups = %d, want one per page (%d)", s.lookups, n/250)
	}
	for _, l := range s.staleLimits {
		if l != 250 {
			t.Errorf("stale links asked with limit %d, want 250", l)
		}
	}
	// Reconcile pages through stale links too.
	for i := range 600 {
		b.del(fmt.Sprintf("p/%05d.jpg", i))
	}
	s.staleLimits = nil
	src.Generation = 2
	res = mustSync(t, src, b, s)
	if res.TasksRemoved != 600 || s.check(t) != n-600 {
		t.Fatalf("removed %d, want 600", res.TasksRemoved)
	}
	if len(s.staleLimits) < 3 {
		t.Errorf("600 stale keys were fetched in %d calls, want paging by 250", len(s.staleLimits))
	}
}

func TestSyncTasksModeBatchesWholeFiles(t *testing.T) {
	b := newBucket()
	for i := range 9 {
		b.put(fmt.Sprintf("%d.jsonl", i), strings.Repeat("{\"v\": 1}\n", 5))
	}
	s := newSink()
	src := source(t, 1, Options{})
	src.PageSize = 100
	src.MaxBatchTasks = 7 // smaller than two files: each batch closes after a whole file
	res := mustSync(t, src, b, s)
	if res.TasksCreated != 45 || s.check(t) != 45 {
		t.Fatalf("created %d", res.TasksCreated)
	}
	if s.batches < 4 || s.maxBatchTasks > 10 || s.splitFileFound {
		t.Errorf("batches = %d, largest %d, split file %v", s.batches, s.maxBatchTasks, s.splitFileFound)
	}
	// Tasks keep the listing order (inner ids follow file order).
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := int64(0)
	for i := range 9 {
		id := s.links[fmt.Sprintf("%d.jsonl", i)][0].taskID
		if id < prev {
			t.Errorf("file %d got task id %d after %d", i, id, prev)
		}
		prev = id
	}
}

func TestSyncReportsProgressWhileRunning(t *testing.T) {
	b := newBucket()
	for i := range 12 {
		b.put(fmt.Sprintf("%02d.png", i), "x")
	}
	s := newSink()
	src := source(t, 1, Options{UseBlobURLs: true})
	src.ProgressInterval = time.Millisecond
	reported := make(chan struct{}, 1)
	var busy sync.Mutex
	var calls []Progress
	progress := func(ctx context.Context, p Progress) {
		if !busy.TryLock() {
			t.Error("progress calls overlap")
			return
		}
		defer busy.Unlock()
		calls = append(calls, p)
		select {
		case reported <- struct{}{}:
		default:
		}
	}
	// The second page is listed only after a periodic report arrived, which
	// proves reports come while the sync runs, not only at its end.
	b.beforeList = func(call int) {
		if call == 2 {
			select {
			case <-reported:
			case <-time.After(10 * time.Second):
				t.Error("no progress report while the sync was running")
			}
		}
	}
	res, err := Sync(context.Background(), src, b, b, s, progress)
	if err != nil {
		t.Fatal(err)
	}
	busy.Lock()
	defer busy.Unlock()
	if len(calls) < 2 {
		t.Fatalf("progress called %d times, want periodic calls and a final one", len(calls))
	}
	if last := calls[len(calls)-1]; last.TasksCreated != 12 || last.KeysListed != 12 || last.TasksCreated != res.TasksCreated {
		t.Errorf("final progress = %+v", last)
	}
}

func TestSyncFailuresAreCapped(t *testing.T) {
	b := newBucket()
	for i := range 30 {
		b.put(fmt.Sprintf("%02d.json", i), "nope")
	}
	s := newSink()
	src := source(t, 1, Options{})
	src.MaxFailures = 5
	res := mustSync(t, src, b, s)
	if res.FilesFailed != 30 || len(res.Failures) != 5 || res.FailuresOmitted != 25 {
		t.Fatalf("result = %+v", res.Progress)
	}
	if !strings.HasSuffix(res.Traceback(), "… and 25 more") {
		t.Errorf("traceback = %q", res.Traceback())
	}
}

func TestSyncListingErrorAbortsWithoutReconcile(t *testing.T) {
	b := newBucket()
	for i := range 10 {
		b.put(fmt.Sprintf("%02d.png", i), "x")
	}
	s := newSink()
	mustSync(t, source(t, 1, Options{UseBlobURLs: true}), b, s)
	boom := blobmark.Errorf(blobmark.EUNAVAILABLE, "server busy")
	lister := &failingLister{Lister: b, failAt: 2, err: boom}
	res, err := Sync(context.Background(), source(t, 2, Options{UseBlobURLs: true, SyncDeleted: true}), lister, b, s, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the listing error", err)
	}
	if res.Status != "" {
		t.Errorf("a failed sync has status %q, want none", res.Status)
	}
	if s.check(t) != 10 || len(s.staleLimits) != 0 {
		t.Error("an incomplete listing must never reconcile deletions")
	}
}

// failingLister fails its failAt-th call.
type failingLister struct {
	Lister
	calls, failAt int
	err           error
}

func (f *failingLister) List(ctx context.Context, req ListRequest) (Listing, error) {
	f.calls++
	if f.calls == f.failAt {
		return Listing{}, f.err
	}
	return f.Lister.List(ctx, req)
}

func TestSyncFilesModeChangedBlobKeepsTaskAndRemembersVersion(t *testing.T) {
	b := newBucket()
	b.put("a.png", "x")
	s := newSink()
	mustSync(t, source(t, 1, Options{UseBlobURLs: true}), b, s)
	before := *s.task("a.png", 0)
	b.put("a.png", "a new picture")
	res := mustSync(t, source(t, 2, Options{UseBlobURLs: true, SyncChanged: true}), b, s)
	if res.TasksCreated+res.TasksUpdated != 0 || res.TasksExisted != 1 || *s.task("a.png", 0) != before {
		t.Fatalf("result = %+v", res.Progress)
	}
	s.mu.Lock()
	lr := *s.links["a.png"][0]
	s.mu.Unlock()
	if lr.size != int64(len("a new picture")) || lr.etag != b.blobs["a.png"].etag {
		t.Errorf("link version = %+v, want the new blob's", lr)
	}
}

func TestSyncRecordsTheDownloadedVersion(t *testing.T) {
	b := newBucket()
	b.put("a.json", `{"v": 1}`)
	s := newSink()
	// The blob is rewritten between listing and download: the link must
	// hold the version actually imported, so the next sync sees no change.
	lister := &rewriteAfterList{bucket: b, key: "a.json", content: `{"v": 2}`}
	mustSyncWith(t, source(t, 1, Options{}), lister, b, s)
	if s.task("a.json", 0).data != `{"v":2}` {
		t.Fatalf("data = %s", s.task("a.json", 0).data)
	}
	b.openCalls = 0
	res := mustSync(t, source(t, 2, Options{SyncChanged: true}), b, s)
	if b.openCalls != 0 || res.TasksUpdated != 0 {
		t.Errorf("the imported version was taken for a change: %+v", res.Progress)
	}
}

// rewriteAfterList lists, then rewrites one blob before anything is read.
type rewriteAfterList struct {
	bucket       *memBucket
	key, content string
}

func (r *rewriteAfterList) List(ctx context.Context, req ListRequest) (Listing, error) {
	l, err := r.bucket.List(ctx, req)
	r.bucket.put(r.key, r.content)
	return l, err
}

func mustSyncWith(t *testing.T, src *Source, l Lister, o Opener, s Sink) *Result {
	t.Helper()
	res, err := Sync(context.Background(), src, l, o, s, nil)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

// gatedSink holds its first WriteBatch until gate is closed, as a slow
// commit would, and fails it if the gate never opens.
type gatedSink struct {
	*memSink
	gate  <-chan struct{}
	first sync.Once
}

func (g *gatedSink) WriteBatch(ctx context.Context, storageID int64, b *Batch) (BatchResult, error) {
	held := false
	g.first.Do(func() { held = true })
	if held {
		select {
		case <-g.gate:
		case <-time.After(10 * time.Second): // only a guard against hanging: the gate opens at once when downloads go on
			return BatchResult{}, errors.New("no later file was downloaded while the first batch was being written")
		}
	}
	return g.memSink.WriteBatch(ctx, storageID, b)
}

// watchedOpener closes opened when key is opened.
type watchedOpener struct {
	*memBucket
	key    string
	opened chan struct{}
	once   sync.Once
}

func (o *watchedOpener) Open(ctx context.Context, key string) (Download, error) {
	if key == o.key {
		o.once.Do(func() { close(o.opened) })
	}
	return o.memBucket.Open(ctx, key)
}

func TestSyncDownloadsWhileABatchIsBeingWritten(t *testing.T) {
	for _, tc := range []struct {
		name             string
		pageSize, maxBat int
		// wait is a file that is opened only if downloading goes on while
		// the first batch commits: on the next page, or beyond what the
		// download window alone would fetch ahead of a stalled writer.
		wait string
	}{
		{"next page", 4, 100, "05.json"},
		{"same page", 100, 4, "12.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBucket()
			for i := range 20 {
				b.put(fmt.Sprintf("%02d.json", i), fmt.Sprintf(`{"v": %d}`, i))
			}
			opened := make(chan struct{})
			o := &watchedOpener{memBucket: b, key: tc.wait, opened: opened}
			s := &gatedSink{memSink: newSink(), gate: opened}
			src := source(t, 1, Options{})
			src.PageSize, src.MaxBatchTasks = tc.pageSize, tc.maxBat
			res, err := Sync(context.Background(), src, b, o, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.TasksCreated != 20 || s.check(t) != 20 || s.splitFileFound {
				t.Fatalf("created %d, stored %d, split file %v", res.TasksCreated, s.check(t), s.splitFileFound)
			}
			// Batches still commit in listing order.
			s.mu.Lock()
			defer s.mu.Unlock()
			for i := 1; i < 20; i++ {
				prev, cur := s.links[fmt.Sprintf("%02d.json", i-1)][0].taskID, s.links[fmt.Sprintf("%02d.json", i)][0].taskID
				if cur < prev {
					t.Errorf("file %d got task %d after %d", i, cur, prev)
				}
			}
		})
	}
}
