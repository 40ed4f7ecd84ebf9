package httpapi

import (
	"context"
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

// readAnnotation reads and checks the body of an annotation create or
// update.
func (s *Server) readAnnotation(r *http.Request) (annotationBody, error) {
	var in annotationBody
	if err := s.decodeJSON(r, &in); err != nil {
		return in, err
	}
	return in, in.validate()
}

// annotationAnswer shows an annotation as the API answers with it.
func (s *Server) annotationAnswer(r *http.Request) func(*blobmark.Annotation) annotationJSON {
	return s.presenter(r.Context()).annotationJSON
}

func (s *Server) handleCreateAnnotation(w http.ResponseWriter, r *http.Request) {
	t, err := s.taskFromPath(r)
	var in annotationBody
	if err == nil {
		in, err = s.readAnnotation(r)
	}
	if err != nil {
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
	serveCreated(s, w, r, a, s.Annotations.CreateAnnotation, s.annotationAnswer(r))
}

func (s *Server) handleGetAnnotation(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.annotationFromPath, nil, s.annotationAnswer(r))
}

func (s *Server) handleUpdateAnnotation(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.annotationFromPath, func(ctx context.Context, old *blobmark.Annotation) (*blobmark.Annotation, error) {
		in, err := s.readAnnotation(r)
		if err != nil {
			return nil, err
		}
		return s.Annotations.UpdateAnnotation(ctx, old.ID, blobmark.AnnotationUpdate{
			Result:       in.Result,
			WasCancelled: in.WasCancelled,
			GroundTruth:  in.GroundTruth,
			LeadTime:     in.LeadTime,
		})
	}, s.annotationAnswer(r))
}

func (s *Server) handleDeleteAnnotation(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, s.annotationFromPath, func(ctx context.Context, a *blobmark.Annotation) error {
		return s.Annotations.DeleteAnnotation(ctx, a.ID)
	})
}
