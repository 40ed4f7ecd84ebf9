package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/blobmark/blobmark"
)

// Task lists: Label Studio pages tasks by 100.
const (
	defaultTaskPageSize = 100
	maxTaskPageSize     = 1000
)

// taskList is Label Studio's /api/tasks/ answer: a page of tasks and the
// project-wide totals.
type taskList struct {
	Tasks            []taskJSON `json:"tasks"`
	Total            int        `json:"total"`
	TotalAnnotations int        `json:"total_annotations"`
	TotalPredictions int        `json:"total_predictions"`
}

// handleListTasks serves GET /api/tasks/?project=P&page=N[&page_size=M].
// fields=all adds each task's annotations and predictions; resolve_uri=false
// keeps blob URIs as stored; view=, query=, selectedItems= and ordering=
// filter, select and order the tasks (taskListQuery); other query
// parameters the SDK sends are accepted and ignored.
func (s *Server) handleListTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	projectID, err := queryID(q.Get("project"), "project")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pg, err := parsePage(r, defaultTaskPageSize, maxTaskPageSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pr, err := s.requireProject(r.Context(), projectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	query, err := s.taskListQuery(r, projectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := s.presenter(r.Context())
	p.noResolve = !resolveURIsRequested(r)
	p.rememberProject(pr)
	list, err := s.Tasks.FindTasks(r.Context(), blobmark.TaskFilter{ProjectID: projectID, Query: query, Page: pg.page()})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := pg.checkExists(len(list.Tasks)); err != nil {
		s.writeError(w, r, err)
		return
	}
	withAnnotations := q.Get("fields") == "all"
	out := taskList{
		Tasks:            make([]taskJSON, 0, len(list.Tasks)),
		Total:            list.Total,
		TotalAnnotations: list.TotalAnnotations,
		TotalPredictions: list.TotalPredictions,
	}
	for _, t := range list.Tasks {
		var anns []*blobmark.Annotation
		var preds []*blobmark.Prediction
		if withAnnotations {
			if anns, err = s.findAnnotations(r, t.ID); err == nil {
				preds, err = s.findPredictions(r, t.ID)
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		tj := p.taskJSON(t, anns)
		if withAnnotations {
			p.addPredictions(&tj, preds)
		}
		out.Tasks = append(out.Tasks, tj)
	}
	writeJSON(w, http.StatusOK, out)
}

// findAnnotations returns the annotations of a task the user may see
// (seesAnnotation: an annotator sees only its own), never nil, so the task
// is presented with an "annotations" list even when it has none.
func (s *Server) findAnnotations(r *http.Request, taskID int64) ([]*blobmark.Annotation, error) {
	anns, err := s.Annotations.FindAnnotations(r.Context(), taskID)
	if err != nil {
		return nil, err
	}
	if anns == nil {
		return []*blobmark.Annotation{}, nil
	}
	return slices.DeleteFunc(anns, func(a *blobmark.Annotation) bool { return !seesAnnotation(r.Context(), a) }), nil
}

// queryID parses a required id query parameter.
func queryID(s, name string) (int64, error) {
	if s == "" {
		return 0, blobmark.FieldErrorf(name, "This query parameter is required.")
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, blobmark.FieldErrorf(name, "A valid positive integer is required, got %q.", s)
	}
	return id, nil
}

// writeTask answers with one task in full: its project's label config
// applied, its annotations and predictions included.
func (s *Server) writeTask(w http.ResponseWriter, r *http.Request, status int, t *blobmark.Task) {
	p := s.presenter(r.Context())
	p.noResolve = !resolveURIsRequested(r)
	if _, err := p.project(t.ProjectID); err != nil {
		s.writeError(w, r, err)
		return
	}
	anns, err := s.findAnnotations(r, t.ID)
	var preds []*blobmark.Prediction
	if err == nil {
		preds, err = s.findPredictions(r, t.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tj := p.taskJSON(t, anns)
	p.addPredictions(&tj, preds)
	writeJSON(w, status, tj)
}

func (s *Server) handleGetTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.taskFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeTask(w, r, http.StatusOK, t)
}

// taskPatch is the body of PATCH /api/tasks/{id}/.
type taskPatch struct {
	Data json.RawMessage `json:"data"`
	Meta json.RawMessage `json:"meta"`
}

func (s *Server) handleUpdateTask(w http.ResponseWriter, r *http.Request) {
	old, err := s.taskFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in taskPatch
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	v := validation{}
	if in.Data != nil && jsonKind(in.Data) != "an object" {
		v.add("data", "Expected a JSON object, got %s.", jsonKind(in.Data))
	}
	if in.Meta != nil && jsonKind(in.Meta) == "null" {
		in.Meta = json.RawMessage("{}")
	} else if in.Meta != nil && jsonKind(in.Meta) != "an object" {
		v.add("meta", "Expected a JSON object, got %s.", jsonKind(in.Meta))
	}
	if err := v.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.Tasks.UpdateTask(r.Context(), old.ID, blobmark.TaskUpdate{Data: in.Data, Meta: in.Meta})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeTask(w, r, http.StatusOK, t)
}

func (s *Server) handleDeleteTask(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, s.taskFromPath, func(ctx context.Context, t *blobmark.Task) error {
		return s.Tasks.DeleteTask(ctx, t.ID)
	})
}
