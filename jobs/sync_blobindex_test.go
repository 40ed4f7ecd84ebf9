package jobs_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/riverqueue/river"
)

// Azurite (3.37) keeps blob metadata and index tags, returns them in
// listings (include=metadata,tags) and answers Find Blobs by Tags on a
// container, so these tests run against it rather than a synthetic server.
// Its Find Blobs by Tags paging is not Azure's (with several blobs it ends
// a short page without a marker), so paging by marker is tested against
// bench/listserver, in azureblob.

// listQueries records the query of every List Blobs or Find Blobs by Tags
// request the connector sends, to show what a sync asked Azure for.
type listQueries struct {
	next policy.Transporter
	mu   sync.Mutex
	seen []string
}

func (l *listQueries) Do(req *http.Request) (*http.Response, error) {
	if q := req.URL.Query(); q.Get("comp") == "list" || q.Get("comp") == "blobs" {
		l.mu.Lock()
		l.seen = append(l.seen, req.URL.RawQuery)
		l.mu.Unlock()
	}
	return l.next.Do(req)
}

func (l *listQueries) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.seen, "\n")
}

// recordLists makes the fixture's syncs go through a connector that
// records their listing requests.
func (f *syncFixture) recordLists() *listQueries {
	opts := f.env.Options()
	rec := &listQueries{next: opts.Transport}
	opts.Transport = rec
	f.conn = azureblob.NewConnector(opts)
	return rec
}

// putIndexed uploads a one-task JSON file with metadata and index tags.
func (f *syncFixture) putIndexed(key string, metadata, tags map[string]string) {
	f.t.Helper()
	f.env.PutIndexedBlob(f.t, f.name, key, `{"text": "own data"}`, metadata, tags)
}

// TestSyncCopiesBlobMetadataAndTags: a Files-mode storage that selects
// metadata and tags gets them in each task's data, asked for in the
// listing; one that selects nothing asks for no tags and keeps Label
// Studio's data exactly.
func TestSyncCopiesBlobMetadataAndTags(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) {
		s.MetadataKeys, s.TagKeys = []string{"Camera", "site"}, []string{"*"}
	})
	f.putIndexed("a.jpg", map[string]string{"Camera": "c1", "other": "x"}, map[string]string{"split": "train", "customer": "42"})
	f.putIndexed("b.jpg", nil, nil)
	rec := f.recordLists()
	s, err := f.sync(f.db, 0)
	if err != nil || s.State.Status != blobmark.StatusCompleted {
		t.Fatalf("sync: %v, state %+v", err, s.State)
	}
	want := `{"$undefined$":"azure-blob://` + f.name + `/a.jpg","blob_metadata":{"Camera":"c1"},"blob_tags":{"customer":"42","split":"train"}}` + "\n" +
		`{"$undefined$":"azure-blob://` + f.name + `/b.jpg","blob_metadata":{},"blob_tags":{}}`
	if got := strings.Join(f.tasks(), "\n"); got != want {
		t.Errorf("tasks =\n%s\nwant\n%s", got, want)
	}
	if q := rec.all(); !strings.Contains(q, "include=metadata%2Ctags") && !strings.Contains(q, "include=metadata,tags") {
		t.Errorf("listing requests %q do not ask for metadata and tags", q)
	}

	plain := newSyncFixture(t, nil)
	plain.putIndexed("a.jpg", map[string]string{"camera": "c1"}, map[string]string{"split": "train"})
	rec = plain.recordLists()
	if _, err := plain.sync(plain.db, 0); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plain.tasks(), "\n"); got != plain.uri("a.jpg") {
		t.Errorf("without the options, tasks = %s, want %s", got, plain.uri("a.jpg"))
	}
	// Tags are never asked for unless copied: they cost bytes on every page
	// and a permission of their own. (Metadata may still be asked for, to
	// tell Data Lake directories from files.)
	if q := rec.all(); q == "" || strings.Contains(q, "tags") {
		t.Errorf("without the options the listing asked %q, want no tags", q)
	}
}

// TestSyncByTagFilter: a tag filter lists through Find Blobs by Tags, and the prefix and regex still apply to the names it returns;
// the tags it returns are copied as asked. A Tasks-mode storage filtered
// the same way reads only the matching task files, whose tasks keep their
// own data.
func TestSyncByTagFilter(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) {
		s.Prefix, s.RecursiveScan, s.RegexFilter = "data", true, `.*\.jpg`
		s.TagFilter, s.TagKeys = `"split" = 'train'`, []string{"split"}
	})
	train, test := map[string]string{"split": "train"}, map[string]string{"split": "test"}
	for key, tags := range map[string]map[string]string{"data/a.jpg": train, "data/x/c.jpg": train, "data/b.jpg": test,
		"data/d.txt": train, "other/e.jpg": train} {
		f.putIndexed(key, nil, tags)
	}
	rec := f.recordLists()
	if _, err := f.sync(f.db, 0); err != nil {
		t.Fatal(err)
	}
	tagged := func(key string) string {
		return `{"$undefined$":"azure-blob://` + f.name + `/` + key + `","blob_tags":{"split":"train"}}`
	}
	if got, want := strings.Join(f.tasks(), "\n"), tagged("data/a.jpg")+"\n"+tagged("data/x/c.jpg"); got != want {
		t.Errorf("tasks =\n%s\nwant\n%s", got, want)
	}
	if q := rec.all(); !strings.Contains(q, "comp=blobs") || strings.Contains(q, "comp=list") {
		t.Errorf("listing requests %q: want Find Blobs by Tags only", q)
	}

	tasks := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.UseBlobURLs, s.TagFilter = false, `"split" = 'train'` })
	tasks.putIndexed("a.json", map[string]string{"camera": "c1"}, train)
	tasks.putIndexed("b.json", nil, test)
	if _, err := tasks.sync(tasks.db, 0); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tasks.tasks(), "\n"); got != `{"text":"own data"}` {
		t.Errorf("Tasks mode: tasks = %s, want only a.json's own data", got)
	}
}

// TestSyncTagFilterRefusedByAzure: an expression of the right shape that
// Azure cannot parse fails the sync with a final error naming tag_filter
// and Azure's reason, and imports nothing.
func TestSyncTagFilterRefusedByAzure(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.TagFilter = `"split" = 'train' AND` })
	f.putIndexed("a.jpg", nil, map[string]string{"split": "train"})
	s, err := f.sync(f.db, 0)
	var cancel *river.JobCancelError
	if !errors.As(err, &cancel) {
		t.Fatalf("sync error = %v, want a final one", err)
	}
	if s.State.Status != blobmark.StatusFailed || s.State.Traceback == nil || !strings.Contains(*s.State.Traceback, "tag_filter") {
		t.Fatalf("state %+v, want failed with a traceback naming tag_filter", s.State)
	}
	if n := len(f.tasks()); n != 0 {
		t.Errorf("%d tasks imported", n)
	}
}
