package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/blobmark/blobmark"
)

// annotationBody is the body of an annotation create or update; the SDK
// sends only the keys its caller gave.
type annotationBody struct {
	Result       json.RawMessage `json:"result"`
	WasCancelled *bool           `json:"was_cancelled"`
	GroundTruth  *bool           `json:"ground_truth"`
	LeadTime     *float64        `json:"lead_time"`
}

// validate checks the body's fields; a result must be a list when given.
func (b *annotationBody) validate() error {
	v := validation{}
	if b.Result != nil {
		switch k := jsonKind(b.Result); k {
		case "an array":
		case "null":
			v.add("result", "This field may not be null; send a list of regions ([] for none).")
		default:
			v.add("result", "Expected a list of regions, got %s.", k)
		}
	}
	if b.LeadTime != nil && *b.LeadTime < 0 {
		v.add("lead_time", "Ensure this value is greater than or equal to 0.")
	}
	return v.err()
}

func (s *Server) handleListAnnotations(w http.ResponseWriter, r *http.Request) {
	// An unknown task is a 404, not an empty list.
	t, err := s.taskFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	anns, err := s.findAnnotations(r, t.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := s.presenter(r.Context())
	out := make([]annotationJSON, 0, len(anns))
	for _, a := range anns {
		out = append(out, p.annotationJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCreateAnnotation(w http.ResponseWriter, r *http.Request) {
	t, err := s.taskFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in annotationBody
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := in.validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	a := &blobmark.Annotation{TaskID: t.ID, Result: in.Result}
	if a.Result == nil {
		a.Result = json.RawMessage("[]")
	}
	if in.WasCancelled != nil {
		a.WasCancelled = *in.WasCancelled
	}
	if in.GroundTruth != nil {
		a.GroundTruth = *in.GroundTruth
	}
	if in.LeadTime != nil {
		a.LeadTime = *in.LeadTime
	}
	if err := s.Annotations.CreateAnnotation(r.Context(), a); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.presenter(r.Context()).annotationJSON(a))
}

func (s *Server) handleGetAnnotation(w http.ResponseWriter, r *http.Request) {
	a, err := s.annotationFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.presenter(r.Context()).annotationJSON(a))
}

func (s *Server) handleUpdateAnnotation(w http.ResponseWriter, r *http.Request) {
	old, err := s.annotationFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in annotationBody
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := in.validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.Annotations.UpdateAnnotation(r.Context(), old.ID, blobmark.AnnotationUpdate{
		Result:       in.Result,
		WasCancelled: in.WasCancelled,
		GroundTruth:  in.GroundTruth,
		LeadTime:     in.LeadTime,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.presenter(r.Context()).annotationJSON(a))
}

func (s *Server) handleDeleteAnnotation(w http.ResponseWriter, r *http.Request) {
	a, err := s.annotationFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Annotations.DeleteAnnotation(r.Context(), a.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
