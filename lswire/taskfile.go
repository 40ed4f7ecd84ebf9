package lswire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/blobmark/blobmark"
)

// utf8BOM is tolerated at the start of a task file: editors on Windows add it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseTaskFile parses a Tasks-mode file into tasks. It accepts what Label
// Studio accepts — one JSON object (one task), a JSON array of objects, or
// JSON lines (one object per line, blank lines allowed) — plus a leading
// UTF-8 BOM. An object whose "data" is an object is a wrapper ("data",
// "meta", "annotations", "predictions"); any other object is the task data
// itself. The file is decoded as a stream; a caller that caps its size
// limits r.
//
// Content errors are EINVALID *blobmark.Error values naming the key and the
// array index or line number at fault. An error reading r is returned
// wrapped, so its own classification (e.g. a transient network error)
// survives.
func ParseTaskFile(key string, r io.Reader) ([]*blobmark.TaskImport, error) {
	tr := NewTaskReader(r, true)
	var tasks []*blobmark.TaskImport
	for {
		raw, err := tr.Next()
		if err == io.EOF {
			return tasks, nil
		} else if err != nil {
			return nil, fileError(key, err)
		}
		t, err := taskFromJSON(raw)
		if err != nil {
			if where := tr.Where(); where != "" {
				return nil, blobmark.Errorf(blobmark.EINVALID, "%s: %s: %s", key, where, err)
			}
			return nil, blobmark.Errorf(blobmark.EINVALID, "%s: %s", key, err)
		}
		tasks = append(tasks, t)
	}
}

// fileError names the file in a reading error.
func fileError(key string, err error) error {
	var se *SyntaxError
	var shape *ShapeError
	switch {
	case errors.Is(err, ErrEmpty):
		return blobmark.Errorf(blobmark.EINVALID, "%s: file is empty; expected JSON tasks", key)
	case errors.As(err, &shape):
		return blobmark.Errorf(blobmark.EINVALID, "%s: %s; if these are media files, import them with use_blob_urls (Files mode)", key, shape)
	case errors.As(err, &se):
		return blobmark.Errorf(blobmark.EINVALID, "%s: %s", key, se)
	}
	return fmt.Errorf("%s: reading task file: %w", key, err)
}

// importAnnotation is the part of an imported annotation blobmark keeps;
// ids, owners and timestamps come from the importing server.
type importAnnotation struct {
	Result       json.RawMessage `json:"result"`
	WasCancelled bool            `json:"was_cancelled"`
	GroundTruth  bool            `json:"ground_truth"`
	LeadTime     float64         `json:"lead_time"`
}

// importPrediction is the part of an imported prediction blobmark keeps.
type importPrediction struct {
	Result       json.RawMessage `json:"result"`
	Score        *float64        `json:"score"`
	ModelVersion string          `json:"model_version"`
}

// taskFromJSON turns one JSON object into a task. Only "data" holding an
// object makes a wrapper, as in Label Studio: {"data": "some text"} is a bare
// task whose data field is a string.
func taskFromJSON(raw []byte) (*blobmark.TaskImport, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("invalid JSON: %s", jsonReason(err))
	}
	data, wrapped := m["data"]
	if wrapped && !isJSONObject(data) {
		wrapped = false
	}
	if !wrapped {
		for _, k := range []string{"annotations", "predictions"} {
			if _, ok := m[k]; ok {
				return nil, fmt.Errorf(`%q need the task's data inside a "data" object`, k)
			}
		}
		return &blobmark.TaskImport{Data: compact(raw)}, nil
	}
	t := &blobmark.TaskImport{Data: compact(data)}
	if meta, ok := m["meta"]; ok && !isJSONNull(meta) {
		if !isJSONObject(meta) {
			return nil, errors.New(`"meta" must be a JSON object`)
		}
		t.Meta = compact(meta)
	}
	var anns []importAnnotation
	if err := decodeList(m, "annotations", &anns); err != nil {
		return nil, err
	}
	for i, a := range anns {
		res, err := resultArray(a.Result)
		if err != nil {
			return nil, fmt.Errorf("annotations[%d]: %s", i, err)
		}
		t.Annotations = append(t.Annotations, &blobmark.Annotation{
			Result: res, WasCancelled: a.WasCancelled, GroundTruth: a.GroundTruth, LeadTime: a.LeadTime,
		})
	}
	var preds []importPrediction
	if err := decodeList(m, "predictions", &preds); err != nil {
		return nil, err
	}
	if preds != nil {
		// A present (even empty) predictions list is kept non-nil: for a
		// changed file it means "replace the task's predictions".
		t.Predictions = make([]*blobmark.Prediction, 0, len(preds))
	}
	for i, pr := range preds {
		res, err := resultArray(pr.Result)
		if err != nil {
			return nil, fmt.Errorf("predictions[%d]: %s", i, err)
		}
		t.Predictions = append(t.Predictions, &blobmark.Prediction{
			Result: res, Score: pr.Score, ModelVersion: pr.ModelVersion,
		})
	}
	return t, nil
}

// decodeList decodes m[name], which must be absent, null or an array of
// objects, into out (a pointer to a slice).
func decodeList(m map[string]json.RawMessage, name string, out any) error {
	raw, ok := m[name]
	if !ok || isJSONNull(raw) {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("%q must be a JSON array", name)
	}
	for i, it := range items {
		if !isJSONObject(it) {
			return fmt.Errorf("%s[%d] is not a JSON object", name, i)
		}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: %s", name, jsonReason(err))
	}
	return nil
}

// resultArray returns an annotation or prediction result: a JSON array,
// with a missing or null result taken as empty.
func resultArray(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || isJSONNull(raw) {
		return json.RawMessage("[]"), nil
	}
	if raw = bytes.TrimSpace(raw); raw[0] != '[' {
		return nil, errors.New(`"result" must be a JSON array`)
	}
	return compact(raw), nil
}

func isJSONObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func isJSONNull(raw []byte) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// compact returns valid JSON without insignificant whitespace, in a fresh
// slice (pretty-printed files would otherwise store their indentation).
func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}
