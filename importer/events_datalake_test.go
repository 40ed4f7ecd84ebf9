package importer

import (
	"fmt"
	"strings"
	"testing"
)

// lakeEvent is an Event Grid event of an account with a hierarchical
// namespace, as Azure's published schema shows it: the subject names the
// path (the destination of a rename), data.api the operation.
func lakeEvent(id, typ, api, path, sourcePath string, seq int) string {
	source := ""
	if sourcePath != "" {
		source = fmt.Sprintf(`,"sourceUrl":"https://acct.dfs.core.windows.net/lake/%s","destinationUrl":"https://acct.dfs.core.windows.net/lake/%s"`, sourcePath, path)
	}
	return fmt.Sprintf(`{"id":%q,"eventType":"Microsoft.Storage.%s","subject":"/blobServices/default/containers/lake/blobs/%s",
		"eventTime":"2025-01-01T00:00:00Z","data":{"api":%q,"eTag":"0x1","contentLength":3,"sequencer":"%016x","url":"https://acct.dfs.core.windows.net/lake/%s"%s},
		"dataVersion":"","metadataVersion":"1"}`, id, typ, path, api, seq, path, source)
}

// describe renders events as "key+" (created) or "key-" (deleted) with their ids.
func describe(events []BlobEvent) string {
	var out []string
	for _, e := range events {
		sign := "+"
		if e.Deleted {
			sign = "-"
		}
		out = append(out, e.ID+":"+e.Key+sign)
	}
	return strings.Join(out, " ")
}

func TestParseDataLakeEvents(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		other            int
	}{
		{"a new empty file waits for its content", lakeEvent("e1", "BlobCreated", "CreateFile", "d/a.png", "", 1), "", 1},
		{"flushed and closed, the file is created", lakeEvent("e2", "BlobCreated", "FlushWithClose", "d/a.png", "", 2), "e2:d/a.png+", 0},
		{"a blob API write still counts", lakeEvent("e3", "BlobCreated", "PutBlob", "d/a.png", "", 3), "e3:d/a.png+", 0},
		{"DeleteFile deletes", lakeEvent("e4", "BlobDeleted", "DeleteFile", "d/a.png", "", 4), "e4:d/a.png-", 0},
		{"a new directory holds nothing", lakeEvent("e5", "DirectoryCreated", "CreateDirectory", "d/sub", "", 5), "", 1},
		{"a deleted directory deletes what is under it", lakeEvent("e6", "DirectoryDeleted", "DeleteDirectory", "d/sub", "", 6), "e6:d/sub/-", 0},
		{"a renamed file", lakeEvent("e7", "BlobRenamed", "RenameFile", "d/b.png", "d/a.png", 7), "e7#source:d/a.png- e7:d/b.png+", 0},
		{"a renamed directory", lakeEvent("e8", "DirectoryRenamed", "RenameDirectory", "d/new", "d/old", 8), "e8#source:d/old/- e8:d/new/+", 0},
		{"a flat account's folder marker is no directory", lakeEvent("e9", "BlobCreated", "PutBlob", "d/marker/", "", 9), "", 1},
		{"nor is its deletion", lakeEvent("e10", "BlobDeleted", "DeleteBlob", "d/marker/", "", 10), "", 1},
	} {
		p, err := ParseEvents([]byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := describe(p.Events); got != tc.want || p.Other != tc.other {
			t.Errorf("%s: events %q, other %d; want %q, %d", tc.name, got, p.Other, tc.want, tc.other)
		}
	}
}

func TestDirectoryEventsNeedAListingOnlyInScope(t *testing.T) {
	deleted := BlobEvent{Container: "lake", Key: "d/sub/", Deleted: true}
	created := BlobEvent{Container: "lake", Key: "d/new/"}
	file := BlobEvent{Container: "lake", Key: "d/a.png", Deleted: true}
	for _, tc := range []struct {
		name        string
		prefix      string
		recursive   bool
		syncDeleted bool
		events      []BlobEvent
		want        bool
	}{
		{"deleted under a recursive scope", "d", true, true, []BlobEvent{deleted}, true},
		{"deleted above the scope", "d/sub/deeper", false, true, []BlobEvent{deleted}, true},
		{"deleted without syncing deletions", "d", true, false, []BlobEvent{deleted}, false},
		{"deleted deeper than a one-level scope", "d", false, true, []BlobEvent{deleted}, false},
		{"deleted beside the scope", "e", true, true, []BlobEvent{deleted}, false},
		{"renamed into the scope", "d", true, false, []BlobEvent{created}, true},
		{"files only", "d", true, true, []BlobEvent{file}, false},
		{"another container", "d", true, true, []BlobEvent{{Container: "other", Key: "d/sub/", Deleted: true}}, false},
	} {
		src, err := NewSource(1, Options{Container: "lake", Prefix: tc.prefix, Recursive: tc.recursive, UseBlobURLs: true, SyncDeleted: tc.syncDeleted})
		if err != nil {
			t.Fatal(err)
		}
		if got := NeedsListing(src, tc.events); got != tc.want {
			t.Errorf("%s: NeedsListing = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestApplyEventsLeavesDirectoriesToTheListing(t *testing.T) {
	src, err := NewSource(1, Options{Container: "lake", Recursive: true, UseBlobURLs: true, SyncDeleted: true})
	if err != nil {
		t.Fatal(err)
	}
	sink := newSink()
	created, err := ParseEvents([]byte(lakeEvent("e0", "BlobCreated", "FlushWithClose", "d/a.png", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyEvents(t.Context(), src, nil, sink, created.Events); err != nil || sink.links["d/a.png"] == nil {
		t.Fatalf("created: %v, links %v", err, sink.links)
	}
	p, err := ParseEvents([]byte("[" + lakeEvent("e1", "DirectoryRenamed", "RenameDirectory", "d/new", "d/old", 2) + "," +
		lakeEvent("e2", "BlobRenamed", "RenameFile", "d/b.png", "d/a.png", 3) + "]"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyEvents(t.Context(), src, nil, sink, Latest(p.Events)); err != nil {
		t.Fatal(err)
	}
	if len(sink.tasks) != 1 || sink.links["d/b.png"] == nil || len(sink.links["d/a.png"]) != 0 {
		t.Fatalf("tasks %d, links %v: want the renamed file's task only", len(sink.tasks), sink.links)
	}
}
