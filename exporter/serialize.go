package exporter

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

// The structs below spell out Label Studio's export shapes field by field;
// the task's own fields are lswire's, shared with the REST API.
// Structs, not maps, because encoding/json writes struct fields in
// declaration order: the same state always gives the same bytes, which lets
// the exporter skip uploads whose content did not change. Fields blobmark
// does not model (comments, drafts, review links...) are written with the
// value Label Studio writes when they are empty, so its clients find every
// key they read.

// lsUser is the completed_by object of Label Studio's exports.
type lsUser struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// lsExportUser is the same user in the project export, where Label Studio
// lists email before the names.
type lsExportUser struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// lsStorageAnnotation is the object Label Studio writes per annotation to a
// target storage (its storage annotation serializer): the annotation's
// fields except prediction and result_count, plus the nested task and user.
type lsStorageAnnotation struct {
	ID               int64           `json:"id"`
	CreatedUsername  string          `json:"created_username"`
	CreatedAgo       string          `json:"created_ago"`
	CompletedBy      *lsUser         `json:"completed_by"`
	Task             lswire.Task     `json:"task"`
	Result           json.RawMessage `json:"result"`
	WasCancelled     bool            `json:"was_cancelled"`
	GroundTruth      bool            `json:"ground_truth"`
	CreatedAt        lswire.Time     `json:"created_at"`
	UpdatedAt        lswire.Time     `json:"updated_at"`
	DraftCreatedAt   *lswire.Time    `json:"draft_created_at"`
	LeadTime         pyFloat         `json:"lead_time"`
	ImportID         *int64          `json:"import_id"`
	LastAction       *string         `json:"last_action"`
	BulkCreated      bool            `json:"bulk_created"`
	Project          int64           `json:"project"`
	UpdatedBy        *int64          `json:"updated_by"`
	ParentPrediction *int64          `json:"parent_prediction"`
	ParentAnnotation *int64          `json:"parent_annotation"`
	LastCreatedBy    *int64          `json:"last_created_by"`
}

// lsExportAnnotation is one annotation inside a task of Label Studio's JSON
// export: every annotation field, with completed_by expanded.
type lsExportAnnotation struct {
	ID               int64           `json:"id"`
	CompletedBy      *lsExportUser   `json:"completed_by"`
	Result           json.RawMessage `json:"result"`
	WasCancelled     bool            `json:"was_cancelled"`
	GroundTruth      bool            `json:"ground_truth"`
	CreatedAt        lswire.Time     `json:"created_at"`
	UpdatedAt        lswire.Time     `json:"updated_at"`
	DraftCreatedAt   *lswire.Time    `json:"draft_created_at"`
	LeadTime         pyFloat         `json:"lead_time"`
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
}

// lsExportPrediction is one prediction inside a task of the JSON export.
type lsExportPrediction struct {
	ID           int64           `json:"id"`
	ModelVersion string          `json:"model_version"`
	CreatedAgo   string          `json:"created_ago"`
	Result       json.RawMessage `json:"result"`
	Score        *pyFloat        `json:"score"`
	Cluster      *int64          `json:"cluster"`
	Neighbors    json.RawMessage `json:"neighbors"`
	Mislabeling  pyFloat         `json:"mislabeling"`
	CreatedAt    lswire.Time     `json:"created_at"`
	UpdatedAt    lswire.Time     `json:"updated_at"`
	Model        *int64          `json:"model"`
	ModelRun     *int64          `json:"model_run"`
	Task         int64           `json:"task"`
	Project      int64           `json:"project"`
}

// lsExportTaskLists is what Label Studio's export data serializer adds to
// a task's fields: its annotations and predictions expanded, and drafts.
type lsExportTaskLists struct {
	Annotations []lsExportAnnotation `json:"annotations"`
	Drafts      []int64              `json:"drafts"`
	Predictions []lsExportPrediction `json:"predictions"`
}

// AnnotationJSON returns the object Label Studio writes to a target storage
// for one annotation in annotation mode, so tools written against Label
// Studio's bucket layout read blobmark's unchanged. task is the annotation's
// task with its data as clients see it (the $undefined$ placeholder already
// renamed); user is the annotator, or nil when unknown, in which case
// completed_by carries the id alone (and is null when there is no id).
//
// created_ago is written empty: Label Studio fills it with the time elapsed
// since creation ("3 hours"), which would change the bytes every time and
// defeat skipping identical uploads; it is a display field. updated_by is
// null because blobmark does not record who last edited an annotation.
func AnnotationJSON(a *blobmark.Annotation, task *blobmark.Task, user *blobmark.User) ([]byte, error) {
	if a == nil || task == nil {
		return nil, blobmark.Errorf(blobmark.EINTERNAL, "annotation export needs the annotation and its task")
	}
	out := lsStorageAnnotation{
		ID:              a.ID,
		CreatedUsername: createdUsername(a.CompletedBy, user),
		Task:            lswire.NewTask(task),
		Result:          lswire.JSONOr(a.Result, "[]"),
		WasCancelled:    a.WasCancelled,
		GroundTruth:     a.GroundTruth,
		CreatedAt:       lswire.Time(a.CreatedAt),
		UpdatedAt:       lswire.Time(a.UpdatedAt),
		LeadTime:        pyFloat(a.LeadTime),
		Project:         a.ProjectID,
	}
	if a.CompletedBy != 0 {
		u := lsUser{ID: a.CompletedBy}
		if user != nil {
			u.FirstName, u.LastName, u.Email = user.FirstName, user.LastName, user.Email
		}
		out.CompletedBy = &u
	}
	return encode(out)
}

// TaskJSON returns one task as an item of Label Studio's JSON export, the
// object written per task in task mode and the element type of the project
// export. users maps annotator ids to users; a missing user leaves only the
// id in completed_by. Annotations and predictions are written in id order
// whatever order they come in, so the bytes depend on the state only.
func TaskJSON(task *blobmark.Task, annotations []*blobmark.Annotation, predictions []*blobmark.Prediction, users map[int64]*blobmark.User) ([]byte, error) {
	if task == nil {
		return nil, blobmark.Errorf(blobmark.EINTERNAL, "task export needs the task")
	}
	out := lsExportTaskLists{
		Annotations: make([]lsExportAnnotation, 0, len(annotations)),
		Drafts:      []int64{},
		Predictions: make([]lsExportPrediction, 0, len(predictions)),
	}
	for _, a := range slices.SortedFunc(slices.Values(annotations), func(x, y *blobmark.Annotation) int { return cmp.Compare(x.ID, y.ID) }) {
		ea := lsExportAnnotation{
			ID:           a.ID,
			Result:       lswire.JSONOr(a.Result, "[]"),
			WasCancelled: a.WasCancelled,
			GroundTruth:  a.GroundTruth,
			CreatedAt:    lswire.Time(a.CreatedAt),
			UpdatedAt:    lswire.Time(a.UpdatedAt),
			LeadTime:     pyFloat(a.LeadTime),
			ResultCount:  regionCount(a.Result),
			Task:         a.TaskID,
			Project:      a.ProjectID,
		}
		if a.CompletedBy != 0 {
			u := lsExportUser{ID: a.CompletedBy}
			if user := users[a.CompletedBy]; user != nil {
				u.Email, u.FirstName, u.LastName = user.Email, user.FirstName, user.LastName
			}
			ea.CompletedBy = &u
		}
		out.Annotations = append(out.Annotations, ea)
	}
	for _, p := range slices.SortedFunc(slices.Values(predictions), func(x, y *blobmark.Prediction) int { return cmp.Compare(x.ID, y.ID) }) {
		ep := lsExportPrediction{
			ID:           p.ID,
			ModelVersion: p.ModelVersion,
			Result:       lswire.JSONOr(p.Result, "[]"),
			Neighbors:    json.RawMessage("null"),
			CreatedAt:    lswire.Time(p.CreatedAt),
			UpdatedAt:    lswire.Time(p.UpdatedAt),
			Task:         p.TaskID,
			Project:      p.ProjectID,
		}
		if p.Score != nil {
			s := pyFloat(*p.Score)
			ep.Score = &s
		}
		out.Predictions = append(out.Predictions, ep)
	}
	b, err := lswire.Encode(lswire.ExportTaskKeys, lswire.NewTask(task), out)
	if err != nil {
		return nil, &blobmark.Error{Code: blobmark.EINTERNAL, Message: "cannot serialize export object", Err: err}
	}
	return b, nil
}

// createdUsername spells the annotator as Label Studio's created_username
// does: names, email and id, e.g. "Ada Lovelace ada@example.com, 7".
func createdUsername(id int64, u *blobmark.User) string {
	if u == nil {
		return ""
	}
	name := u.FirstName
	if u.LastName != "" {
		name += " " + u.LastName
	}
	return name + " " + u.Email + ", " + strconv.FormatInt(id, 10)
}

// regionCount is Label Studio's result_count: the number of result regions.
func regionCount(result json.RawMessage) int {
	var regions []json.RawMessage
	if json.Unmarshal(result, &regions) != nil {
		return 0
	}
	return len(regions)
}

// encode marshals v compactly without HTML escaping (Label Studio writes
// "<" as is), without the encoder's trailing newline.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, &blobmark.Error{Code: blobmark.EINTERNAL, Message: "cannot serialize export object", Err: err}
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// pyFloat writes a float as Python does for a float field: integral values
// keep a ".0" (4.0, not 4), so consumers that check types see a float.
// NaN and infinities, which JSON cannot carry, are written as null.
type pyFloat float64

// MarshalJSON implements json.Marshaler.
func (f pyFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, nil
}
