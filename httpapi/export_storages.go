package httpapi

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// Target ("export") storages, under /api/storages/export/azure and, for the
// service-principal flavour, /api/storages/export/azure_spi, with Label
// Studio's paths (no trailing slashes), fields and statuses, plus
// blobmark's extension fields export_format ("annotation" | "task"),
// file_extension (true, false or null for the format's default) and, on
// create, sync_on_create (default true: existing annotations are exported
// at once, as Label Studio does).

// targetStorageJSON is a target storage as Label Studio shows it, plus the
// extension fields; secrets are never in it.
func targetStorageJSON(st *blobmark.TargetStorage) map[string]any {
	format := st.ExportFormat
	if format == "" {
		format = "annotation"
	}
	out := map[string]any{
		"id":                 st.ID,
		"type":               st.Type,
		"project":            st.ProjectID,
		"title":              st.Title,
		"description":        st.Description,
		"container":          st.Container,
		"prefix":             st.Prefix,
		"can_delete_objects": st.CanDeleteObjects,
		"export_format":      format,
		"file_extension":     st.FileExtension,
		"created_at":         st.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z"),
	}
	putConnection(out, st.Connection)
	putState(out, st.State)
	return out
}

// applyTargetFields sets the storage fields present in body on st and
// reports every type or value problem at once.
func applyTargetFields(st *blobmark.TargetStorage, body map[string]json.RawMessage) error {
	v := validation{}
	var title, description *string
	if field(body, "title", &title, v, "string") && title != nil {
		if utf8.RuneCountInString(*title) > 2048 {
			v.add("title", "Ensure this field has no more than 2048 characters.")
		}
		st.Title = *title
	}
	if field(body, "description", &description, v, "string") && description != nil {
		st.Description = *description
	}
	field(body, "container", &st.Container, v, "string")
	field(body, "prefix", &st.Prefix, v, "string")
	field(body, "can_delete_objects", &st.CanDeleteObjects, v, "boolean")
	if field(body, "export_format", &st.ExportFormat, v, "string") && st.ExportFormat != "annotation" && st.ExportFormat != "task" {
		v.add("export_format", "\"%s\" is not a valid choice; use \"annotation\" or \"task\".", st.ExportFormat)
	}
	if raw, ok := body["file_extension"]; ok {
		if string(raw) == "null" {
			st.FileExtension = nil
		} else {
			var b bool
			if field(body, "file_extension", &b, v, "boolean") {
				st.FileExtension = &b
			}
		}
	}
	if st.Container == "" {
		v.add("container", "This field is required.")
	}
	return v.err()
}

// targetFromBody builds the storage a create or validate body describes;
// with base (PATCH, or validate with an id) it starts from that storage.
func (s *Server) targetFromBody(r *http.Request, body map[string]json.RawMessage, base *blobmark.TargetStorage) (*blobmark.TargetStorage, error) {
	st := &blobmark.TargetStorage{Type: storageType(r), ExportFormat: "annotation",
		Connection: blobmark.Connection{}, Secrets: blobmark.Connection{}}
	if base != nil {
		cp := *base
		st = &cp
	}
	conn, err := decodeConnection(body)
	if err != nil {
		return nil, err
	}
	if err := applyTargetFields(st, body); err != nil {
		return nil, err
	}
	st.Connection, st.Secrets = mergeConnection(st.Connection, st.Secrets, conn)
	if st.Type == blobmark.StorageTypeAzureSPI && st.Connection["auth_type"] == "" {
		st.Connection["auth_type"] = "service_principal"
	}
	return st, nil
}

// checkTarget tests that the storage can write (and delete, when it may
// delete objects), answering with the fields to fix.
func (s *Server) checkTarget(r *http.Request, st *blobmark.TargetStorage) error {
	if s.StorageChecker == nil {
		return nil
	}
	return s.StorageChecker.CheckStorage(r.Context(), st.Connection, st.Secrets, st.Container, st.Prefix, "target", st.CanDeleteObjects)
}

// findTarget returns the storage of the path's id if it has the path's type
// and the user may reach its project.
func (s *Server) findTarget(r *http.Request) (*blobmark.TargetStorage, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	st, err := s.targetByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if st.Type != storageType(r) {
		return nil, notFound()
	}
	return st, nil
}

func (s *Server) writeTargets(w http.ResponseWriter, r *http.Request, typ string) {
	projectID, err := s.projectQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.TargetStorages.FindTargetStorages(r.Context(), blobmark.TargetStorageFilter{ProjectID: projectID, Type: typ})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, st := range list {
		out = append(out, targetStorageJSON(st))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleListTargetStorages(w http.ResponseWriter, r *http.Request) {
	s.writeTargets(w, r, storageType(r))
}

// handleListAllTargetStorages is GET /api/storages/export?project=: every
// target storage of the project, each with its type.
func (s *Server) handleListAllTargetStorages(w http.ResponseWriter, r *http.Request) {
	s.writeTargets(w, r, "")
}

// handleTargetStorageTypes is GET /api/storages/export/types.
func (s *Server) handleTargetStorageTypes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []map[string]string{
		{"name": blobmark.StorageTypeAzure, "title": "Microsoft Azure"},
		{"name": blobmark.StorageTypeAzureSPI, "title": "Microsoft Azure (service principal)"},
	})
}

func (s *Server) handleCreateTargetStorage(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.targetFromBody(r, body, nil)
	if err == nil {
		st.ProjectID, err = s.projectField(r, body, true)
	}
	syncOnCreate := true
	v := validation{}
	field(body, "sync_on_create", &syncOnCreate, v, "boolean")
	if err == nil {
		err = v.err()
	}
	if err == nil {
		err = s.checkTarget(r, st)
	}
	if err == nil {
		err = s.TargetStorages.CreateTargetStorage(r.Context(), st, syncOnCreate)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, targetStorageJSON(st))
}

func (s *Server) handleGetTargetStorage(w http.ResponseWriter, r *http.Request) {
	st, err := s.findTarget(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, targetStorageJSON(st))
}

func (s *Server) handleUpdateTargetStorage(w http.ResponseWriter, r *http.Request) {
	old, err := s.findTarget(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.targetFromBody(r, body, old)
	if err == nil {
		err = s.checkTarget(r, st)
	}
	if err == nil {
		st, err = s.TargetStorages.UpdateTargetStorage(r.Context(), st)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, targetStorageJSON(st))
}

func (s *Server) handleDeleteTargetStorage(w http.ResponseWriter, r *http.Request) {
	st, err := s.findTarget(r)
	if err == nil {
		err = s.TargetStorages.DeleteTargetStorage(r.Context(), st.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleValidateTargetStorage checks a storage without saving it: it must
// be able to write, and delete when can_delete_objects is on. With an "id"
// the body is applied to that storage as a PATCH would, so stored secrets
// need not be sent again.
func (s *Server) handleValidateTargetStorage(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var base *blobmark.TargetStorage
	var id int64
	if field(body, "id", &id, validation{}, "integer") && id > 0 {
		if base, err = s.targetByID(r.Context(), id); err != nil {
			s.writeError(w, r, err)
			return
		}
	} else if _, err := s.projectField(r, body, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.targetFromBody(r, body, base)
	if err == nil {
		err = s.checkTarget(r, st)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleSyncTargetStorage queues an export of every annotation of the
// project, or with {"only_new": true} of those whose latest version is not
// exported yet. Label Studio's SDK sends no body at all.
func (s *Server) handleSyncTargetStorage(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var onlyNew bool
	v := validation{}
	field(body, "only_new", &onlyNew, v, "boolean")
	if err := v.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.findTarget(r)
	if err == nil {
		st, err = s.TargetStorages.SyncTargetStorage(r.Context(), st.ID, onlyNew)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, targetStorageJSON(st))
}

// targetStorageRoutes are the target storage routes, for routes(): the same
// handlers under /api/storages/export/azure and
// /api/storages/export/azure_spi, none with a trailing slash, as Label
// Studio serves them.
func (s *Server) targetStorageRoutes() []route {
	if s.TargetStorages == nil {
		return nil
	}
	out := []route{
		{"GET /api/storages/export", s.handleListAllTargetStorages, authenticated},
		{"GET /api/storages/export/types", s.handleTargetStorageTypes, authenticated},
	}
	for _, t := range []string{blobmark.StorageTypeAzure, blobmark.StorageTypeAzureSPI} {
		base := "/api/storages/export/" + t
		typed := func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				r.SetPathValue("type", t)
				h(w, r)
			}
		}
		out = append(out,
			route{"GET " + base, typed(s.handleListTargetStorages), authenticated},
			route{"POST " + base, typed(s.handleCreateTargetStorage), authenticated},
			route{"POST " + base + "/validate", typed(s.handleValidateTargetStorage), authenticated},
			route{"GET " + base + "/{id}", typed(s.handleGetTargetStorage), authenticated},
			route{"PATCH " + base + "/{id}", typed(s.handleUpdateTargetStorage), authenticated},
			route{"DELETE " + base + "/{id}", typed(s.handleDeleteTargetStorage), authenticated},
			route{"POST " + base + "/{id}/sync", typed(s.handleSyncTargetStorage), authenticated},
		)
	}
	return out
}
