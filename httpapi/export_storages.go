package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/blobmark/blobmark"
)

// Target ("export") storages, under /api/storages/export/azure and, for the
// service-principal flavour, /api/storages/export/azure_spi, with Label
// Studio's paths (no trailing slashes), fields and statuses, plus
// blobmark's extension fields export_format ("annotation" | "task"),
// file_extension (true, false or null for the format's default),
// key_template (objects named after task fields), dataset_format and
// dataset_key_template (a sync also writes the whole project in that
// format as one object), dataset_interval_minutes (that object also
// written on a schedule), the read-only dataset_state and, on create,
// sync_on_create (default true: existing annotations are exported at
// once, as Label Studio does). The templates, the dataset format and its
// interval are checked by the store, which knows the project's label config.

// targetKind is what the shared storage handlers (storage_kind.go) need
// to know of target storages.
func (s *Server) targetKind() storageKind[blobmark.TargetStorage] {
	return storageKind[blobmark.TargetStorage]{
		s:      s,
		fields: targetFields,
		blank:  func() blobmark.TargetStorage { return blobmark.TargetStorage{ExportFormat: "annotation"} },
		apply:  applyTargetFields,
		// A target storage must be able to write, and delete when it may
		// delete objects.
		check: func(r *http.Request, st *blobmark.TargetStorage) error {
			return s.checkStorage(r, targetFields(st), "target", st.CanDeleteObjects)
		},
		byID: s.targetByID,
		list: func(ctx context.Context, projectID int64, typ string) ([]*blobmark.TargetStorage, error) {
			return s.TargetStorages.FindTargetStorages(ctx, blobmark.TargetStorageFilter{ProjectID: projectID, Type: typ})
		},
		// sync_on_create (default true) exports the project's existing
		// annotations at once, as Label Studio does.
		create: func(st *blobmark.TargetStorage, body map[string]json.RawMessage) (func(context.Context) error, error) {
			syncOnCreate := true
			v := validation{}
			field(body, "sync_on_create", &syncOnCreate, v, "boolean")
			if err := v.err(); err != nil {
				return nil, err
			}
			return func(ctx context.Context) error { return s.TargetStorages.CreateTargetStorage(ctx, st, syncOnCreate) }, nil
		},
		update: func(ctx context.Context, st *blobmark.TargetStorage) (*blobmark.TargetStorage, error) {
			return s.TargetStorages.UpdateTargetStorage(ctx, st)
		},
		delete: func(ctx context.Context, id int64) error { return s.TargetStorages.DeleteTargetStorage(ctx, id) },
		toJSON: targetStorageJSON,
	}
}

// targetFields points at a target storage's shared fields.
func targetFields(st *blobmark.TargetStorage) storageFields {
	return storageFields{&st.ID, &st.ProjectID, &st.Type, &st.Title, &st.Description, &st.Container, &st.Prefix,
		&st.Organization, &st.Connection, &st.Secrets, &st.State, &st.CreatedAt}
}

// targetStorageJSON is a target storage as Label Studio shows it, plus the
// extension fields; secrets are never in it.
func targetStorageJSON(st *blobmark.TargetStorage) map[string]any {
	format := st.ExportFormat
	if format == "" {
		format = "annotation"
	}
	out := targetFields(st).json()
	out["can_delete_objects"] = st.CanDeleteObjects
	out["export_format"] = format
	out["file_extension"] = st.FileExtension
	out["annotation_count"] = st.AnnotationCount
	out["key_template"] = st.KeyTemplate
	out["dataset_format"] = nil
	if st.DatasetFormat != "" {
		out["dataset_format"] = st.DatasetFormat
	}
	out["dataset_key_template"] = st.DatasetKeyTemplate
	out["dataset_state"] = st.Dataset
	out["dataset_interval_minutes"] = st.DatasetIntervalMinutes
	return out
}

// applyTargetFields sets the storage fields present in body on st and
// reports every type or value problem at once.
func applyTargetFields(st *blobmark.TargetStorage, body map[string]json.RawMessage) error {
	v := validation{}
	targetFields(st).apply(body, v)
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
	// null clears these, as "" does.
	for name, dst := range map[string]*string{"key_template": &st.KeyTemplate, "dataset_format": &st.DatasetFormat,
		"dataset_key_template": &st.DatasetKeyTemplate} {
		if raw, ok := body[name]; ok && string(raw) == "null" {
			*dst = ""
		} else {
			field(body, name, dst, v, "string")
		}
	}
	// null turns the schedule off, as 0 does; the store checks the range.
	if raw, ok := body["dataset_interval_minutes"]; ok && string(raw) == "null" {
		st.DatasetIntervalMinutes = 0
	} else {
		field(body, "dataset_interval_minutes", &st.DatasetIntervalMinutes, v, "integer")
	}
	if st.Container == "" {
		v.add("container", "This field is required.")
	}
	return v.err()
}

// handleSyncTargetStorage queues an export of every annotation of the
// project, or with {"only_new": true} of those whose latest version is not
// exported yet. Label Studio's SDK sends no body at all. The body is read
// before the storage, so a bad body is a 400 whatever the id.
func (s *Server) handleSyncTargetStorage(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	var onlyNew bool
	if err == nil {
		v := validation{}
		field(body, "only_new", &onlyNew, v, "boolean")
		err = v.err()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.targetKind().serveAction(w, r, func(ctx context.Context, id int64) (*blobmark.TargetStorage, error) {
		return s.TargetStorages.SyncTargetStorage(ctx, id, onlyNew)
	})
}

// handlePreviewTargetKeys renders a storage's key templates on a real task
// of its project, for the storage form: the body is a storage as for
// validate (with "id" to start from a stored one, else "project"), plus
// an optional "task". Settings a save would refuse are a 400 naming the
// field; a task that cannot fill the template is an answer, whose
// object_key_error says why, as the export would report it.
func (s *Server) handlePreviewTargetKeys(w http.ResponseWriter, r *http.Request) {
	k := s.targetKind()
	body, st, err := k.fromRequest(r)
	var taskID int64
	if err == nil {
		v := validation{}
		field(body, "task", &taskID, v, "integer")
		err = v.err()
	}
	if err == nil && st.ProjectID == 0 {
		st.ProjectID, err = s.projectField(r, body, true)
	}
	var p *blobmark.KeyPreview
	if err == nil {
		p, err = s.TargetStorages.PreviewTargetKeys(r.Context(), st, taskID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// targetStorageRoutes are the target storage routes, for routes(): the
// shared storage handlers (GET /api/storages/export?project= lists every
// type), and the sync, under /api/storages/export/azure and
// /api/storages/export/azure_spi, none with a trailing slash, as Label
// Studio serves them.
func (s *Server) targetStorageRoutes() []route {
	if s.TargetStorages == nil {
		return nil
	}
	return s.targetKind().routes("/api/storages/export", "",
		route{"POST /{id}/sync", s.handleSyncTargetStorage, storages},
		route{"POST /preview_keys", s.handlePreviewTargetKeys, storages},
	)
}
