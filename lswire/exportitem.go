package lswire

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
)

// This file writes the item of the JSON export (TaskJSON) by hand. It is
// the loop of every project export and snapshot, run once per task and
// annotation, so it appends to the caller's buffer what Encode would
// write, without reflection and without reading its own output back:
//
//   - the keys are written in the order of ExportTaskKeys and
//     ExportAnnotationKeys, the fields blobmark does not model as the
//     constants Label Studio writes for them;
//   - the stored JSON columns (data, meta, result) are copied, only
//     compacted, never decoded nor validated again: the store validated
//     them when they were written.
//
// TestAppendTaskJSONMatchesEncode holds it to Encode's bytes.

// AppendTaskJSON appends TaskJSON's object to dst and returns the extended
// buffer, so that an export writing many items reuses one buffer.
func AppendTaskJSON(dst []byte, task *blobmark.Task, annotations []*blobmark.Annotation, predictions []*blobmark.Prediction, users map[int64]*blobmark.User) ([]byte, error) {
	if task == nil {
		return nil, blobmark.Errorf(blobmark.EINTERNAL, "task export needs the task")
	}
	b := append(dst, `{"id":`...)
	b = strconv.AppendInt(b, task.ID, 10)
	b = append(b, `,"annotations":[`...)
	for i, a := range byID(annotations, func(a *blobmark.Annotation) int64 { return a.ID }) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendExportAnnotation(b, a, users[a.CompletedBy])
	}
	b = append(b, `],"file_upload":null,"drafts":[],"predictions":[`...)
	for i, p := range byID(predictions, func(p *blobmark.Prediction) int64 { return p.ID }) {
		if i > 0 {
			b = append(b, ',')
		}
		// Predictions are rare in an export and keep their struct order,
		// so encoding/json writes them.
		pb, err := marshal(NewPrediction(p))
		if err != nil {
			return nil, &blobmark.Error{Code: blobmark.EINTERNAL, Message: "cannot serialize export object", Err: err}
		}
		b = append(b, pb...)
	}
	b = append(b, `],"data":`...)
	b = appendCompact(b, JSONOr(task.Data, "{}"))
	b = append(b, `,"meta":`...)
	b = appendCompact(b, JSONOr(task.Meta, "{}"))
	b = append(b, `,"created_at":`...)
	b = Time(task.CreatedAt).appendJSON(b)
	b = append(b, `,"updated_at":`...)
	b = Time(task.UpdatedAt).appendJSON(b)
	b = appendIntMember(b, "inner_id", task.InnerID)
	b = appendIntMember(b, "total_annotations", int64(task.TotalAnnotations))
	b = appendIntMember(b, "cancelled_annotations", int64(task.CancelledAnnotations))
	b = appendIntMember(b, "total_predictions", int64(task.TotalPredictions))
	b = append(b, `,"comment_count":0,"unresolved_comment_count":0,"last_comment_updated_at":null`...)
	b = appendIntMember(b, "project", task.ProjectID)
	return append(b, `,"updated_by":null,"comment_authors":[]}`...), nil
}

// appendExportAnnotation appends an annotation as the JSON export nests it
// in its task (ExportAnnotationKeys), completed_by expanded to user.
func appendExportAnnotation(b []byte, a *blobmark.Annotation, user *blobmark.User) []byte {
	result := JSONOr(a.Result, "[]")
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, a.ID, 10)
	b = append(b, `,"completed_by":`...)
	b = appendExportUser(b, NewUser(a.CompletedBy, user))
	b = append(b, `,"result":`...)
	b = appendCompact(b, result)
	b = append(b, `,"was_cancelled":`...)
	b = strconv.AppendBool(b, a.WasCancelled)
	b = append(b, `,"ground_truth":`...)
	b = strconv.AppendBool(b, a.GroundTruth)
	b = append(b, `,"created_at":`...)
	b = Time(a.CreatedAt).appendJSON(b)
	b = append(b, `,"updated_at":`...)
	b = Time(a.UpdatedAt).appendJSON(b)
	b = append(b, `,"draft_created_at":null,"lead_time":`...)
	b = PyFloat(a.LeadTime).appendJSON(b)
	b = append(b, `,"prediction":{}`...)
	b = appendIntMember(b, "result_count", int64(regionCount(result)))
	b = append(b, `,"import_id":null,"last_action":null,"bulk_created":false`...)
	b = appendIntMember(b, "task", a.TaskID)
	b = appendIntMember(b, "project", a.ProjectID)
	return append(b, `,"updated_by":null,"parent_prediction":null,"parent_annotation":null,"last_created_by":null}`...)
}

// appendExportUser appends u in ExportUserKeys order, null when nil.
func appendExportUser(b []byte, u *User) []byte {
	if u == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, `,"email":`...)
	b = appendString(b, u.Email)
	b = append(b, `,"first_name":`...)
	b = appendString(b, u.FirstName)
	b = append(b, `,"last_name":`...)
	b = appendString(b, u.LastName)
	return append(b, '}')
}

// appendIntMember appends `,"key":n`.
func appendIntMember(b []byte, key string, n int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, n, 10)
}

// appendString appends s as a JSON string the way marshal writes it.
// Printable ASCII without quotes or backslashes, what names and emails
// nearly always are, is copied between quotes; anything else is left to
// encoding/json, whose escaping rules (control characters, invalid UTF-8,
// U+2028 and U+2029) are the ones to match.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			quoted, _ := marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendCompact appends src, a valid JSON value, without the whitespace
// between its tokens: the bytes encoding/json writes for a json.RawMessage
// when it does not escape HTML. Unlike encoding/json it does not check
// that src is valid, which the store did when it stored it.
func appendCompact(dst, src []byte) []byte {
	inString := false
	start := 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// byID returns s in ascending id order: s itself when it already is, as
// the store returns rows, else a sorted copy (the caller's slice is left
// as it is).
func byID[T any](s []T, id func(T) int64) []T {
	less := func(x, y T) int { return cmp.Compare(id(x), id(y)) }
	if slices.IsSortedFunc(s, less) {
		return s
	}
	return slices.SortedFunc(slices.Values(s), less)
}

// appendJSON appends t as MarshalJSON writes it, digit by digit: the
// layout-driven time.Format was a visible part of an export's time.
func (t Time) appendJSON(b []byte) []byte {
	tt := time.Time(t)
	if tt.IsZero() {
		return append(b, "null"...)
	}
	tt = tt.UTC()
	year, month, day := tt.Date()
	if year < 1 || year > 9999 {
		return append(b, t.format()...)
	}
	hour, minute, sec := tt.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	if micro := tt.Nanosecond() / 1000; micro != 0 {
		b = append(b, '.')
		b = appendDigits(b, micro, 6)
	}
	return append(b, 'Z', '"')
}

// appendDigits appends n, which is not negative, zero-padded to width
// digits.
func appendDigits(b []byte, n, width int) []byte {
	var buf [8]byte
	i := len(buf)
	for ; width > 0 || n > 0; width-- {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, buf[i:]...)
}
