package jobs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/jobs"
	"github.com/riverqueue/river"
)

// gridEvent is one blob event in the Event Grid schema.
func gridEvent(id, typ, container, key string, seq int) string {
	return fmt.Sprintf(`{"id":%q,"eventType":"Microsoft.Storage.%s","subject":"/blobServices/default/containers/%s/blobs/%s",
		"eventTime":"2025-01-01T00:00:00Z","data":{"eTag":"0x1","contentLength":3,"sequencer":"%016x"},"dataVersion":"","metadataVersion":"1"}`,
		id, typ, container, key, seq)
}

// cloudEvent is one blob event in the CloudEvents 1.0 schema.
func cloudEvent(id, typ, container, key string, seq int) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":"Microsoft.Storage.%s","source":"/subscriptions/x",
		"subject":"/blobServices/default/containers/%s/blobs/%s","time":"2025-01-01T00:00:00Z","data":{"eTag":"0x1","contentLength":3,"sequencer":"%016x"}}`,
		id, typ, container, key, seq)
}

// push persists a delivery as the webhook does and works the processing job.
func (f *syncFixture) push(body string) {
	f.t.Helper()
	parsed, err := importer.ParseEvents([]byte(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.AcceptStorageEvents(f.t.Context(), f.storage.ID, parsed.Events); err != nil {
		f.t.Fatal(err)
	}
	w := &jobs.ProcessStorageEventsWorker{Store: f.db, Source: azureblob.SourceOpener{Connector: f.conn}}
	if err := w.Work(f.t.Context(), &river.Job[blobmark.ProcessStorageEventsJob]{JobRow: jobRow(1),
		Args: blobmark.ProcessStorageEventsJob{StorageID: f.storage.ID}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *syncFixture) wantTasks(keys ...string) {
	f.t.Helper()
	var want []string
	for _, k := range keys {
		want = append(want, f.uri(k))
	}
	if got := f.tasks(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		f.t.Fatalf("tasks\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPushedEventsCreateAndDeleteTasksInScope(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) {
		s.Prefix, s.RegexFilter, s.SyncDeleted = "in", `.*\.png`, true
	})
	if _, err := f.db.ConfigureStorageEvents(t.Context(), f.storage.ID, true, false, nil); err != nil {
		t.Fatal(err)
	}
	c := f.name
	// An Event Grid batch: two keys in scope, one outside the prefix, one
	// that the regex refuses, one deeper than a non-recursive storage takes,
	// and one of another container.
	f.push("[" + strings.Join([]string{
		gridEvent("e1", "BlobCreated", c, "in/a.png", 1),
		gridEvent("e2", "BlobCreated", c, "in/b.png", 2),
		gridEvent("e3", "BlobCreated", c, "out/c.png", 3),
		gridEvent("e4", "BlobCreated", c, "in/d.txt", 4),
		gridEvent("e5", "BlobCreated", c, "in/deep/e.png", 5),
		gridEvent("e6", "BlobCreated", "other", "in/f.png", 6),
	}, ",") + "]")
	f.wantTasks("in/a.png", "in/b.png")

	// A single CloudEvent deletes one.
	f.push(cloudEvent("e7", "BlobDeleted", c, "in/a.png", 7))
	f.wantTasks("in/b.png")

	// A CloudEvents batch creates another.
	f.push("[" + cloudEvent("e8", "BlobCreated", c, "in/g.png", 8) + "]")
	f.wantTasks("in/b.png", "in/g.png")

	// Redelivery of an applied event creates nothing new.
	f.push(gridEvent("e2", "BlobCreated", c, "in/b.png", 2))
	f.push(gridEvent("e2", "BlobCreated", c, "in/b.png", 2))
	f.wantTasks("in/b.png", "in/g.png")

	ev, err := f.db.FindStorageEvents(t.Context(), f.storage.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Received != 10 || ev.LastEventAt == nil {
		t.Fatalf("counters: %+v", ev)
	}
}

func TestEventOrderConverges(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.SyncDeleted = true })
	c := f.name
	// Delete (sequencer 5) arrives before the create it follows (3): the
	// stale create is ignored.
	f.push(gridEvent("d5", "BlobDeleted", c, "k.png", 5))
	f.push(gridEvent("c3", "BlobCreated", c, "k.png", 3))
	f.wantTasks()
	// Create then delete in one batch, delivered in reverse order.
	f.push("[" + gridEvent("d8", "BlobDeleted", c, "m.png", 8) + "," + gridEvent("c7", "BlobCreated", c, "m.png", 7) + "]")
	f.wantTasks()
	// Create after delete, in order: the blob is back.
	f.push(gridEvent("c9", "BlobCreated", c, "k.png", 9))
	f.wantTasks("k.png")
	// Delete after create, in order.
	f.push(gridEvent("d10", "BlobDeleted", c, "k.png", 10))
	f.wantTasks()
	// A sequencer of another width compares as a number.
	f.push(strings.Replace(gridEvent("c11", "BlobCreated", c, "k.png", 0), `"0000000000000000"`, `"00000000000000000000000b"`, 1))
	f.wantTasks("k.png")
}

func TestEventsAndSyncNeverDuplicate(t *testing.T) {
	f := newSyncFixture(t, nil)
	f.put("a.png", "abc")
	f.push(gridEvent("e1", "BlobCreated", f.name, "a.png", 1))
	f.wantTasks("a.png")
	if _, err := f.sync(f.db, 0); err != nil {
		t.Fatal(err)
	}
	f.put("b.png", "abc")
	if _, err := f.sync(f.db, 0); err != nil {
		t.Fatal(err)
	}
	f.push(gridEvent("e2", "BlobCreated", f.name, "b.png", 2))
	f.wantTasks("a.png", "b.png")
}

func TestTasksModeEventParsesTheFile(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.UseBlobURLs = false })
	f.put("t.json", `[{"data":{"text":"one"}},{"data":{"text":"two"}}]`)
	f.push(gridEvent("e1", "BlobCreated", f.name, "t.json", 1))
	f.push(gridEvent("e1", "BlobCreated", f.name, "t.json", 1))
	got := f.tasks()
	if len(got) != 2 || !strings.Contains(got[0], "one") || !strings.Contains(got[1], "two") {
		t.Fatalf("tasks %v", got)
	}
}

func TestQueueEventsWithManagedIdentitySurviveACrash(t *testing.T) {
	env := azuretest.Start(t)
	qEndpoint := env.QueueEndpoint(t)
	mi := env.ManagedIdentityConfig("client_id")
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) {
		s.Connection = blobmark.Connection{"auth_type": string(mi.AuthType), "endpoint": mi.Endpoint,
			"managed_identity_client_id": mi.ManagedIdentityClientID}
		s.Secrets = blobmark.Secrets{}
	})
	// The operator lists the queue service's endpoint too: a host identity
	// is pinned on the queue's own destination.
	opts := env.Options()
	opts.ServerIdentityAllow = append(opts.ServerIdentityAllow, qEndpoint+"*")
	f.conn = azureblob.NewConnector(opts)
	ctx := t.Context()
	queueURL := qEndpoint + "events" + strings.ToLower(azuretest.NewGUID()[:8])
	if _, err := f.db.ConfigureStorageEvents(ctx, f.storage.ID, true, false, &queueURL); err != nil {
		t.Fatal(err)
	}
	// Event Grid's side: the account key writes the messages.
	admin, err := f.conn.Queue(ctx, env.AccountKeyConfig(), queueURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx); err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"q1.png", "q2.png"} {
		if err := admin.Send(ctx, []byte(gridEvent(fmt.Sprint("q", i), "BlobCreated", f.name, k, i+1))); err != nil {
			t.Fatal(err)
		}
	}
	before := env.Count("mi")
	crash := errors.New("process killed before deleting its messages")
	job := &river.Job[blobmark.PollStorageQueueJob]{JobRow: jobRow(1), Args: blobmark.PollStorageQueueJob{StorageID: f.storage.ID}}
	crashing := &jobs.PollStorageQueueWorker{Store: f.db, Source: azureblob.SourceOpener{Connector: f.conn}, Visibility: time.Second,
		BeforeDelete: func() error { return crash }}
	if err := crashing.Work(ctx, job); !errors.Is(err, crash) {
		t.Fatalf("crashing poll: %v", err)
	}
	f.wantTasks("q1.png", "q2.png")

	// After the visibility timeout the messages come back; the next poll
	// applies them again (nothing new) and deletes them.
	w := &jobs.PollStorageQueueWorker{Store: f.db, Source: azureblob.SourceOpener{Connector: f.conn}, Visibility: time.Second}
	for {
		if err := w.Work(ctx, job); err != nil {
			t.Fatal(err)
		}
		ev, err := f.db.FindStorageEvents(ctx, f.storage.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Received == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("messages never came back")
		case <-time.After(200 * time.Millisecond):
		}
	}
	f.wantTasks("q1.png", "q2.png")
	msgs, err := admin.Receive(ctx, 32, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 0 {
		t.Fatalf("%d messages left in the queue", len(msgs))
	}
	if env.Count("mi") == before {
		t.Fatal("the managed identity endpoint was never asked for a token")
	}
}
