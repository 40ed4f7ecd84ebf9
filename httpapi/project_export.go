package httpapi

import (
	"bufio"
	"cmp"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter/formats"
)

// maxExportIDs caps the ids of one download, which become one SQL IN
// list: well under SQLite's and PostgreSQL's bind-parameter limits.
const maxExportIDs = 10000

// handleExportProject is GET /api/projects/{id}/export: the project's
// tasks in the format export_type (the SDK's spelling) or exportType (the
// legacy client's), JSON by default. Only tasks with annotations are
// exported unless download_all_tasks is true, as in Label Studio; ids
// (repeated or comma-separated) narrows the export to those tasks.
// download_resources is accepted and has no effect: media stay in the
// container and the export refers to them.
//
// The output streams as the store reads it, page by page, so a large
// project costs the memory of one page. An error after the first byte
// aborts the connection, so the client sees a failed download instead of
// a truncated file that looks complete.
func (s *Server) handleExportProject(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	cfg, _ := blobmark.ParseLabelConfig(pr.LabelConfig)
	f, err := formats.Check(cmp.Or(q.Get("export_type"), q.Get("exportType"), formats.JSON), cfg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var filter blobmark.ExportFilter
	if v := q.Get("download_all_tasks"); v != "" {
		if filter.AllTasks, err = strconv.ParseBool(v); err != nil {
			s.writeError(w, r, blobmark.FieldErrorf("download_all_tasks", "download_all_tasks must be true or false, not %q.", v))
			return
		}
	}
	if filter.IDs, err = exportIDs(q["ids"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.ProjectExporter == nil {
		s.writeError(w, r, blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "Project export is not configured on this server."))
		return
	}
	lw := &lazyDownload{w: w, contentType: f.ContentType,
		name: fmt.Sprintf("project-%d-at-%s.%s", pr.ID, time.Now().UTC().Format("2006-01-02-15-04-05"), f.Ext)}
	lw.buf = bufio.NewWriterSize(lw, 64<<10)
	err = s.ProjectExporter.ExportProject(r.Context(), pr.ID, f.Name, filter, lw.buf)
	if err == nil {
		err = lw.buf.Flush()
	}
	s.finishDownload(w, r, lw, err)
}

// finishDownload ends a download that ended with err: nothing more when
// it is nil, an error envelope when no byte went out yet, else an aborted
// connection, so the client sees a failed download rather than a
// truncated file that looks complete.
func (s *Server) finishDownload(w http.ResponseWriter, r *http.Request, lw *lazyDownload, err error) {
	if err == nil {
		return
	}
	if !lw.started {
		s.writeError(w, r, err)
		return
	}
	s.logger().ErrorContext(r.Context(), "export download failed mid-stream", "path", r.URL.Path, "file", lw.name, "err", err)
	panic(http.ErrAbortHandler)
}

// exportIDs parses the ids parameter, repeated (ids=1&ids=2, the SDK) or
// comma-separated.
func exportIDs(values []string) ([]int64, error) {
	var ids []int64
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			id, err := strconv.ParseInt(part, 10, 64)
			if err != nil || id <= 0 {
				return nil, blobmark.FieldErrorf("ids", "ids must be task ids, not %q.", part)
			}
			ids = append(ids, id)
		}
	}
	if len(ids) > maxExportIDs {
		return nil, blobmark.FieldErrorf("ids", "At most %d task ids fit one export; got %d.", maxExportIDs, len(ids))
	}
	return ids, nil
}

// handleExportFormats is GET /api/projects/{id}/export/formats: every
// format as Label Studio lists it, those the label config does not fit
// last and marked disabled, with disabled_reason (blobmark's addition)
// saying why, so the Export dialog can explain a greyed-out entry.
func (s *Server) handleExportFormats(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cfg, _ := blobmark.ParseLabelConfig(pr.LabelConfig)
	type item struct {
		Name        string   `json:"name"`
		Title       string   `json:"title"`
		Description string   `json:"description"`
		Link        string   `json:"link"`
		Tags        []string `json:"tags"`
		Disabled    bool     `json:"disabled"`
		Reason      string   `json:"disabled_reason,omitempty"`
	}
	offers := formats.Offered(cfg)
	out := make([]item, len(offers))
	for i, o := range offers {
		out[i] = item{o.Name, o.Title, o.Description, o.Link, o.Tags, o.Disabled != "", o.Disabled}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleVersion is GET /api/version/: what the SDK reads to choose its
// export flow. A "Community" edition makes it download exports in one
// request rather than through snapshots.
func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"release": s.version(), "edition": "Community"})
}

// lazyDownload sends the download's headers with its first bytes, so an
// error before any byte can still be answered with an error envelope.
type lazyDownload struct {
	w           http.ResponseWriter
	buf         *bufio.Writer
	name        string
	contentType string
	started     bool
}

// Write implements io.Writer.
func (d *lazyDownload) Write(p []byte) (int, error) {
	if !d.started {
		d.started = true
		h := d.w.Header()
		h.Set("Content-Type", d.contentType)
		h.Set("Content-Disposition", `attachment; filename="`+d.name+`"`)
		d.w.WriteHeader(http.StatusOK)
	}
	return d.w.Write(p)
}
