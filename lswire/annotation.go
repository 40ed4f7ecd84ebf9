package lswire

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"github.com/blobmark/blobmark"
)

// Annotation is an annotation's fields as Label Studio names them: its
// annotation model's fields in model order, which is the order of an
// annotation in the JSON export, then created_username and created_ago,
// which its annotation serializer adds. Fields blobmark does not model
// (drafts, imports, review links) hold the values Label Studio writes when
// they are empty. completed_by is the annotator's id here; the exports
// write the user object instead (see User). The serializers pick and
// reorder these keys: see ExportAnnotationKeys, StorageAnnotationKeys and
// APIAnnotationKeys.
type Annotation struct {
	ID               int64           `json:"id"`
	CompletedBy      int64           `json:"completed_by"`
	Result           json.RawMessage `json:"result"`
	WasCancelled     bool            `json:"was_cancelled"`
	GroundTruth      bool            `json:"ground_truth"`
	CreatedAt        Time            `json:"created_at"`
	UpdatedAt        Time            `json:"updated_at"`
	DraftCreatedAt   *Time           `json:"draft_created_at"`
	LeadTime         PyFloat         `json:"lead_time"`
	Prediction       struct{}        `json:"prediction"`
	ResultCount      int             `json:"result_count"`
	ImportID         *int64          `json:"import_id"`
	LastAction       *string         `json:"last_action"`
	BulkCreated      bool            `json:"bulk_created"`
	Task             int64           `json:"task"`
	Project          int64           `json:"project"`
	UpdatedBy        *int64          `json:"updated_by"`
	ParentPrediction *int64          `json:"parent_prediction"`
	ParentAnnotation *int64          `json:"parent_annotation"`
	LastCreatedBy    *int64          `json:"last_created_by"`
	CreatedUsername  string          `json:"created_username"`
	CreatedAgo       string          `json:"created_ago"`
}

// NewAnnotation returns a's wire fields. A result stored empty or null is
// written as [], and result_count counts its regions. created_username,
// created_ago and updated_by are left empty: how they are filled is each
// serializer's choice.
func NewAnnotation(a *blobmark.Annotation) Annotation {
	result := JSONOr(a.Result, "[]")
	return Annotation{
		ID:           a.ID,
		CompletedBy:  a.CompletedBy,
		Result:       result,
		WasCancelled: a.WasCancelled,
		GroundTruth:  a.GroundTruth,
		CreatedAt:    Time(a.CreatedAt),
		UpdatedAt:    Time(a.UpdatedAt),
		LeadTime:     PyFloat(a.LeadTime),
		ResultCount:  regionCount(result),
		Task:         a.TaskID,
		Project:      a.ProjectID,
	}
}

// ExportAnnotationKeys is the order of an annotation inside a task of
// Label Studio's JSON export: every model field, completed_by expanded to
// the user.
var ExportAnnotationKeys = []string{
	"id", "completed_by", "result", "was_cancelled", "ground_truth", "created_at", "updated_at",
	"draft_created_at", "lead_time", "prediction", "result_count", "import_id", "last_action",
	"bulk_created", "task", "project", "updated_by", "parent_prediction", "parent_annotation",
	"last_created_by",
}

// StorageAnnotationKeys is the order of Label Studio's storage annotation
// serializer, the object written per annotation to a target storage: the
// model's fields without prediction and result_count, with the user and
// the task nested.
var StorageAnnotationKeys = []string{
	"id", "created_username", "created_ago", "completed_by", "task", "result", "was_cancelled",
	"ground_truth", "created_at", "updated_at", "draft_created_at", "lead_time", "import_id",
	"last_action", "bulk_created", "project", "updated_by", "parent_prediction", "parent_annotation",
	"last_created_by",
}

// APIAnnotationKeys is the order of an annotation in the REST API's
// answers, alone or inside a task.
var APIAnnotationKeys = []string{
	"id", "task", "project", "result", "was_cancelled", "ground_truth", "lead_time", "completed_by",
	"created_at", "updated_at", "created_username", "created_ago", "updated_by", "result_count",
	"last_action", "last_created_by", "draft_created_at", "import_id", "parent_prediction",
	"parent_annotation", "bulk_created",
}

// User is the annotator as Label Studio nests it in an exported
// annotation's completed_by, in the order of the storage serializer (the
// JSON export orders it as ExportUserKeys).
type User struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// NewUser returns the completed_by of an annotation by annotator id: nil
// (null) without an annotator, the id alone when the user is unknown
// (deleted), the user's names and email otherwise.
func NewUser(id int64, u *blobmark.User) *User {
	if id == 0 {
		return nil
	}
	out := &User{ID: id}
	if u != nil {
		out.FirstName, out.LastName, out.Email = u.FirstName, u.LastName, u.Email
	}
	return out
}

// ExportUserKeys is the order of completed_by in Label Studio's JSON
// export, which lists the email before the names.
var ExportUserKeys = []string{"id", "email", "first_name", "last_name"}

// ExportUser is a User written in ExportUserKeys order.
type ExportUser User

// MarshalJSON implements json.Marshaler.
func (u ExportUser) MarshalJSON() ([]byte, error) {
	return Encode(ExportUserKeys, User(u))
}

// CreatedUsername spells the annotator as Label Studio's created_username
// does: names, email and id, e.g. "Ada Lovelace ada@example.com, 7"; empty
// when the user is unknown.
func CreatedUsername(id int64, u *blobmark.User) string {
	if u == nil {
		return ""
	}
	name := u.FirstName
	if u.LastName != "" {
		name += " " + u.LastName
	}
	return name + " " + u.Email + ", " + strconv.FormatInt(id, 10)
}

// Prediction is a prediction's fields as Label Studio's JSON export writes
// them, in its order; fields blobmark does not model (clusters, model
// runs) hold Label Studio's empty values.
type Prediction struct {
	ID           int64           `json:"id"`
	ModelVersion string          `json:"model_version"`
	CreatedAgo   string          `json:"created_ago"`
	Result       json.RawMessage `json:"result"`
	Score        *PyFloat        `json:"score"`
	Cluster      *int64          `json:"cluster"`
	Neighbors    json.RawMessage `json:"neighbors"`
	Mislabeling  PyFloat         `json:"mislabeling"`
	CreatedAt    Time            `json:"created_at"`
	UpdatedAt    Time            `json:"updated_at"`
	Model        *int64          `json:"model"`
	ModelRun     *int64          `json:"model_run"`
	Task         int64           `json:"task"`
	Project      int64           `json:"project"`
}

// NewPrediction returns p's wire fields. created_ago is left empty: it is
// a display field that would make the bytes depend on the clock.
func NewPrediction(p *blobmark.Prediction) Prediction {
	out := Prediction{
		ID:           p.ID,
		ModelVersion: p.ModelVersion,
		Result:       JSONOr(p.Result, "[]"),
		Neighbors:    json.RawMessage("null"),
		CreatedAt:    Time(p.CreatedAt),
		UpdatedAt:    Time(p.UpdatedAt),
		Task:         p.TaskID,
		Project:      p.ProjectID,
	}
	if p.Score != nil {
		s := PyFloat(*p.Score)
		out.Score = &s
	}
	return out
}

// regionCount is Label Studio's result_count: the number of result regions,
// the items of the result array, 0 when it is not an array. It counts the
// array's top-level commas rather than decoding the regions, which the
// store validated when it stored them.
func regionCount(result json.RawMessage) int {
	b := bytes.TrimSpace(result)
	if len(b) < 2 || b[0] != '[' || len(bytes.TrimSpace(b[1:len(b)-1])) == 0 {
		return 0
	}
	n, depth, inString := 1, 0, false
	for i := 1; i < len(b)-1; i++ {
		switch c := b[i]; {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			n++
		}
	}
	return n
}

// PyFloat writes a float as Python does for a float field: integral values
// keep a ".0" (4.0, not 4), so consumers that check types see a float.
// NaN and infinities, which JSON cannot carry, are written as null.
type PyFloat float64

// MarshalJSON implements json.Marshaler.
func (f PyFloat) MarshalJSON() ([]byte, error) {
	return f.appendJSON(nil), nil
}

// appendJSON appends f as MarshalJSON writes it: the number as
// encoding/json writes a float64 (shortest form, exponent only below 1e-6
// or from 1e21 on, without a leading zero in a negative exponent), with
// ".0" added when that has neither a point nor an exponent.
func (f PyFloat) appendJSON(b []byte) []byte {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	start := len(b)
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if n := len(b); format == 'e' && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // e-07 becomes e-7
		b = b[:n-1]
	}
	if !bytes.ContainsAny(b[start:], ".eE") {
		b = append(b, ".0"...)
	}
	return b
}
