package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/blobmark/blobmark"
)

// The label stream: GET /api/projects/{id}/next/ hands the caller the next
// task to label, locked for them (blobmark.LabelStreamService), and the
// labeling page keeps the lock alive with POST /api/tasks/{id}/lock while
// it is open and gives it back with DELETE when it closes. Label Studio
// serves the stream at …/next/; the issue and older clients name …/next,
// so both are served.
func (s *Server) labelStreamRoutes() []route {
	if s.LabelStream == nil {
		return nil
	}
	return []route{
		{"GET /api/projects/{id}/next/{$}", s.handleNextTask, label},
		{"GET /api/projects/{id}/next", s.handleNextTask, label},
		{"POST /api/tasks/{id}/lock", s.handleLockTask, label},
		{"DELETE /api/tasks/{id}/lock", s.handleUnlockTask, label},
	}
}

// nextTaskJSON is the stream's answer: the task as GET /api/tasks/{id}/
// shows it, with the queue it came from, as Label Studio adds it.
type nextTaskJSON struct {
	task  taskJSON
	queue string
}

// MarshalJSON implements json.Marshaler: the task's keys, then "queue".
func (n nextTaskJSON) MarshalJSON() ([]byte, error) {
	task, err := json.Marshal(n.task)
	if err != nil {
		return nil, err
	}
	queue, err := json.Marshal(n.queue)
	if err != nil {
		return nil, err
	}
	task = bytes.TrimSuffix(bytes.TrimSpace(task), []byte("}"))
	return slices.Concat(task, []byte(`,"queue":`), queue, []byte("}")), nil
}

// handleNextTask answers 200 with the next task, or 404 with the reason
// when the stream is empty for the caller. Whatever the caller's role,
// the task carries only their own annotations: the stream is for labeling,
// not reviewing. It carries the predictions of the project's model
// version (all of them when none is set), for the editor to show.
func (s *Server) handleNextTask(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	var next *blobmark.NextTask
	if err == nil {
		next, err = s.LabelStream.NextTask(r.Context(), pr.ID)
	}
	var anns []*blobmark.Annotation
	if err == nil {
		anns, err = s.Annotations.FindAnnotations(r.Context(), next.Task.ID)
	}
	var preds []*blobmark.Prediction
	if err == nil {
		preds, err = s.findPredictions(r, next.Task.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	me := blobmark.UserIDFromContext(r.Context())
	anns = slices.DeleteFunc(anns, func(a *blobmark.Annotation) bool { return a.CompletedBy != me })
	if pr.ModelVersion != "" {
		preds = slices.DeleteFunc(preds, func(p *blobmark.Prediction) bool { return p.ModelVersion != pr.ModelVersion })
	}
	p := s.presenter(r.Context())
	p.noResolve = !resolveURIsRequested(r)
	p.rememberProject(pr)
	tj := p.taskJSON(next.Task, anns)
	p.addPredictions(&tj, preds)
	writeJSON(w, http.StatusOK, nextTaskJSON{task: tj, queue: next.Queue})
}

// handleLockTask takes or renews the caller's lock on a task: 200 with
// {task, user, expires_at}, 409 when the task has no place left for them.
func (s *Server) handleLockTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.taskFromPath(r)
	var lock *blobmark.TaskLock
	if err == nil {
		lock, err = s.LabelStream.LockTask(r.Context(), t.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, lock)
}

// handleUnlockTask releases the caller's lock on a task: 204, also when
// they held none (the page leaves without knowing).
func (s *Server) handleUnlockTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.taskFromPath(r)
	if err == nil {
		err = s.LabelStream.UnlockTask(r.Context(), t.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// findPredictions returns a task's predictions, none when the server
// serves no predictions.
func (s *Server) findPredictions(r *http.Request, taskID int64) ([]*blobmark.Prediction, error) {
	if s.Predictions == nil {
		return nil, nil
	}
	return s.Predictions.FindPredictions(r.Context(), blobmark.PredictionFilter{TaskID: taskID})
}
