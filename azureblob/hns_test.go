package azureblob_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/listserver"
	"github.com/blobmark/blobmark/importer"
)

// createdKeys is an importer.Sink that stores nothing and records the keys
// a sync creates tasks for.
type createdKeys struct {
	mu   sync.Mutex
	keys []string
}

func (s *createdKeys) ExistingLinks(context.Context, int64, []string) (map[string]*importer.Link, error) {
	return map[string]*importer.Link{}, nil
}

func (s *createdKeys) WriteBatch(_ context.Context, _ int64, b *importer.Batch) (importer.BatchResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range b.Create {
		s.keys = append(s.keys, c.Key)
	}
	return importer.BatchResult{Created: len(b.Create)}, nil
}

func (s *createdKeys) StaleLinks(context.Context, int64, int64, string, int) ([]*importer.Link, error) {
	return nil, nil
}

// TestHierarchicalNamespaceDirectoriesAreNeverTasks syncs, in Files mode, a
// container that lists like a Data Lake Storage Gen2 account: its
// directories ("img", "img/000", …) are empty blobs without a trailing
// slash, known only by their hdi_isfolder metadata and ResourceType.
func TestHierarchicalNamespaceDirectoriesAreNeverTasks(t *testing.T) {
	srv := listserver.Start(12000, listserver.WithDirectories(), listserver.WithContainer("lake"))
	defer srv.Close()
	st := &blobmark.SourceStorage{Container: "lake", UseBlobURLs: true,
		Connection: blobmark.Connection{"auth_type": "anonymous", "endpoint": srv.URL + "/" + listserver.DefaultAccount}}
	opener := azureblob.SourceOpener{Connector: azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true})}

	for _, tc := range []struct {
		name      string
		prefix    string
		recursive bool
		want      int
	}{
		{"recursive", "", true, 12000},
		{"recursive under a directory", "img/001", true, 2000},
		{"one level", "img/000", false, 10000},
		{"one level above the files", "img", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st.Prefix, st.RecursiveScan = tc.prefix, tc.recursive
			src, err := importer.NewSource(1, importer.OptionsFor(st))
			if err != nil {
				t.Fatal(err)
			}
			c, err := opener.OpenSource(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			sink := &createdKeys{}
			if _, err := importer.Sync(context.Background(), src, c, c, sink, nil); err != nil {
				t.Fatal(err)
			}
			for _, k := range sink.keys {
				if !strings.HasSuffix(k, ".jpg") {
					t.Fatalf("directory %q became a task", k)
				}
			}
			if len(sink.keys) != tc.want {
				t.Fatalf("%d tasks, want %d", len(sink.keys), tc.want)
			}
		})
	}
}
