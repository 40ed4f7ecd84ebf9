package httpapi

import (
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
)

// Source ("import") storages, under /api/storages/azure/ and, for the
// service-principal flavour, /api/storages/azure_spi/, with Label Studio's
// paths, fields and statuses. Deleting a storage keeps the tasks it
// created, as Label Studio does; only its links go.

// defaultPresignTTL is the presigned URL lifetime, in minutes, of a storage
// that does not set one (Label Studio's 1 minute is too short for slow
// media and is one of the defects blobmark fixes).
const defaultPresignTTL = 15

// defaultFilesPreview is how many keys a files preview returns by default.
const defaultFilesPreview = 100

// storageType returns the storage type a route serves.
func storageType(r *http.Request) string {
	if t := r.PathValue("type"); t == blobmark.StorageTypeAzureSPI {
		return t
	}
	return blobmark.StorageTypeAzure
}

// sourceStorageJSON is a storage as Label Studio shows it, plus blobmark's
// extension fields; secrets are never in it.
func sourceStorageJSON(st *blobmark.SourceStorage) map[string]any {
	out := map[string]any{
		"id":                    st.ID,
		"type":                  st.Type,
		"project":               st.ProjectID,
		"title":                 st.Title,
		"description":           st.Description,
		"container":             st.Container,
		"prefix":                st.Prefix,
		"regex_filter":          st.RegexFilter,
		"use_blob_urls":         st.UseBlobURLs,
		"presign":               st.Presign,
		"presign_ttl":           st.PresignTTL,
		"recursive_scan":        st.RecursiveScan,
		"synchronizable":        st.Synchronizable,
		"sync_changed":          st.SyncChanged,
		"sync_deleted":          st.SyncDeleted,
		"sync_interval_minutes": st.SyncIntervalMinutes,
		"created_at":            st.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z"),
	}
	putConnection(out, st.Connection)
	putState(out, st.State)
	putEvents(out, st.Events)
	return out
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
	var title, description *string
	field(body, "title", &title, v, "string")
	if title != nil {
		if utf8.RuneCountInString(*title) > 2048 {
			v.add("title", "Ensure this field has no more than 2048 characters.")
		}
		st.Title = *title
	}
	if field(body, "description", &description, v, "string") {
		st.Description = *description
	}
	field(body, "container", &st.Container, v, "string")
	field(body, "prefix", &st.Prefix, v, "string")
	field(body, "regex_filter", &st.RegexFilter, v, "string")
	field(body, "use_blob_urls", &st.UseBlobURLs, v, "boolean")
	field(body, "presign", &st.Presign, v, "boolean")
	if field(body, "presign_ttl", &st.PresignTTL, v, "integer") && (st.PresignTTL < 1 || st.PresignTTL > 32767) {
		v.add("presign_ttl", "Ensure this value is between 1 and 32767 (minutes).")
	}
	field(body, "recursive_scan", &st.RecursiveScan, v, "boolean")
	field(body, "synchronizable", &st.Synchronizable, v, "boolean")
	field(body, "sync_changed", &st.SyncChanged, v, "boolean")
	field(body, "sync_deleted", &st.SyncDeleted, v, "boolean")
	if field(body, "sync_interval_minutes", &st.SyncIntervalMinutes, v, "integer") && st.SyncIntervalMinutes < 0 {
		v.add("sync_interval_minutes", "Ensure this value is 0 (no schedule) or more.")
	}
	if err := v.err(); err != nil {
		return err
	}
	// The sync engine's own rules (container required, the regex compiles
	// under RE2), so an invalid regex is a 400 now, not a failed sync later.
	return importer.Options{Container: st.Container, Prefix: st.Prefix, RegexFilter: st.RegexFilter}.Validate()
}

// sourceFromBody builds the storage a create, validate or files body
// describes; with an "id" (validate) it starts from that stored storage,
// as a PATCH would.
func (s *Server) sourceFromBody(r *http.Request, body map[string]json.RawMessage, base *blobmark.SourceStorage) (*blobmark.SourceStorage, error) {
	st := &blobmark.SourceStorage{Type: storageType(r), Presign: true, PresignTTL: defaultPresignTTL, Synchronizable: true,
		Connection: blobmark.Connection{}, Secrets: blobmark.Connection{}}
	if base != nil {
		cp := *base
		st = &cp
	}
	conn, err := decodeConnection(body)
	if err != nil {
		return nil, err
	}
	if err := applySourceFields(st, body); err != nil {
		return nil, err
	}
	st.Connection, st.Secrets = mergeConnection(st.Connection, st.Secrets, conn)
	if st.Type == blobmark.StorageTypeAzureSPI && st.Connection["auth_type"] == "" {
		st.Connection["auth_type"] = "service_principal"
	}
	return st, nil
}

// checkSource tests the storage's connection for a sync, answering with the
// fields to fix.
func (s *Server) checkSource(r *http.Request, st *blobmark.SourceStorage) error {
	if s.StorageChecker == nil {
		return nil
	}
	return s.StorageChecker.CheckStorage(r.Context(), st.Connection, st.Secrets, st.Container, st.Prefix, "source", false)
}

// findSource returns the storage of the path's id if it has the path's type
// and the user may reach its project.
func (s *Server) findSource(r *http.Request) (*blobmark.SourceStorage, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	st, err := s.sourceByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if st.Type != storageType(r) {
		return nil, notFound()
	}
	return st, nil
}

func (s *Server) handleListSourceStorages(w http.ResponseWriter, r *http.Request) {
	projectID, err := s.projectQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.SourceStorages.FindSourceStorages(r.Context(), projectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, st := range list {
		if st.Type == storageType(r) {
			out = append(out, sourceStorageJSON(st))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCreateSourceStorage(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.sourceFromBody(r, body, nil)
	if err == nil {
		st.ProjectID, err = s.projectField(r, body, true)
	}
	if err == nil {
		err = s.checkSource(r, st)
	}
	if err == nil {
		err = s.SourceStorages.CreateSourceStorage(r.Context(), st)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sourceStorageJSON(st))
}

func (s *Server) handleGetSourceStorage(w http.ResponseWriter, r *http.Request) {
	st, err := s.findSource(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sourceStorageJSON(st))
}

func (s *Server) handleUpdateSourceStorage(w http.ResponseWriter, r *http.Request) {
	old, err := s.findSource(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.sourceFromBody(r, body, old)
	if err == nil {
		err = s.checkSource(r, st)
	}
	if err == nil {
		err = s.SourceStorages.UpdateSourceStorage(r.Context(), st)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sourceStorageJSON(st))
}

func (s *Server) handleDeleteSourceStorage(w http.ResponseWriter, r *http.Request) {
	st, err := s.findSource(r)
	if err == nil {
		err = s.SourceStorages.DeleteSourceStorage(r.Context(), st.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleValidateSourceStorage checks a storage without saving it. With an
// "id" the body is applied to that storage as a PATCH would, so stored
// secrets need not be sent again.
func (s *Server) handleValidateSourceStorage(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	base, err := s.sourceBase(r, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.sourceFromBody(r, body, base)
	if err == nil {
		err = s.checkSource(r, st)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleSourceStorageFiles previews the first keys a storage would import,
// with size and last-modified, before it is saved.
func (s *Server) handleSourceStorageFiles(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	base, err := s.sourceBase(r, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.sourceFromBody(r, body, base)
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
	files, err := s.StorageFiles.ListStorageFiles(r.Context(), blobmark.StorageFileQuery{Connection: st.Connection, Secrets: st.Secrets,
		Container: st.Container, Prefix: st.Prefix, RegexFilter: st.RegexFilter, RecursiveScan: st.RecursiveScan, Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
}

// handleSyncSourceStorage queues a sync; while one is queued or running it
// returns the storage as it is, without a second job.
func (s *Server) handleSyncSourceStorage(w http.ResponseWriter, r *http.Request) {
	st, err := s.findSource(r)
	if err == nil {
		st, err = s.SourceStorages.RequestSourceSync(r.Context(), st.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sourceStorageJSON(st))
}

// handleCancelSourceStorage asks the queued or running sync to stop (a
// blobmark extension); the storage then reports failed with a traceback
// saying it was cancelled, and the tasks created so far stay.
func (s *Server) handleCancelSourceStorage(w http.ResponseWriter, r *http.Request) {
	st, err := s.findSource(r)
	if err == nil {
		st, err = s.SourceStorages.CancelSourceSync(r.Context(), st.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sourceStorageJSON(st))
}

// handleListAllSourceStorages is GET /api/storages/?project=: every source
// storage of the project, each with its type.
func (s *Server) handleListAllSourceStorages(w http.ResponseWriter, r *http.Request) {
	projectID, err := s.projectQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.SourceStorages.FindSourceStorages(r.Context(), projectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, st := range list {
		out = append(out, sourceStorageJSON(st))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleSourceStorageTypes is GET /api/storages/types.
func (s *Server) handleSourceStorageTypes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []map[string]string{
		{"name": blobmark.StorageTypeAzure, "title": "Microsoft Azure"},
		{"name": blobmark.StorageTypeAzureSPI, "title": "Microsoft Azure (service principal)"},
	})
}

// sourceStorageRoutes are the source storage routes, for routes(): the
// same handlers under /api/storages/azure/ and /api/storages/azure_spi/,
// with literal paths so they never overlap the export storage routes.
func (s *Server) sourceStorageRoutes() []route {
	out := []route{
		{"GET /api/storages/{$}", s.handleListAllSourceStorages, authenticated},
		{"GET /api/storages/types", s.handleSourceStorageTypes, authenticated},
	}
	for _, t := range []string{blobmark.StorageTypeAzure, blobmark.StorageTypeAzureSPI} {
		base := "/api/storages/" + t
		typed := func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				r.SetPathValue("type", t)
				h(w, r)
			}
		}
		out = append(out,
			route{"GET " + base + "/{$}", typed(s.handleListSourceStorages), authenticated},
			route{"POST " + base + "/{$}", typed(s.handleCreateSourceStorage), authenticated},
			route{"POST " + base + "/validate", typed(s.handleValidateSourceStorage), authenticated},
			route{"POST " + base + "/files", typed(s.handleSourceStorageFiles), authenticated},
			route{"GET " + base + "/{id}", typed(s.handleGetSourceStorage), authenticated},
			route{"PATCH " + base + "/{id}", typed(s.handleUpdateSourceStorage), authenticated},
			route{"DELETE " + base + "/{id}", typed(s.handleDeleteSourceStorage), authenticated},
			route{"POST " + base + "/{id}/sync", typed(s.handleSyncSourceStorage), authenticated},
			route{"POST " + base + "/{id}/cancel", typed(s.handleCancelSourceStorage), authenticated},
		)
	}
	return out
}
