package httpapi

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// handleExportProject is GET /api/projects/{id}/export?exportType=JSON:
// the project's tasks with their annotations and predictions as one JSON
// array, Label Studio's JSON export. It is streamed as the store reads it,
// page by page, so a large project costs the memory of one page. An error
// after the first byte aborts the connection, so the client sees a failed
// download instead of a truncated file that looks complete.
func (s *Server) handleExportProject(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := pr.ID
	if t := r.URL.Query().Get("exportType"); t != "" && !strings.EqualFold(t, "JSON") {
		s.writeError(w, r, blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "Export type %q is not supported; use exportType=JSON.", t))
		return
	}
	if s.ProjectExporter == nil {
		s.writeError(w, r, blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "Project export is not configured on this server."))
		return
	}
	lw := &lazyDownload{w: w, name: fmt.Sprintf("project-%d-at-%s.json", id, time.Now().UTC().Format("2006-01-02-15-04-05"))}
	lw.buf = bufio.NewWriterSize(lw, 64<<10)
	err = s.ProjectExporter.ExportProjectJSON(r.Context(), id, lw.buf)
	if err == nil {
		err = lw.buf.Flush()
	}
	if err == nil {
		return
	}
	if !lw.started {
		s.writeError(w, r, err)
		return
	}
	s.logger().ErrorContext(r.Context(), "project export failed mid-stream", "project", id, "err", err)
	panic(http.ErrAbortHandler)
}

// lazyDownload sends the download's headers with its first bytes, so an
// error before any byte can still be answered with an error envelope.
type lazyDownload struct {
	w       http.ResponseWriter
	buf     *bufio.Writer
	name    string
	started bool
}

// Write implements io.Writer.
func (d *lazyDownload) Write(p []byte) (int, error) {
	if !d.started {
		d.started = true
		h := d.w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Disposition", `attachment; filename="`+d.name+`"`)
		d.w.WriteHeader(http.StatusOK)
	}
	return d.w.Write(p)
}
