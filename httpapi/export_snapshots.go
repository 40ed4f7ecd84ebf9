package httpapi

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter/formats"
)

// exportSnapshotRoutes serves Label Studio's export snapshots
// (/api/projects/{id}/exports/…): taken by a job, stored, downloaded in
// any format without recomputing the export.
func (s *Server) exportSnapshotRoutes() []route {
	if s.ExportSnapshots == nil {
		return nil
	}
	return []route{
		{"GET /api/projects/{id}/exports/{$}", s.handleListExports, manageProjects},
		{"POST /api/projects/{id}/exports/{$}", s.handleCreateExport, manageProjects},
		{"GET /api/projects/{id}/exports/{pk}", s.handleGetExport, manageProjects},
		{"DELETE /api/projects/{id}/exports/{pk}", s.handleDeleteExport, manageProjects},
		{"POST /api/projects/{id}/exports/{pk}/convert", s.handleConvertExport, manageProjects},
		{"GET /api/projects/{id}/exports/{pk}/download", s.handleDownloadExport, manageProjects},
	}
}

// exportJSON is an export snapshot as Label Studio shows it, plus
// traceback (blobmark's addition; Label Studio has it on converted formats
// only): why a failed snapshot failed, so the Export dialog can say it.
type exportJSON struct {
	ID               int64              `json:"id"`
	Title            string             `json:"title"`
	Status           string             `json:"status"`
	Traceback        string             `json:"traceback"`
	CreatedAt        time.Time          `json:"created_at"`
	FinishedAt       *time.Time         `json:"finished_at"`
	CreatedBy        *userSimple        `json:"created_by"`
	MD5              string             `json:"md5"`
	Counters         json.RawMessage    `json:"counters"`
	ConvertedFormats []convertedFmtJSON `json:"converted_formats"`
	options          json.RawMessage
}

type convertedFmtJSON struct {
	ID         int64  `json:"id"`
	ExportType string `json:"export_type"`
	Status     string `json:"status"`
	Traceback  string `json:"traceback"`
}

// MarshalJSON adds the request's option objects, as stored, beside the
// export's own fields, as Label Studio echoes them.
func (e exportJSON) MarshalJSON() ([]byte, error) {
	type plain exportJSON
	base, err := json.Marshal(plain(e))
	if err != nil || len(e.options) < 3 {
		return base, err
	}
	return append(append(base[:len(base)-1], ','), e.options[1:]...), nil
}

func (s *Server) exportJSON(ctx context.Context, x *blobmark.ExportSnapshot) exportJSON {
	out := exportJSON{ID: x.ID, Title: x.Title, Status: x.Status, Traceback: x.Traceback, CreatedAt: x.CreatedAt, FinishedAt: x.FinishedAt,
		CreatedBy: s.presenter(ctx).userSimple(x.CreatedBy), MD5: x.MD5, Counters: x.Counters,
		ConvertedFormats: make([]convertedFmtJSON, len(x.Converted)), options: x.Options}
	for i, c := range x.Converted {
		out.ConvertedFormats[i] = convertedFmtJSON(c)
	}
	return out
}

// exportRequest is the body of POST …/exports/.
type exportRequest struct {
	Title             string `json:"title"`
	TaskFilterOptions *struct {
		View                *int64 `json:"view"`
		OnlyWithAnnotations *bool  `json:"only_with_annotations"`
		Skipped             string `json:"skipped"`
		Finished            string `json:"finished"`
		Annotated           string `json:"annotated"`
	} `json:"task_filter_options"`
	AnnotationFilterOptions *struct {
		Usual       *bool `json:"usual"`
		GroundTruth *bool `json:"ground_truth"`
		Skipped     *bool `json:"skipped"`
	} `json:"annotation_filter_options"`
	SerializationOptions json.RawMessage `json:"serialization_options"`
	ConvertedFormats     []struct {
		ExportType string `json:"export_type"`
	} `json:"converted_formats"`
}

// handleCreateExport is POST /api/projects/{id}/exports/: a snapshot of
// the project's tasks that the filters select (all tasks by default, as in
// Label Studio), written by a job; poll its status.
func (s *Server) handleCreateExport(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req exportRequest
	if err := s.decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	x := &blobmark.ExportSnapshot{ProjectID: pr.ID, Title: req.Title, CreatedBy: blobmark.UserIDFromContext(r.Context())}
	x.Filter.AllTasks = true
	if o := req.TaskFilterOptions; o != nil {
		if o.View != nil {
			x.Filter.View = *o.View
			if s.Views == nil || !s.isProjectView(r.Context(), pr.ID, *o.View) {
				s.writeError(w, r, blobmark.FieldErrorf("task_filter_options", "View %d is not a view of this project.", *o.View))
				return
			}
		}
		x.Filter.AllTasks = o.OnlyWithAnnotations == nil || !*o.OnlyWithAnnotations
		for _, f := range []struct {
			name, value string
			to          *string
		}{{"skipped", o.Skipped, &x.Filter.Skipped}, {"finished", o.Finished, &x.Filter.Finished}, {"annotated", o.Annotated, &x.Filter.Annotated}} {
			switch f.value {
			case "", "only", "exclude":
				*f.to = f.value
			default:
				s.writeError(w, r, blobmark.FieldErrorf("task_filter_options", "task_filter_options.%s must be \"only\" or \"exclude\", not %q.", f.name, f.value))
				return
			}
		}
	}
	if o := req.AnnotationFilterOptions; o != nil {
		for _, k := range []struct {
			kind string
			on   *bool
		}{{"usual", o.Usual}, {"ground_truth", o.GroundTruth}, {"skipped", o.Skipped}} {
			if k.on != nil && *k.on {
				x.Filter.AnnotationKinds = append(x.Filter.AnnotationKinds, k.kind)
			}
		}
	}
	cfg, _ := blobmark.ParseLabelConfig(pr.LabelConfig)
	for _, c := range req.ConvertedFormats {
		f, err := formats.Check(c.ExportType, cfg)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if f.Name != formats.JSON {
			x.Converted = append(x.Converted, blobmark.ConvertedFormat{ExportType: f.Name})
		}
	}
	options := map[string]any{}
	for k, v := range map[string]any{"task_filter_options": req.TaskFilterOptions,
		"annotation_filter_options": req.AnnotationFilterOptions, "serialization_options": req.SerializationOptions} {
		if raw, _ := json.Marshal(v); string(raw) != "null" {
			options[k] = json.RawMessage(raw)
		}
	}
	if x.Options, err = json.Marshal(options); err != nil {
		s.writeError(w, r, err)
		return
	}
	serveCreated(s, w, r, x, s.ExportSnapshots.CreateExportSnapshot, func(x *blobmark.ExportSnapshot) exportJSON {
		return s.exportJSON(r.Context(), x)
	})
}

// handleListExports is GET /api/projects/{id}/exports/, newest first.
func (s *Server) handleListExports(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	if err == nil {
		var list []*blobmark.ExportSnapshot
		if list, err = s.ExportSnapshots.FindExportSnapshots(r.Context(), pr.ID); err == nil {
			out := make([]exportJSON, len(list))
			for i, x := range list {
				out[i] = s.exportJSON(r.Context(), x)
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	s.writeError(w, r, err)
}

// exportFromPath loads the snapshot {pk} of project {id}; a snapshot of
// another project is not found, as if it did not exist.
func (s *Server) exportFromPath(r *http.Request) (*blobmark.ExportSnapshot, error) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		return nil, err
	}
	pk, err := pathID(r, "pk")
	if err != nil {
		return nil, err
	}
	x, err := s.ExportSnapshots.FindExportSnapshotByID(r.Context(), pk)
	if err == nil && x.ProjectID != pr.ID {
		return nil, notFound()
	}
	return x, err
}

// handleGetExport is GET /api/projects/{id}/exports/{pk}.
func (s *Server) handleGetExport(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.exportFromPath, nil, func(x *blobmark.ExportSnapshot) exportJSON { return s.exportJSON(r.Context(), x) })
}

// handleDeleteExport is DELETE /api/projects/{id}/exports/{pk}: the
// snapshot and all its stored outputs.
func (s *Server) handleDeleteExport(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, s.exportFromPath, func(ctx context.Context, x *blobmark.ExportSnapshot) error {
		return s.ExportSnapshots.DeleteExportSnapshot(ctx, x.ID)
	})
}

// handleConvertExport is POST …/exports/{pk}/convert {export_type}: queues
// the conversion and answers at once with the converted format's id.
func (s *Server) handleConvertExport(w http.ResponseWriter, r *http.Request) {
	x, err := s.exportFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req struct {
		ExportType string `json:"export_type"`
	}
	if err := s.decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.ExportType == "" {
		s.writeError(w, r, blobmark.FieldErrorf("export_type", "This field is required."))
		return
	}
	f, err := s.exportFormat(r.Context(), x, req.ExportType)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.ExportSnapshots.ConvertExportSnapshot(r.Context(), x.ID, f.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"export_type": c.ExportType, "converted_format": c.ID})
}

// exportFormat checks a format name against the snapshot's project.
func (s *Server) exportFormat(ctx context.Context, x *blobmark.ExportSnapshot, name string) (formats.Format, error) {
	pr, err := s.Projects.FindProjectByID(ctx, x.ProjectID)
	if err != nil {
		return formats.Format{}, err
	}
	cfg, _ := blobmark.ParseLabelConfig(pr.LabelConfig)
	return formats.Check(name, cfg)
}

// handleDownloadExport is GET …/exports/{pk}/download?exportType=…: the
// stored output, or, when that format's conversion has not finished (the
// SDK downloads right after asking for it), the stored JSON converted on
// the way out. Either way the snapshot's content, never the project's
// current state.
func (s *Server) handleDownloadExport(w http.ResponseWriter, r *http.Request) {
	x, err := s.exportFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f, err := s.exportFormat(r.Context(), x, cmp.Or(q.Get("exportType"), q.Get("export_type"), formats.JSON))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if x.Status != blobmark.ExportCompleted {
		s.writeError(w, r, blobmark.Errorf(blobmark.ECONFLICT, "Export %d is %s; download it once its status is completed.", x.ID, x.Status))
		return
	}
	lw := &lazyDownload{w: w, contentType: f.ContentType,
		name: fmt.Sprintf("project-%d-at-%s-%s.%s", x.ProjectID, x.CreatedAt.UTC().Format("2006-01-02-15-04"), x.MD5[:8], f.Ext)}
	lw.buf = bufio.NewWriterSize(lw, 64<<10)
	in, err := s.ExportSnapshots.OpenExportOutput(r.Context(), x.ID, f.Name)
	switch {
	case err == nil:
		_, err = io.Copy(lw.buf, in)
		in.Close()
	case blobmark.ErrorCode(err) == blobmark.ENOTFOUND:
		err = s.ExportSnapshots.ConvertExportOutput(r.Context(), x.ID, f.Name, lw.buf)
	}
	if err == nil {
		err = lw.buf.Flush()
	}
	s.finishDownload(w, r, lw, err)
}

// isProjectView reports whether view id is a view of project projectID.
func (s *Server) isProjectView(ctx context.Context, projectID, id int64) bool {
	v, err := s.Views.FindViewByID(ctx, id)
	return err == nil && v.ProjectID == projectID
}
