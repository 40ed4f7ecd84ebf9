package jobs_test

import (
	"fmt"
	"testing"

	"github.com/blobmark/blobmark"
)

// lakeEvent is an Event Grid event of an account with a hierarchical
// namespace (Data Lake Storage Gen2), as Azure's published schema shows
// it: the subject names the path (a rename's destination), data.api the
// operation, data.sourceUrl a rename's source.
func lakeEvent(id, typ, api, container, path, sourcePath string, seq int) string {
	source := ""
	if sourcePath != "" {
		source = fmt.Sprintf(`,"sourceUrl":"https://acct.dfs.core.windows.net/%s/%s","destinationUrl":"https://acct.dfs.core.windows.net/%s/%s"`,
			container, sourcePath, container, path)
	}
	return fmt.Sprintf(`{"id":%q,"eventType":"Microsoft.Storage.%s","subject":"/blobServices/default/containers/%s/blobs/%s",
		"eventTime":"2025-01-01T00:00:00Z","data":{"api":%q,"eTag":"0x1","contentLength":3,"sequencer":"%016x"%s},"dataVersion":"","metadataVersion":"1"}`,
		id, typ, container, path, api, seq, source)
}

func TestDataLakeFileEvents(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.RecursiveScan, s.SyncDeleted = true, true })
	c := f.name
	// A new file is announced empty (CreateFile); it counts once flushed and closed.
	f.push(lakeEvent("e1", "BlobCreated", "CreateFile", c, "d/a.png", "", 1))
	f.wantTasks()
	f.push(lakeEvent("e2", "BlobCreated", "FlushWithClose", c, "d/a.png", "", 2))
	f.wantTasks("d/a.png")
	// A renamed file moves its task; a new directory changes nothing.
	f.push("[" + lakeEvent("e3", "BlobRenamed", "RenameFile", c, "d/b.png", "d/a.png", 3) + "," +
		lakeEvent("e4", "DirectoryCreated", "CreateDirectory", c, "d/empty", "", 4) + "]")
	f.wantTasks("d/b.png")
	// DeleteFile deletes.
	f.push(lakeEvent("e5", "BlobDeleted", "DeleteFile", c, "d/b.png", "", 5))
	f.wantTasks()
}

func TestDataLakeDirectoryEventsReconcileByListing(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.RecursiveScan, s.SyncDeleted = true, true })
	c := f.name
	for _, k := range []string{"d/sub/a.png", "d/sub/deeper/b.png", "d/c.png"} {
		f.put(k, "x")
	}
	if _, err := f.sync(f.db, 0); err != nil {
		t.Fatal(err)
	}
	f.wantTasks("d/c.png", "d/sub/a.png", "d/sub/deeper/b.png")

	// The directory goes, recursively: its event names none of its files,
	// so it requests a sync, whose reconcile removes their tasks.
	f.del("d/sub/a.png")
	f.del("d/sub/deeper/b.png")
	f.push(lakeEvent("e1", "DirectoryDeleted", "DeleteDirectory", c, "d/sub", "", 10))
	st, err := f.db.FindSourceStorageByID(t.Context(), f.storage.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State.Status != blobmark.StatusQueued {
		t.Fatalf("after a deleted directory the storage is %q, want a queued sync", st.State.Status)
	}
	if _, err := f.sync(f.db, 0); err != nil {
		t.Fatal(err)
	}
	f.wantTasks("d/c.png")

	// A renamed directory: its old tasks go and its files come back under the new name.
	f.put("d/new/x.png", "x")
	f.del("d/c.png")
	f.push(lakeEvent("e2", "DirectoryRenamed", "RenameDirectory", c, "d/new", "d/old", 11))
	if st, err = f.db.FindSourceStorageByID(t.Context(), f.storage.ID); err != nil || st.State.Status != blobmark.StatusQueued {
		t.Fatalf("after a renamed directory: %v, status %q", err, st.State.Status)
	}
	if _, err := f.sync(f.db, 0); err != nil {
		t.Fatal(err)
	}
	f.wantTasks("d/new/x.png")
}
