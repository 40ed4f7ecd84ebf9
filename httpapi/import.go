package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
)

// maxReportedImportErrors bounds the messages of a rejected import: enough
// to show a pattern, not a second copy of a broken file.
const maxReportedImportErrors = 20

// importResponse is Label Studio's (Community edition) import answer.
type importResponse struct {
	TaskCount        int      `json:"task_count"`
	AnnotationCount  int      `json:"annotation_count"`
	PredictionCount  int      `json:"prediction_count"`
	Duration         float64  `json:"duration"`
	FileUploadIDs    []int64  `json:"file_upload_ids"`
	CouldBeTasksList bool     `json:"could_be_tasks_list"`
	FoundFormats     []string `json:"found_formats"`
	DataColumns      []string `json:"data_columns"`
	TaskIDs          []int64  `json:"task_ids,omitzero"`
}

// handleImportTasks serves POST /api/projects/{id}/import (no trailing
// slash). The body is a JSON array of tasks, or one task object; a task is
// either bare data or {data, meta, annotations, predictions}. Every task is
// validated before anything is written, and the store writes all of them in
// one transaction, so a bad task rejects the whole import.
func (s *Server) handleImportTasks(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// An unknown (or hidden) project is a 404 before a large body is read.
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	projectID := pr.ID
	body, err := s.readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var items []json.RawMessage
	switch jsonKind(body) {
	case "an array":
		err = jsonError(json.Unmarshal(body, &items), "")
	case "an object":
		if json.Valid(body) {
			items = []json.RawMessage{body}
		} else {
			err = jsonError(json.Unmarshal(body, new(json.RawMessage)), "")
		}
	case "nothing":
		err = blobmark.Errorf(blobmark.EINVALID, "The request body is empty; send a JSON array of tasks.")
	default:
		err = blobmark.Errorf(blobmark.EINVALID, "Expected a JSON array of tasks or one task object, got %s.", jsonKind(body))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(items) == 0 {
		s.writeError(w, r, blobmark.FieldErrorf("tasks", "No tasks found in the request body; nothing was imported."))
		return
	}

	tasks, columns, err := s.parseImport(r, items)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Tasks.ImportTasks(r.Context(), projectID, tasks)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := importResponse{
		TaskCount:       res.TaskCount,
		AnnotationCount: res.AnnotationCount,
		PredictionCount: res.PredictionCount,
		Duration:        time.Since(start).Seconds(),
		FileUploadIDs:   []int64{},
		FoundFormats:    []string{},
		DataColumns:     columns,
	}
	if ok, _ := strconv.ParseBool(r.URL.Query().Get("return_task_ids")); ok {
		out.TaskIDs = res.TaskIDs
		if out.TaskIDs == nil {
			out.TaskIDs = []int64{}
		}
	}
	writeJSON(w, http.StatusCreated, out)
}

// parseImport validates every task of an import and returns them ready for
// the store, with the data keys found (sorted). On any invalid task it
// returns one EINVALID error on field "tasks" naming each bad task by its
// index in the array.
func (s *Server) parseImport(r *http.Request, items []json.RawMessage) ([]*blobmark.TaskImport, []string, error) {
	tasks := make([]*blobmark.TaskImport, 0, len(items))
	columns := map[string]bool{}
	users := map[int64][]string{} // completed_by id → where it is named
	var problems []string
	bad := 0
	for i, raw := range items {
		t, keys, err := parseImportTask(raw, i)
		if err != nil {
			bad++
			if len(problems) < maxReportedImportErrors {
				problems = append(problems, blobmark.ErrorMessage(err))
			}
			continue
		}
		tasks = append(tasks, t)
		for k := range keys {
			columns[k] = true
		}
		for j, a := range t.Annotations {
			if a.CompletedBy != 0 && len(users[a.CompletedBy]) == 0 {
				users[a.CompletedBy] = append(users[a.CompletedBy], fmt.Sprintf("Task %d, annotation %d: ", i, j))
			}
		}
	}
	if bad == 0 {
		for _, id := range slices.Sorted(maps.Keys(users)) {
			if _, err := s.Users.FindUserByID(r.Context(), id); blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
				bad++
				problems = append(problems, fmt.Sprintf("%s\"completed_by\" names user %d, who does not exist.", users[id][0], id))
			} else if err != nil {
				return nil, nil, err
			}
		}
	}
	if bad > 0 {
		if bad > len(problems) {
			problems = append(problems, fmt.Sprintf("... and %d more invalid tasks.", bad-len(problems)))
		}
		return nil, nil, &blobmark.Error{
			Code: blobmark.EINVALID,
			Message: fmt.Sprintf("%d of %d tasks are invalid; nothing was imported. %s",
				bad, len(items), problems[0]),
			Fields: map[string][]string{"tasks": problems},
		}
	}
	return tasks, slices.Sorted(maps.Keys(columns)), nil
}

// importTask is a task in Label Studio's import format. Only its keys are
// looked at; a task without "data" is bare data.
type importTask struct {
	Data        json.RawMessage `json:"data"`
	Meta        json.RawMessage `json:"meta"`
	Annotations json.RawMessage `json:"annotations"`
	Predictions json.RawMessage `json:"predictions"`
}

type importAnnotation struct {
	Result       json.RawMessage `json:"result"`
	WasCancelled bool            `json:"was_cancelled"`
	GroundTruth  bool            `json:"ground_truth"`
	LeadTime     float64         `json:"lead_time"`
	CompletedBy  json.RawMessage `json:"completed_by"`
}

type importPrediction struct {
	Result       json.RawMessage `json:"result"`
	Score        *float64        `json:"score"`
	ModelVersion json.RawMessage `json:"model_version"`
}

// parseImportTask validates task number i of an import and returns it with
// its data object's top-level keys (the import's data_columns); its messages
// start with "Task i: ". Each task is decoded once into a map and only a
// wrapped task is decoded again: imports of 10^5 tasks spend most of their
// CPU here.
func parseImportTask(raw json.RawMessage, i int) (*blobmark.TaskImport, map[string]json.RawMessage, error) {
	where := func() string { return fmt.Sprintf("Task %d: ", i) }
	invalid := func(format string, args ...any) error {
		return blobmark.Errorf(blobmark.EINVALID, where()+format, args...)
	}
	if k := jsonKind(raw); k != "an object" {
		return nil, nil, invalid("expected a JSON object, got %s.", k)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, nil, jsonError(err, where())
	}
	if _, ok := keys["data"]; !ok {
		for _, k := range []string{"annotations", "predictions"} {
			if _, ok := keys[k]; ok {
				return nil, nil, invalid("a task with %q must put its data under \"data\": {\"data\": {...}, %q: [...]}.", k, k)
			}
		}
		return &blobmark.TaskImport{Data: raw, Meta: json.RawMessage("{}")}, keys, nil
	}

	var in importTask
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, nil, jsonError(err, where())
	}
	if k := jsonKind(in.Data); k != "an object" {
		return nil, nil, invalid("\"data\" must be a JSON object, got %s.", k)
	}
	var dataKeys map[string]json.RawMessage
	if err := json.Unmarshal(in.Data, &dataKeys); err != nil {
		return nil, nil, jsonError(err, where())
	}
	t := &blobmark.TaskImport{Data: in.Data, Meta: json.RawMessage("{}")}
	switch k := jsonKind(in.Meta); k {
	case "nothing", "null":
	case "an object":
		t.Meta = in.Meta
	default:
		return nil, nil, invalid("\"meta\" must be a JSON object, got %s.", k)
	}

	anns, err := objectList(in.Annotations, "annotations", where())
	if err != nil {
		return nil, nil, err
	}
	for j, raw := range anns {
		at := fmt.Sprintf("Task %d, annotation %d: ", i, j)
		var a importAnnotation
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, nil, jsonError(err, at)
		}
		result, err := resultList(a.Result, at)
		if err != nil {
			return nil, nil, err
		}
		completedBy, err := userRef(a.CompletedBy, at)
		if err != nil {
			return nil, nil, err
		}
		if a.LeadTime < 0 {
			return nil, nil, blobmark.Errorf(blobmark.EINVALID, "%s\"lead_time\" must not be negative.", at)
		}
		t.Annotations = append(t.Annotations, &blobmark.Annotation{
			Result:       result,
			WasCancelled: a.WasCancelled,
			GroundTruth:  a.GroundTruth,
			LeadTime:     a.LeadTime,
			CompletedBy:  completedBy,
		})
	}

	preds, err := objectList(in.Predictions, "predictions", where())
	if err != nil {
		return nil, nil, err
	}
	for j, raw := range preds {
		at := fmt.Sprintf("Task %d, prediction %d: ", i, j)
		var p importPrediction
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, nil, jsonError(err, at)
		}
		result, err := resultList(p.Result, at)
		if err != nil {
			return nil, nil, err
		}
		version := ""
		switch k := jsonKind(p.ModelVersion); k {
		case "nothing", "null":
		case "a string":
			_ = json.Unmarshal(p.ModelVersion, &version)
		case "a number":
			version = string(bytes.TrimSpace(p.ModelVersion))
		default:
			return nil, nil, blobmark.Errorf(blobmark.EINVALID, "%s\"model_version\" must be a string, got %s.", at, k)
		}
		t.Predictions = append(t.Predictions, &blobmark.Prediction{Result: result, Score: p.Score, ModelVersion: version})
	}
	return t, dataKeys, nil
}

// objectList checks that raw, when present, is a list of JSON objects.
func objectList(raw json.RawMessage, field, where string) ([]json.RawMessage, error) {
	switch k := jsonKind(raw); k {
	case "nothing", "null":
		return nil, nil
	case "an array":
	default:
		return nil, blobmark.Errorf(blobmark.EINVALID, "%s%q must be a list, got %s.", where, field, k)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, jsonError(err, where)
	}
	for j, it := range items {
		if k := jsonKind(it); k != "an object" {
			return nil, blobmark.Errorf(blobmark.EINVALID, "%s%q item %d must be a JSON object, got %s.", where, field, j, k)
		}
	}
	return items, nil
}

// resultList checks a result: absent means an empty list, anything else
// must be a list (of regions, kept verbatim).
func resultList(raw json.RawMessage, where string) (json.RawMessage, error) {
	switch k := jsonKind(raw); k {
	case "nothing":
		return json.RawMessage("[]"), nil
	case "an array":
		return raw, nil
	default:
		return nil, blobmark.Errorf(blobmark.EINVALID, "%s\"result\" must be a list, got %s.", where, k)
	}
}

// userRef reads completed_by: a user id, or a user object with an id (the
// shape Label Studio's exports use). Absent means the importing user.
func userRef(raw json.RawMessage, where string) (int64, error) {
	switch k := jsonKind(raw); k {
	case "nothing", "null":
		return 0, nil
	case "a number":
		var id int64
		if err := json.Unmarshal(raw, &id); err != nil || id <= 0 {
			return 0, blobmark.Errorf(blobmark.EINVALID, "%s\"completed_by\" must be a positive user id, got %s.", where, raw)
		}
		return id, nil
	case "an object":
		var u struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(raw, &u)
		if jsonKind(u.ID) != "a number" {
			return 0, blobmark.Errorf(blobmark.EINVALID, "%s\"completed_by\" must be a user id or an object with an \"id\".", where)
		}
		return userRef(u.ID, where)
	default:
		return 0, blobmark.Errorf(blobmark.EINVALID, "%s\"completed_by\" must be a user id, got %s.", where, k)
	}
}
