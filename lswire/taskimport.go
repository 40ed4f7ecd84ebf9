package lswire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/blobmark/blobmark"
)

// TaskOptions holds what differs between the contexts a task is imported
// in. The format itself does not differ: the REST API and the storage sync
// accept and reject the same tasks.
type TaskOptions struct {
	// KeepCompletedBy keeps the user an imported annotation's
	// "completed_by" names: a user id, or a user object with an "id" (the
	// shape Label Studio's exports write). The REST API keeps it, since its
	// client names users of this server. Without it the field is ignored,
	// unchecked, like an annotation's own id and timestamps: a task file in
	// a container was written by another server, whose user ids mean
	// nothing here.
	KeepCompletedBy bool
}

// TaskError is a task that breaks the import format. Each caller says where
// the task is in its own words (its index in a request body, its blob key
// and line) and adds Where and Msg.
type TaskError struct {
	// Where names the part of the task at fault: "annotation 2",
	// "prediction 0", or "" for the task itself.
	Where string
	// Msg says what is wrong, as a sentence, e.g. `"result" must be a
	// list, got a string.`
	Msg string
}

func (e *TaskError) Error() string {
	if e.Where == "" {
		return e.Msg
	}
	return e.Where + ": " + e.Msg
}

func taskErrorf(where, format string, args ...any) *TaskError {
	return &TaskError{Where: where, Msg: fmt.Sprintf(format, args...)}
}

// ParseTask turns one task of Label Studio's import format into a task to
// import, and returns the top-level keys of its data (an import's
// data_columns). It is the only definition of the format; TaskReader splits
// a request body or task file into the tasks it reads. The rules:
//
//   - A task is a JSON object. One with a "data" key is a wrapper: its
//     "data" must be an object, the task's data; "meta" (an object),
//     "annotations" and "predictions" (lists of objects) are read, and
//     other keys (id, created_at, …) are ignored. An object without "data"
//     is the task's data itself ("bare" task), and may then have neither
//     "annotations" nor "predictions", which need somewhere to be kept
//     apart from the data.
//   - A "data" that is not an object is an error, as in Label Studio's
//     import API, which takes any task with "data" for a wrapper. (Its
//     storage sync instead stores {"data": "text"} as bare data with a key
//     named "data", silently; we reject it in both places, so that one
//     file imports the same through either and a mistake is named.)
//   - null is the same as absent, for every field but "data": no meta, no
//     annotations, an empty result, no score.
//   - An annotation keeps result (a list; absent means empty),
//     was_cancelled and ground_truth (booleans), lead_time (a number, not
//     negative) and, with KeepCompletedBy, completed_by. A prediction keeps
//     result, score (a number) and model_version (a string, or a number
//     kept as its text).
//   - A present predictions list, even an empty one, makes Predictions
//     non-nil: on a re-sync it replaces the task's predictions, where an
//     absent one keeps them.
//   - Data, meta and results are kept as the JSON they are, without
//     insignificant white space (a pretty-printed file would otherwise
//     store its indentation).
//
// Errors are *TaskError. Each task is decoded once into a map, and only a
// wrapper's parts again: imports of 10^5 tasks spend most of their CPU
// here.
func ParseTask(raw json.RawMessage, opts TaskOptions) (*blobmark.TaskImport, map[string]json.RawMessage, error) {
	if k := JSONKind(raw); k != "an object" {
		return nil, nil, taskErrorf("", "expected a JSON object, got %s.", k)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, nil, taskErrorf("", "invalid JSON: %s.", jsonReason(err))
	}
	data, wrapped := top["data"]
	if !wrapped {
		for _, k := range []string{"annotations", "predictions"} {
			if _, ok := top[k]; ok {
				return nil, nil, taskErrorf("", "a task with %q must put its data under \"data\": {\"data\": {...}, %q: [...]}.", k, k)
			}
		}
		return &blobmark.TaskImport{Data: compact(raw)}, top, nil
	}

	if k := JSONKind(data); k != "an object" {
		return nil, nil, taskErrorf("", "\"data\" must be a JSON object, got %s.", k)
	}
	var dataKeys map[string]json.RawMessage
	if err := json.Unmarshal(data, &dataKeys); err != nil {
		return nil, nil, taskErrorf("", "invalid JSON: %s.", jsonReason(err))
	}
	t := &blobmark.TaskImport{Data: compact(data)}
	switch k := JSONKind(top["meta"]); k {
	case "nothing", "null":
	case "an object":
		t.Meta = compact(top["meta"])
	default:
		return nil, nil, taskErrorf("", "\"meta\" must be a JSON object, got %s.", k)
	}

	anns, err := objectList(top, "annotations")
	if err != nil {
		return nil, nil, err
	}
	for j, raw := range anns {
		a, err := parseAnnotation(raw, opts)
		if err != nil {
			err.Where = "annotation " + strconv.Itoa(j)
			return nil, nil, err
		}
		t.Annotations = append(t.Annotations, a)
	}

	preds, err := objectList(top, "predictions")
	if err != nil {
		return nil, nil, err
	}
	if preds != nil {
		t.Predictions = make([]*blobmark.Prediction, 0, len(preds))
	}
	for j, raw := range preds {
		p, err := parsePrediction(raw)
		if err != nil {
			err.Where = "prediction " + strconv.Itoa(j)
			return nil, nil, err
		}
		t.Predictions = append(t.Predictions, p)
	}
	return t, dataKeys, nil
}

// parseAnnotation reads one imported annotation; its error's Where is the
// caller's to set. Ids, owners and timestamps come from this server.
func parseAnnotation(raw json.RawMessage, opts TaskOptions) (*blobmark.Annotation, *TaskError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, taskErrorf("", "invalid JSON: %s.", jsonReason(err))
	}
	a := &blobmark.Annotation{}
	var err *TaskError
	if a.Result, err = resultList(m["result"]); err != nil {
		return nil, err
	}
	if a.WasCancelled, err = boolField(m, "was_cancelled"); err != nil {
		return nil, err
	}
	if a.GroundTruth, err = boolField(m, "ground_truth"); err != nil {
		return nil, err
	}
	lead, err := numberField(m, "lead_time")
	if err != nil {
		return nil, err
	}
	if lead != nil {
		if *lead < 0 {
			return nil, taskErrorf("", "\"lead_time\" must not be negative.")
		}
		a.LeadTime = *lead
	}
	if opts.KeepCompletedBy {
		if a.CompletedBy, err = userRef(m["completed_by"]); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// parsePrediction reads one imported prediction; its error's Where is the
// caller's to set.
func parsePrediction(raw json.RawMessage) (*blobmark.Prediction, *TaskError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, taskErrorf("", "invalid JSON: %s.", jsonReason(err))
	}
	p := &blobmark.Prediction{}
	var err *TaskError
	if p.Result, err = resultList(m["result"]); err != nil {
		return nil, err
	}
	if p.Score, err = numberField(m, "score"); err != nil {
		return nil, err
	}
	switch v := m["model_version"]; JSONKind(v) {
	case "nothing", "null":
	case "a string":
		if err := json.Unmarshal(v, &p.ModelVersion); err != nil {
			return nil, taskErrorf("", "invalid JSON: %s.", jsonReason(err))
		}
	case "a number":
		p.ModelVersion = string(bytes.TrimSpace(v))
	default:
		return nil, taskErrorf("", "\"model_version\" must be a string, got %s.", JSONKind(v))
	}
	return p, nil
}

// objectList returns the items of top[field], which must be absent, null
// or a list of JSON objects; absent and null are a nil list.
func objectList(top map[string]json.RawMessage, field string) ([]json.RawMessage, *TaskError) {
	raw := top[field]
	switch k := JSONKind(raw); k {
	case "nothing", "null":
		return nil, nil
	case "an array":
	default:
		return nil, taskErrorf("", "%q must be a list, got %s.", field, k)
	}
	items := []json.RawMessage{}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, taskErrorf("", "invalid JSON: %s.", jsonReason(err))
	}
	for j, it := range items {
		if k := JSONKind(it); k != "an object" {
			return nil, taskErrorf("", "%q item %d must be a JSON object, got %s.", field, j, k)
		}
	}
	return items, nil
}

// resultList returns a result: a list of regions, kept as it is; absent
// or null is an empty list.
func resultList(raw json.RawMessage) (json.RawMessage, *TaskError) {
	switch k := JSONKind(raw); k {
	case "nothing", "null":
		return json.RawMessage("[]"), nil
	case "an array":
		return compact(raw), nil
	default:
		return nil, taskErrorf("", "\"result\" must be a list, got %s.", k)
	}
}

// boolField returns m[name], a boolean; absent and null are false.
func boolField(m map[string]json.RawMessage, name string) (bool, *TaskError) {
	switch v := bytes.TrimSpace(m[name]); JSONKind(v) {
	case "nothing", "null":
		return false, nil
	case "a boolean":
		return v[0] == 't', nil
	default:
		return false, taskErrorf("", "%q must be a boolean, got %s.", name, JSONKind(v))
	}
}

// numberField returns m[name], a number, or nil when it is absent or null.
func numberField(m map[string]json.RawMessage, name string) (*float64, *TaskError) {
	v := bytes.TrimSpace(m[name])
	switch k := JSONKind(v); k {
	case "nothing", "null":
		return nil, nil
	case "a number":
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil { // out of range: JSON numbers are otherwise valid floats
			return nil, taskErrorf("", "%q must be a number, got %s.", name, v)
		}
		return &f, nil
	default:
		return nil, taskErrorf("", "%q must be a number, got %s.", name, k)
	}
}

// userRef reads completed_by: a user id, or a user object with an id (the
// shape Label Studio's exports use). Absent or null is 0, which the store
// takes for the importing user.
func userRef(raw json.RawMessage) (int64, *TaskError) {
	raw = bytes.TrimSpace(raw)
	switch k := JSONKind(raw); k {
	case "nothing", "null":
		return 0, nil
	case "a number":
		id, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || id <= 0 {
			return 0, taskErrorf("", "\"completed_by\" must be a positive user id, got %s.", raw)
		}
		return id, nil
	case "an object":
		var u struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(raw, &u)
		if JSONKind(u.ID) != "a number" {
			return 0, taskErrorf("", "\"completed_by\" must be a user id or an object with an \"id\".")
		}
		return userRef(u.ID)
	default:
		return 0, taskErrorf("", "\"completed_by\" must be a user id, got %s.", k)
	}
}

// JSONKind names the kind of JSON value raw starts with, for messages: "an
// object", "an array", "a string", "a number", "a boolean", "null";
// "nothing" for no value and "invalid JSON" for a byte no value starts with.
func JSONKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	}
	return "invalid JSON"
}

// compact returns valid JSON raw without insignificant white space. JSON
// with white space only inside its strings, the common case ("a photo of a
// cat"), is returned as it is, found in one pass that is several times
// cheaper than json.Compact's.
func compact(raw []byte) json.RawMessage {
	if !spaced(raw) {
		return raw
	}
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// spaced reports whether valid JSON raw has white space outside its
// strings.
func spaced(raw []byte) bool {
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case inString && c == '\\':
			i++ // the escaped byte cannot end the string
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return true
		}
	}
	return false
}
