package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/media"
)

// Source ("import") storages, under /api/storages/azure/ and, for the
// service-principal flavour, /api/storages/azure_spi/, with Label Studio's
// paths, fields and statuses. Deleting a storage keeps the tasks it
// created, as Label Studio does; only its links go.

// defaultFilesPreview is how many keys a files preview returns by default.
const defaultFilesPreview = 100

// sourceKind is what the shared storage handlers (storage_kind.go) need
// to know of source storages.
func (s *Server) sourceKind() storageKind[blobmark.SourceStorage] {
	return storageKind[blobmark.SourceStorage]{
		s:      s,
		fields: sourceFields,
		blank: func() blobmark.SourceStorage {
			return blobmark.SourceStorage{Presign: true, PresignTTL: media.DefaultPresignTTLMinutes, Synchronizable: true}
		},
		apply: applySourceFields,
		check: func(r *http.Request, st *blobmark.SourceStorage) error {
			return s.checkStorage(r, sourceFields(st), "source", false)
		},
		validated: s.validateAnswer,
		byID:      s.sourceByID,
		// The store lists a project's storages of every type.
		list: func(ctx context.Context, projectID int64, typ string) ([]*blobmark.SourceStorage, error) {
			all, err := s.SourceStorages.FindSourceStorages(ctx, projectID)
			if err != nil || typ == "" {
				return all, err
			}
			var list []*blobmark.SourceStorage
			for _, st := range all {
				if st.Type == typ {
					list = append(list, st)
				}
			}
			return list, nil
		},
		create: func(st *blobmark.SourceStorage, _ map[string]json.RawMessage) (func(context.Context) error, error) {
			return func(ctx context.Context) error { return s.SourceStorages.CreateSourceStorage(ctx, st) }, nil
		},
		update: func(ctx context.Context, st *blobmark.SourceStorage) (*blobmark.SourceStorage, error) {
			return st, s.SourceStorages.UpdateSourceStorage(ctx, st)
		},
		delete: func(ctx context.Context, id int64) error { return s.SourceStorages.DeleteSourceStorage(ctx, id) },
		toJSON: sourceStorageJSON,
	}
}

// sourceFields points at a source storage's shared fields.
func sourceFields(st *blobmark.SourceStorage) storageFields {
	return storageFields{&st.ID, &st.ProjectID, &st.Type, &st.Title, &st.Description, &st.Container, &st.Prefix,
		&st.Organization, &st.Connection, &st.Secrets, &st.State, &st.CreatedAt}
}

// sourceStorageJSON is a storage as Label Studio shows it, plus blobmark's
// extension fields; secrets are never in it.
func sourceStorageJSON(st *blobmark.SourceStorage) map[string]any {
	out := sourceFields(st).json()
	out["regex_filter"] = st.RegexFilter
	out["use_blob_urls"] = st.UseBlobURLs
	out["presign"] = st.Presign
	out["presign_ttl"] = st.PresignTTL
	out["recursive_scan"] = st.RecursiveScan
	out["synchronizable"] = st.Synchronizable
	out["sync_changed"] = st.SyncChanged
	out["sync_deleted"] = st.SyncDeleted
	out["sync_interval_minutes"] = st.SyncIntervalMinutes
	out["metadata_keys"] = nonNil(st.MetadataKeys)
	out["tag_keys"] = nonNil(st.TagKeys)
	out["tag_filter"] = st.TagFilter
	out["task_count"] = st.TaskCount
	putEvents(out, st.Events)
	return out
}

// nonNil shows an unset list as [] rather than null.
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// putEvents adds the storage's event-driven sync state, read-only (it is
// changed at …/events/settings): whether it takes events, its counters and
// the time of the last event.
func putEvents(out map[string]any, ev *blobmark.StorageEvents) {
	if ev == nil {
		ev = &blobmark.StorageEvents{}
	}
	out["events_enabled"] = ev.Enabled
	out["events_received"] = ev.Received
	out["events_applied"] = ev.Applied
	out["events_ignored"] = ev.Ignored
	out["events_last_at"] = nil
	if ev.LastEventAt != nil {
		out["events_last_at"] = ev.LastEventAt.UTC().Format(time.RFC3339Nano)
	}
}

// applySourceFields sets the storage fields present in body on st and
// reports every type or value problem at once.
func applySourceFields(st *blobmark.SourceStorage, body map[string]json.RawMessage) error {
	v := validation{}
	sourceFields(st).apply(body, v)
	field(body, "regex_filter", &st.RegexFilter, v, "string")
	field(body, "use_blob_urls", &st.UseBlobURLs, v, "boolean")
	field(body, "presign", &st.Presign, v, "boolean")
	if field(body, "presign_ttl", &st.PresignTTL, v, "integer") {
		if err := media.ValidateTTL(st.PresignTTL); err != nil {
			v.add("presign_ttl", "%s", blobmark.ErrorMessage(err))
		}
	}
	field(body, "recursive_scan", &st.RecursiveScan, v, "boolean")
	field(body, "synchronizable", &st.Synchronizable, v, "boolean")
	field(body, "sync_changed", &st.SyncChanged, v, "boolean")
	field(body, "sync_deleted", &st.SyncDeleted, v, "boolean")
	if field(body, "sync_interval_minutes", &st.SyncIntervalMinutes, v, "integer") {
		if err := blobmark.CheckIntervalMinutes("sync_interval_minutes", st.SyncIntervalMinutes); err != nil {
			v.add("sync_interval_minutes", "%s", blobmark.ErrorMessage(err))
		}
	}
	field(body, "metadata_keys", &st.MetadataKeys, v, "list of strings")
	field(body, "tag_keys", &st.TagKeys, v, "list of strings")
	field(body, "tag_filter", &st.TagFilter, v, "string")
	if err := v.err(); err != nil {
		return err
	}
	// The sync engine's own rules (container required, the regex compiles
	// under RE2), so an invalid regex is a 400 now, not a failed sync later.
	return importer.OptionsFor(st).Validate()
}

// findSource returns the source storage of the path's id if it has the
// route's type and the user may reach its project.
func (s *Server) findSource(r *http.Request) (*blobmark.SourceStorage, error) {
	return s.sourceKind().find(r)
}

// handleSourceStorageFiles previews the first keys a storage would import,
// with size and last-modified, before it is saved.
func (s *Server) handleSourceStorageFiles(w http.ResponseWriter, r *http.Request) {
	body, st, err := s.sourceKind().fromRequest(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit := defaultFilesPreview
	v := validation{}
	if field(body, "limit", &limit, v, "integer") && (limit < 1 || limit > 1000) {
		v.add("limit", "Ensure this value is between 1 and 1000.")
	}
	if err := v.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.StorageFiles == nil {
		s.writeError(w, r, blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "File previews are not configured on this server."))
		return
	}
	files, err := s.StorageFiles.ListStorageFiles(r.Context(), blobmark.StorageFileQuery{Organization: st.Organization, Connection: st.Connection, Secrets: st.Secrets,
		Container: st.Container, Prefix: st.Prefix, RegexFilter: st.RegexFilter, RecursiveScan: st.RecursiveScan, TagFilter: st.TagFilter, Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
}

// handleSyncSourceStorage queues a sync; while one is queued or running it
// returns the storage as it is, without a second job.
func (s *Server) handleSyncSourceStorage(w http.ResponseWriter, r *http.Request) {
	s.sourceKind().serveAction(w, r, s.SourceStorages.RequestSourceSync)
}

// handleCancelSourceStorage asks the queued or running sync to stop (a
// blobmark extension); the storage then reports failed with a traceback
// saying it was cancelled, and the tasks created so far stay.
func (s *Server) handleCancelSourceStorage(w http.ResponseWriter, r *http.Request) {
	s.sourceKind().serveAction(w, r, s.SourceStorages.CancelSourceSync)
}

// sourceStorageRoutes are the source storage routes, for routes(): the
// shared storage handlers (GET /api/storages/?project= lists every type),
// and the files preview, sync, cancel and CORS rule (with StorageCORS),
// under /api/storages/azure/ and /api/storages/azure_spi/, with literal
// paths so they never overlap the export storage routes.
func (s *Server) sourceStorageRoutes() []route {
	own := []route{
		{"POST /files", s.handleSourceStorageFiles, storages},
		{"POST /{id}/sync", s.handleSyncSourceStorage, storages},
		{"POST /{id}/cancel", s.handleCancelSourceStorage, storages},
	}
	if s.StorageCORS != nil {
		own = append(own, route{"POST /{id}/cors", s.handleAddStorageCORSRule, storages})
	}
	return s.sourceKind().routes("/api/storages", "/{$}", own...)
}
