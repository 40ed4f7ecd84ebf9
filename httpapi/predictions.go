package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

// Predictions (Label Studio's /api/predictions/). Annotators read them —
// they are the pre-annotations of the tasks they label, so reading needs
// the label permission and the project's membership — but only managers
// write them: a model's script posts with a manager's token, as it imports
// tasks with one.
func (s *Server) predictionRoutes() []route {
	if s.Predictions == nil {
		return nil
	}
	return []route{
		{"GET /api/predictions/{$}", s.handleListPredictions, label},
		{"POST /api/predictions/{$}", s.handleCreatePrediction, manageProjects},
		{"POST /api/predictions", s.handleCreatePrediction, manageProjects}, // the legacy client
		{"GET /api/predictions/{id}/{$}", s.handleGetPrediction, label},
		{"PATCH /api/predictions/{id}/{$}", s.handleUpdatePrediction, manageProjects},
		{"DELETE /api/predictions/{id}/{$}", s.handleDeletePrediction, manageProjects},
		{"POST /api/projects/{id}/import/predictions", s.handleImportPredictions, manageProjects},
	}
}

// predictionJSON is a prediction as the API shows it: the export's shape.
func predictionJSON(p *blobmark.Prediction) lswire.Prediction { return lswire.NewPrediction(p) }

// handleListPredictions serves GET /api/predictions/?task=&project= (or
// task__project=, the SDK's other spelling): a plain array.
func (s *Server) handleListPredictions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f blobmark.PredictionFilter
	var err error
	if v := q.Get("task"); v != "" {
		if f.TaskID, err = queryID(v, "task"); err == nil {
			_, err = s.taskByID(r.Context(), f.TaskID)
		}
	}
	project, name := q.Get("project"), "project"
	if project == "" {
		project, name = q.Get("task__project"), "task__project"
	}
	if err == nil && project != "" {
		if f.ProjectID, err = queryID(project, name); err == nil {
			_, err = s.requireProject(r.Context(), f.ProjectID)
		}
	}
	if err == nil && f.TaskID == 0 && f.ProjectID == 0 {
		err = blobmark.FieldErrorf("project", "Give ?task= or ?project= to say whose predictions to list.")
	}
	var preds []*blobmark.Prediction
	if err == nil {
		preds, err = s.Predictions.FindPredictions(r.Context(), f)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]lswire.Prediction, len(preds))
	for i, p := range preds {
		out[i] = predictionJSON(p)
	}
	writeJSON(w, http.StatusOK, out)
}

// readPrediction checks one prediction body (a JSON object) of a create or
// an import: task and result are required.
func readPrediction(body map[string]json.RawMessage) (*blobmark.Prediction, error) {
	v := validation{}
	p := &blobmark.Prediction{}
	if !field(body, "task", &p.TaskID, v, "integer") && v["task"] == nil {
		v.add("task", "This field is required.")
	} else if p.TaskID <= 0 && v["task"] == nil {
		v.add("task", "Must be a positive task id.")
	}
	if raw, ok := body["result"]; !ok {
		v.add("result", "This field is required.")
	} else if k := jsonKind(raw); k != "an array" {
		v.add("result", "Expected a list of regions, got %s.", k)
	} else {
		p.Result = raw
	}
	var score float64
	if field(body, "score", &score, v, "number") {
		p.Score = &score
	}
	field(body, "model_version", &p.ModelVersion, v, "string")
	return p, v.err()
}

func (s *Server) handleCreatePrediction(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	err := s.decodeJSON(r, &body)
	var p *blobmark.Prediction
	if err == nil {
		p, err = readPrediction(body)
	}
	var t *blobmark.Task
	if err == nil {
		t, err = s.taskByID(r.Context(), p.TaskID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	serveCreated(s, w, r, p, func(ctx context.Context, p *blobmark.Prediction) error {
		return s.Predictions.CreatePredictions(ctx, t.ProjectID, []*blobmark.Prediction{p})
	}, predictionJSON)
}

// handleImportPredictions serves POST /api/projects/{id}/import/predictions:
// a JSON array of prediction bodies, all created or none, answered with
// {"created": n}.
func (s *Server) handleImportPredictions(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	var raw []byte
	if err == nil {
		raw, err = s.readBody(r)
	}
	var items []json.RawMessage
	if err == nil {
		if k := jsonKind(raw); k != "an array" {
			err = blobmark.Errorf(blobmark.EINVALID, "Expected a JSON array of predictions in the request body, got %s.", k)
		} else {
			err = jsonError(json.Unmarshal(raw, &items), "")
		}
	}
	preds := make([]*blobmark.Prediction, 0, len(items))
	for i, item := range items {
		if err != nil {
			break
		}
		var body map[string]json.RawMessage
		if k := jsonKind(item); k != "an object" {
			err = blobmark.Errorf(blobmark.EINVALID, "Prediction %d: expected an object, got %s.", i, k)
			break
		}
		_ = json.Unmarshal(item, &body) // valid: the array parsed
		var p *blobmark.Prediction
		if p, err = readPrediction(body); err != nil {
			err = blobmark.Errorf(blobmark.EINVALID, "Prediction %d: %s", i, blobmark.ErrorMessage(err))
		}
		preds = append(preds, p)
	}
	if err == nil {
		err = s.Predictions.CreatePredictions(r.Context(), pr.ID, preds)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int{"created": len(preds)})
}

// predictionFromPath loads the prediction a /api/predictions/{id}/ route
// names, if the user may reach its project (403 otherwise).
func (s *Server) predictionFromPath(r *http.Request) (*blobmark.Prediction, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	p, err := s.Predictions.FindPredictionByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := s.canAccessProject(r.Context(), p.ProjectID); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) handleGetPrediction(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.predictionFromPath, nil, predictionJSON)
}

func (s *Server) handleUpdatePrediction(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.predictionFromPath, func(ctx context.Context, old *blobmark.Prediction) (*blobmark.Prediction, error) {
		var body map[string]json.RawMessage
		if err := s.decodeJSON(r, &body); err != nil {
			return nil, err
		}
		v := validation{}
		var upd blobmark.PredictionUpdate
		if raw, ok := body["result"]; ok {
			if k := jsonKind(raw); k != "an array" {
				v.add("result", "Expected a list of regions, got %s.", k)
			}
			upd.Result = raw
		}
		var score float64
		if field(body, "score", &score, v, "number") {
			upd.Score = &score
		} else if raw, ok := body["score"]; ok && string(raw) == "null" {
			upd.ClearScore = true
		}
		var version string
		if field(body, "model_version", &version, v, "string") {
			upd.ModelVersion = &version
		}
		var task int64
		if field(body, "task", &task, v, "integer") && task != old.TaskID {
			v.add("task", "A prediction stays on its task (%d); create one on task %s instead.", old.TaskID, fmt.Sprint(task))
		}
		if err := v.err(); err != nil {
			return nil, err
		}
		return s.Predictions.UpdatePrediction(ctx, old.ID, upd)
	}, predictionJSON)
}

func (s *Server) handleDeletePrediction(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, s.predictionFromPath, func(ctx context.Context, p *blobmark.Prediction) error {
		return s.Predictions.DeletePrediction(ctx, p.ID)
	})
}
