package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// BlobEvent is one blob change (see blobmark.BlobEvent).
type BlobEvent = blobmark.BlobEvent

// OrderKey is the value events of one key are ordered by. Azure's
// sequencer is a hex string that grows with every change of a blob; it is
// compared as a fixed-width number, so it is left-padded. Without one, the
// event time orders. The two kinds never compare with each other: see Newer.
func OrderKey(sequencer string, t time.Time) string {
	if s := strings.ToLower(strings.TrimSpace(sequencer)); s != "" && len(s) <= 64 {
		return "s" + strings.Repeat("0", 64-len(s)) + s
	}
	return fmt.Sprintf("t%020d", t.UnixNano())
}

// Newer reports whether an event of order key next may be applied after
// one of order key last: an equal key is the same event redelivered and is
// applied again (applying is idempotent), an older one is stale. Keys of
// different kinds (sequencer and time) cannot be compared, so the newer
// event wins.
func Newer(next, last string) bool {
	if last == "" || next == "" || next[0] != last[0] {
		return true
	}
	return next >= last
}

// Event types of Azure Blob Storage that blobmark acts on. The renames and
// directory events come from accounts with a hierarchical namespace (Data
// Lake Storage Gen2); DirectoryCreated is ignored, as an empty directory
// holds no task.
const (
	EventBlobCreated      = "Microsoft.Storage.BlobCreated"
	EventBlobDeleted      = "Microsoft.Storage.BlobDeleted"
	EventBlobRenamed      = "Microsoft.Storage.BlobRenamed"
	EventDirectoryDeleted = "Microsoft.Storage.DirectoryDeleted"
	EventDirectoryRenamed = "Microsoft.Storage.DirectoryRenamed"
	// EventSubscriptionValidation is Event Grid's handshake event.
	EventSubscriptionValidation = "Microsoft.EventGrid.SubscriptionValidationEvent"
)

// eventEnvelope holds the fields of both the Event Grid schema and the
// CloudEvents 1.0 schema that blobmark reads.
type eventEnvelope struct {
	ID        string          `json:"id"`
	EventType string          `json:"eventType"` // Event Grid schema
	Type      string          `json:"type"`      // CloudEvents
	Subject   string          `json:"subject"`
	EventTime string          `json:"eventTime"` // Event Grid schema
	Time      string          `json:"time"`      // CloudEvents
	Data      json.RawMessage `json:"data"`
}

type blobEventData struct {
	// API is the operation behind the event: CreateFile, FlushWithClose,
	// RenameFile, DeleteDirectory, … on a hierarchical namespace.
	API string `json:"api"`
	// SourceURL is where a renamed file or directory was.
	SourceURL      string `json:"sourceUrl"`
	ETag           string `json:"eTag"`
	ContentLength  int64  `json:"contentLength"`
	Sequencer      string `json:"sequencer"`
	URL            string `json:"url"`
	ValidationCode string `json:"validationCode"`
}

// ParsedEvents is what one delivery (an HTTP body or a queue message) holds.
type ParsedEvents struct {
	// ValidationCode is set when the delivery is Event Grid's subscription
	// validation handshake.
	ValidationCode string
	// Events are the blob events, in delivery order.
	Events []BlobEvent
	// Other counts events of types blobmark does not act on.
	Other int
}

// ParseEvents reads a delivery in the Event Grid schema or the CloudEvents
// 1.0 schema, as a single event or a batch (JSON array). A malformed body
// is an EINVALID error; events of other types are counted, not rejected.
func ParseEvents(body []byte) (ParsedEvents, error) {
	var out ParsedEvents
	trimmed := strings.TrimSpace(string(body))
	var envs []eventEnvelope
	var err error
	if strings.HasPrefix(trimmed, "[") {
		err = json.Unmarshal(body, &envs)
	} else {
		var one eventEnvelope
		err = json.Unmarshal(body, &one)
		envs = []eventEnvelope{one}
	}
	if err != nil {
		return out, blobmark.Errorf(blobmark.EINVALID, "the event delivery is not valid JSON: %v", err)
	}
	for _, e := range envs {
		typ := e.EventType
		if typ == "" {
			typ = e.Type
		}
		var d blobEventData
		if len(e.Data) > 0 && string(e.Data) != "null" {
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return out, blobmark.Errorf(blobmark.EINVALID, "event %q has invalid data: %v", e.ID, err)
			}
		}
		if typ == EventSubscriptionValidation {
			out.ValidationCode = d.ValidationCode
			continue
		}
		// A name ending in "/" is a flat account's folder marker, never a
		// task: its events change nothing, which leaves such a Key free to
		// mean a directory (isDirectoryKey).
		container, key, ok := splitSubject(e.Subject)
		if !ok || !actedOn(typ, d.API) || strings.HasSuffix(key, "/") {
			out.Other++
			continue
		}
		ts := e.EventTime
		if ts == "" {
			ts = e.Time
		}
		t, _ := time.Parse(time.RFC3339Nano, ts)
		ev := BlobEvent{ID: e.ID, Key: key, Container: container, Deleted: typ == EventBlobDeleted || typ == EventDirectoryDeleted,
			ETag: d.ETag, Size: d.ContentLength, Order: OrderKey(d.Sequencer, t), Time: t}
		directory := typ == EventDirectoryDeleted || typ == EventDirectoryRenamed
		if directory {
			ev.Key += "/"
		}
		if typ == EventBlobRenamed || typ == EventDirectoryRenamed {
			// A rename is the source's deletion and the destination's
			// creation; the source's event needs an id of its own, as
			// pending events are stored once per id.
			if src, ok := keyOfURL(d.SourceURL, container); ok {
				if directory {
					src += "/"
				}
				out.Events = append(out.Events, BlobEvent{ID: e.ID + "#source", Key: src, Container: container, Deleted: true,
					Order: ev.Order, Time: t})
			}
			ev.ETag, ev.Size = "", 0 // a rename event describes no content
		}
		out.Events = append(out.Events, ev)
	}
	return out, nil
}

// actedOn reports whether an event of type typ made by operation api
// changes what a storage's tasks should be. A BlobCreated of CreateFile
// announces a new, still empty file of a hierarchical namespace: its
// content arrives with the BlobCreated of FlushWithClose, which is the one
// that counts.
func actedOn(typ, api string) bool {
	switch typ {
	case EventBlobCreated:
		return api != "CreateFile"
	case EventBlobDeleted, EventBlobRenamed, EventDirectoryDeleted, EventDirectoryRenamed:
		return true
	}
	return false
}

// keyOfURL reads the blob name from the URL of a blob of container
// (https://account.<blob|dfs>.<suffix>/<container>/<key>), as a rename
// event's sourceUrl gives it.
func keyOfURL(raw, container string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	key, ok := strings.CutPrefix(u.Path, "/"+container+"/")
	return key, ok && key != "" && !strings.HasSuffix(key, "/")
}

// isDirectoryKey reports whether an event's key names a directory of a
// hierarchical namespace (it ends in "/", which no file's name does there):
// its deletion or rename concerns every blob under it.
func isDirectoryKey(key string) bool { return strings.HasSuffix(key, "/") }

// NeedsListing reports whether events hold a directory deletion or rename
// that touches src's scope: no event names the files such a directory held
// or now holds, so only a sync, which lists the container and reconciles,
// applies it (ApplyEvents skips directory keys). A deletion alone changes
// nothing for a storage that does not sync deletions.
func NeedsListing(src *Source, events []BlobEvent) bool {
	for _, e := range events {
		if !isDirectoryKey(e.Key) || e.Container != "" && e.Container != src.Container || e.Deleted && !src.SyncDeleted {
			continue
		}
		// The directory holds keys of the scope, or the scope lies in it.
		if strings.HasPrefix(src.Prefix, e.Key) || strings.HasPrefix(e.Key, src.Prefix) && src.Recursive {
			return true
		}
	}
	return false
}

// splitSubject reads "/blobServices/default/containers/C/blobs/KEY".
func splitSubject(subject string) (container, key string, ok bool) {
	const pre = "/blobServices/default/containers/"
	rest, found := strings.CutPrefix(subject, pre)
	if !found {
		return "", "", false
	}
	container, key, found = strings.Cut(rest, "/blobs/")
	if !found || container == "" || key == "" {
		return "", "", false
	}
	return container, key, true
}

// QueueMessage is one message received from a storage's event queue.
type QueueMessage struct {
	// ID and PopReceipt identify the message for Delete.
	ID, PopReceipt string
	// Text is the message content, base64-decoded when it was encoded (as
	// Event Grid encodes it); ParseEvents reads it.
	Text []byte
	// DequeueCount is how many times the message was received.
	DequeueCount int64
}

// EventQueue is a storage queue Event Grid delivers a storage's blob events
// to, for storages that cannot be called into. A message is deleted only
// after its events are applied: one left undeleted (a crash) is received
// again after its visibility timeout, and applying it again changes
// nothing. The Azure connector opens it (azureblob.SourceOpener).
type EventQueue interface {
	// Receive takes up to n messages, hiding them for visibility.
	Receive(ctx context.Context, n int, visibility time.Duration) ([]QueueMessage, error)
	// Delete removes a processed message.
	Delete(ctx context.Context, m QueueMessage) error
}

// Latest keeps, per key, the event that orders last (the later one of
// equals in delivery order), so a batch applies one change per key.
func Latest(events []BlobEvent) []BlobEvent {
	idx := map[string]int{}
	var out []BlobEvent
	for _, e := range events {
		i, ok := idx[e.Key]
		if !ok {
			idx[e.Key] = len(out)
			out = append(out, e)
			continue
		}
		if Newer(e.Order, out[i].Order) {
			out[i] = e
		}
	}
	return out
}

// ApplyEvents applies blob events to src exactly as a sync would for those
// keys: a created blob in scope becomes a task (Files mode) or its file is
// parsed into tasks (Tasks mode; with SyncChanged a changed file rewrites
// its unannotated tasks), through the same Sink and link table, so an event
// and a sync never both create a task for a key. A deleted blob applies the
// storage's deletion rule: with SyncDeleted its unannotated tasks are
// removed and annotated ones marked missing; without it nothing changes.
//
// Events must be one per key (see Latest) and already checked for order.
// Events of keys out of scope or of another container are skipped. A
// per-file problem (Tasks mode) is recorded in the returned Progress; sink
// errors and fatal download errors are returned and nothing after them is
// written.
func ApplyEvents(ctx context.Context, src *Source, opener Opener, sink Sink, events []BlobEvent) (Progress, error) {
	var p Progress
	if src == nil || sink == nil || (!src.UseBlobURLs && opener == nil) {
		return p, blobmark.Errorf(blobmark.EINTERNAL, "importer: ApplyEvents needs a source, a sink and, in Tasks mode, an opener")
	}
	run := *src
	run.fillDefaults()
	var keys []string
	var inScope []BlobEvent
	for _, e := range events {
		if (e.Container != "" && e.Container != run.Container) || !run.InScope(Object{Key: e.Key}) {
			p.KeysSkipped++
			continue
		}
		inScope = append(inScope, e)
		keys = append(keys, e.Key)
	}
	p.KeysListed = int64(len(events))
	if len(inScope) == 0 {
		return p, nil
	}
	sort.SliceStable(inScope, func(i, j int) bool { return inScope[i].Key < inScope[j].Key })
	links, err := sink.ExistingLinks(ctx, run.StorageID, keys)
	if err != nil {
		return p, err
	}
	b := &Batch{Generation: run.Generation}
	for _, e := range inScope {
		l := links[e.Key]
		if e.Deleted {
			if l == nil || !run.SyncDeleted {
				continue
			}
			for _, r := range l.Rows {
				switch {
				case !r.Annotated:
					b.Remove = append(b.Remove, r.TaskID)
				case !r.Missing:
					b.MarkMissing = append(b.MarkMissing, r.TaskID)
				}
			}
			continue
		}
		if l == nil && run.listedOnly() {
			p.KeysSkipped++ // the next sync creates its task, from the listing
			continue
		}
		o := Object{Key: e.Key, ETag: e.ETag, Size: e.Size}
		if l != nil {
			for _, r := range l.Rows {
				if r.Missing {
					b.Restore = append(b.Restore, r.TaskID)
				}
			}
			p.TasksExisted += int64(len(l.Rows))
			if !run.SyncChanged || !changed(l, o) {
				continue
			}
			if run.UseBlobURLs {
				b.Versions = append(b.Versions, LinkVersion{Key: o.Key, ETag: o.ETag, Size: o.Size})
				continue
			}
		} else if run.UseBlobURLs {
			b.Create = append(b.Create, NewTask{Key: o.Key, ETag: o.ETag, Size: o.Size, Task: FileTask(run.Container, o.Key)})
			continue
		}
		// Tasks mode: a new or changed task file is read now. The blob may
		// be gone already (a delete follows): that is a per-file problem.
		s := &syncer{src: &run, opener: opener, sink: sink}
		r := s.fetch(ctx, o)
		if r.err != nil {
			if !perFile(r.err) || ctx.Err() != nil {
				return p, errors.Join(r.err, ctx.Err())
			}
			p.FilesFailed++
			if len(p.Failures) < run.MaxFailures {
				p.Failures = append(p.Failures, Failure{Key: o.Key, Reason: blobmark.ErrorMessage(r.err)})
			}
			continue
		}
		p.FilesRead++
		s.apply(b, fileJob{obj: o, link: l}, r)
		p.TasksKept += s.p.TasksKept
		p.Failures = append(p.Failures, s.p.Failures...)
	}
	if b.empty() {
		return p, nil
	}
	res, err := sink.WriteBatch(ctx, run.StorageID, b)
	if err != nil {
		return p, err
	}
	p.TasksCreated += int64(res.Created)
	p.TasksUpdated += int64(res.Updated)
	p.TasksKept += int64(res.Kept)
	p.TasksRestored += int64(res.Restored)
	p.TasksMarkedMissing += int64(res.Marked)
	p.TasksRemoved += int64(res.Removed)
	return p, nil
}
