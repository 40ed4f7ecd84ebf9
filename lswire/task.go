package lswire

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/blobmark/blobmark"
)

// Task is a task's model fields as Label Studio names them, in the order of
// its task model, which is the order its storage serializer writes them
// (the "task" nested in each exported annotation). Fields blobmark does not
// model (comments, file uploads, who last edited) hold the values Label
// Studio writes when they are empty, so its clients find every key they
// read. The other serializers pick and reorder these keys: see Encode,
// ExportTaskKeys and APITaskKeys.
type Task struct {
	ID                     int64           `json:"id"`
	Data                   json.RawMessage `json:"data"`
	Meta                   json.RawMessage `json:"meta"`
	CreatedAt              Time            `json:"created_at"`
	UpdatedAt              Time            `json:"updated_at"`
	IsLabeled              bool            `json:"is_labeled"`
	Overlap                int             `json:"overlap"`
	InnerID                int64           `json:"inner_id"`
	TotalAnnotations       int             `json:"total_annotations"`
	CancelledAnnotations   int             `json:"cancelled_annotations"`
	TotalPredictions       int             `json:"total_predictions"`
	CommentCount           int             `json:"comment_count"`
	UnresolvedCommentCount int             `json:"unresolved_comment_count"`
	LastCommentUpdatedAt   *Time           `json:"last_comment_updated_at"`
	Project                int64           `json:"project"`
	UpdatedBy              *int64          `json:"updated_by"`
	FileUpload             *string         `json:"file_upload"`
	CommentAuthors         []int64         `json:"comment_authors"`
}

// NewTask returns t's wire fields. Data and meta stored empty or null are
// written as {}, as Label Studio does; overlap is 1, Label Studio's
// default, since blobmark keeps no per-task overlap (a caller that knows
// the project's may set it).
func NewTask(t *blobmark.Task) Task {
	return Task{
		ID:                   t.ID,
		Data:                 JSONOr(t.Data, "{}"),
		Meta:                 JSONOr(t.Meta, "{}"),
		CreatedAt:            Time(t.CreatedAt),
		UpdatedAt:            Time(t.UpdatedAt),
		IsLabeled:            t.IsLabeled,
		Overlap:              1,
		InnerID:              t.InnerID,
		TotalAnnotations:     t.TotalAnnotations,
		CancelledAnnotations: t.CancelledAnnotations,
		TotalPredictions:     t.TotalPredictions,
		Project:              t.ProjectID,
		CommentAuthors:       []int64{},
	}
}

// ExportTaskKeys is the order of Label Studio's export data serializer (an
// item of the project's JSON export, and the object written per task in
// task mode): its declared fields annotations, file_upload, drafts and
// predictions first, then the model's fields without is_labeled and
// overlap.
var ExportTaskKeys = []string{
	"id", "annotations", "file_upload", "drafts", "predictions", "data", "meta", "created_at", "updated_at",
	"inner_id", "total_annotations", "cancelled_annotations", "total_predictions", "comment_count",
	"unresolved_comment_count", "last_comment_updated_at", "project", "updated_by", "comment_authors",
}

// APITaskKeys is the order of a task in the REST API's answers: the
// model's counters, then the lists the caller may ask for (annotations,
// predictions, annotators), then the data manager's fields, and last
// blob_missing, blobmark's own extension.
var APITaskKeys = []string{
	"id", "data", "meta", "created_at", "updated_at", "is_labeled", "overlap", "inner_id",
	"total_annotations", "cancelled_annotations", "total_predictions", "project",
	"annotations", "predictions", "annotators", "drafts", "comment_count", "unresolved_comment_count",
	"last_comment_updated_at", "comment_authors", "updated_by", "file_upload", "storage_filename",
	"blob_missing",
}

// Encode writes one JSON object with the keys of parts (structs or maps,
// typically a Task and what one serializer adds to it) in the order of
// keys. A key that a later part also has takes the later part's value,
// which is how a serializer that writes a field differently says so; keys
// the parts lack (omitted empty values) and part keys outside keys are left
// out. HTML characters are not escaped, as in Label Studio's output.
//
// It runs once per task and annotation of every export, so it splits the
// parts' encodings into members by scanning their bytes instead of
// decoding them into maps: the values are copied, never parsed again.
func Encode(keys []string, parts ...any) (json.RawMessage, error) {
	var all []member
	size := 2
	for _, part := range parts {
		b, err := marshal(part)
		if err != nil {
			return nil, err
		}
		if all, err = appendMembers(all, b); err != nil {
			return nil, err
		}
		size += len(b)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	for _, k := range keys {
		// The last part that has the key wins.
		i := len(all) - 1
		for i >= 0 && string(all[i].key) != k {
			i--
		}
		if i < 0 {
			continue
		}
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, k...)
		buf = append(buf, '"', ':')
		buf = append(buf, all[i].value...)
	}
	return append(buf, '}'), nil
}

// member is one key and its value in a JSON object, as raw bytes.
type member struct {
	key, value []byte // key without its quotes
}

var errNotObject = errors.New("lswire: a part of an object does not encode to a JSON object")

// appendMembers appends the members of b, a JSON object as encoding/json
// writes it (valid and compact), in document order. Keys are struct field
// names and map keys of this package, never escaped.
func appendMembers(out []member, b []byte) ([]member, error) {
	if len(b) < 2 || b[0] != '{' {
		return nil, errNotObject
	}
	i := 1
	for i < len(b) && b[i] != '}' {
		if b[i] == ',' {
			i++
		}
		k := stringEnd(b, i)
		if k < 0 || k >= len(b) || b[k] != ':' {
			return nil, errNotObject
		}
		v := valueEnd(b, k+1)
		if v < 0 {
			return nil, errNotObject
		}
		out = append(out, member{key: b[i+1 : k-1], value: b[k+1 : v]})
		i = v
	}
	return out, nil
}

// stringEnd returns the index just past the string starting at b[i], -1
// when there is none.
func stringEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index just past the value starting at b[i]: the
// comma or closing brace of its object that follows it.
func valueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			if i = stringEnd(b, i); i < 0 {
				return -1
			}
			i--
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// marshal is json.Marshal without HTML escaping and without the encoder's
// trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// JSONOr returns raw, or def when raw is empty or JSON null, so a task
// stored without meta is written as {} as Label Studio does.
func JSONOr(raw json.RawMessage, def string) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return json.RawMessage(def)
	}
	return raw
}

// Time writes a time as Django REST framework does: UTC ISO 8601 with a
// "Z", microseconds when there are any. The zero time is null.
type Time time.Time

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return t.appendJSON(nil), nil
}

// format is MarshalJSON's output written by time.Format, for the years
// appendJSON does not write itself.
func (t Time) format() string {
	tt := time.Time(t).UTC().Truncate(time.Microsecond)
	layout := `"2006-01-02T15:04:05Z"`
	if tt.Nanosecond() != 0 {
		layout = `"2006-01-02T15:04:05.000000Z"`
	}
	return tt.Format(layout)
}
