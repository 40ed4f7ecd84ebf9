package httpapi

import (
	"net/http"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/media"
)

// A presigned URL sends the browser straight to the storage account, so
// a source storage whose media is presigned needs a CORS rule on its
// account for the origin blobmark's pages are served from. Validate says
// whether it has one; POST …/{id}/cors adds it (a blobmark extension).

// validateAnswer is a source storage's validate answer: the CORS verdict
// for blobmark's origin when its media is presigned, and a warning when
// that media will not load. Otherwise nil: an empty 200, as Label Studio
// answers.
func (s *Server) validateAnswer(r *http.Request, st *blobmark.SourceStorage) map[string]any {
	if s.StorageCORS == nil || !media.MayPresign(st.Presign, s.MediaMode) {
		return nil
	}
	origin, err := s.mediaOrigin(r)
	if err != nil {
		return map[string]any{"warnings": []string{blobmark.ErrorMessage(err)}}
	}
	rep := s.StorageCORS.CheckStorageCORS(r.Context(), st.Organization, st.Connection, st.Secrets, st.Container, origin)
	out := map[string]any{"cors": rep, "warnings": []string{}}
	if d, _ := media.Choose(st.Presign, rep.CanPresign, s.MediaMode); d == media.DeliverPresigned && rep.Status != blobmark.CORSPresent {
		out["warnings"] = []string{rep.Message}
	}
	return out
}

// handleAddStorageCORSRule adds the CORS rule presigned media needs for
// blobmark's origin to the account of the storage the path names, and
// answers with the verdict afterwards. Changing the account is changing
// the storage, so it needs what a PATCH needs.
func (s *Server) handleAddStorageCORSRule(w http.ResponseWriter, r *http.Request) {
	st, err := s.sourceKind().findWithSecrets(r)
	if err == nil {
		err = mayUseConnection(r.Context(), st.Connection)
	}
	var origin string
	if err == nil {
		origin, err = s.mediaOrigin(r)
	}
	var rep blobmark.CORSReport
	if err == nil {
		rep, err = s.StorageCORS.AddStorageCORSRule(r.Context(), st.Organization, st.Connection, st.Secrets, st.Container, origin)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// mediaOrigin is the origin the labeling page, and so the browser's media
// requests, come from: that of PublicURL when set; else the Origin the
// browser sent, or the scheme and host the request reached.
func (s *Server) mediaOrigin(r *http.Request) (string, error) {
	raw := s.PublicURL
	if raw == "" {
		raw = r.Header.Get("Origin")
	}
	if raw == "" || raw == "null" {
		raw = "http://" + r.Host
		if r.TLS != nil {
			raw = "https://" + r.Host
		}
	}
	origin, err := blobmark.CORSOrigin(raw)
	if err != nil {
		return "", blobmark.Errorf(blobmark.EINVALID, "blobmark's origin: %s: set the server's public URL (--public-url)", blobmark.ErrorMessage(err))
	}
	return origin, nil
}
