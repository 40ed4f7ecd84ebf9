package blobmark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The Data Manager: Label Studio's language for filtering, ordering and
// selecting a project's tasks, the saved views that keep a query, and the
// actions that apply to a selection. This file reads the wire's JSON into a
// checked TaskQuery; the store turns a TaskQuery into SQL.

// ColumnType is the type of a Data Manager column, with Label Studio's names;
// it decides which operators and values a filter on the column takes.
type ColumnType string

// The column types.
const (
	TypeNumber   ColumnType = "Number"
	TypeDatetime ColumnType = "Datetime"
	TypeBoolean  ColumnType = "Boolean"
	TypeString   ColumnType = "String"
	TypeList     ColumnType = "List"
	// TypeUnknown is what clients send for a data field of no declared
	// type; it filters as a string.
	TypeUnknown ColumnType = "Unknown"
)

// TaskColumn is a column of the Data Manager's task table that filters and
// ordering may name (as "filter:tasks:<ID>" and "tasks:<ID>").
type TaskColumn struct {
	ID    string     `json:"id"`
	Title string     `json:"title"`
	Type  ColumnType `json:"type"`
}

// TaskColumns lists the task columns every store filters and orders by, in
// the order the UI offers them. Any "data.<field>" is a column too, of the
// type the filter gives it.
var TaskColumns = []TaskColumn{
	{"id", "ID", TypeNumber},
	{"inner_id", "Inner ID", TypeNumber},
	{"storage_filename", "Source file", TypeString},
	{"is_labeled", "Completed", TypeBoolean},
	{"completed_at", "Completed at", TypeDatetime},
	{"total_annotations", "Annotations", TypeNumber},
	{"cancelled_annotations", "Skipped", TypeNumber},
	{"total_predictions", "Predictions", TypeNumber},
	{"predictions_score", "Prediction score", TypeNumber},
	{"annotators", "Annotated by", TypeList},
	{"ground_truth", "Ground truth", TypeBoolean},
	{"blob_missing", "Blob missing", TypeBoolean},
	{"created_at", "Created at", TypeDatetime},
	{"updated_at", "Updated at", TypeDatetime},
}

// DataColumnPrefix starts a column that is a key of the task's data.
const DataColumnPrefix = "data."

// operatorsByType lists the operators each column type takes. "regex" is
// left out: the two databases do not share a regular expression dialect.
var operatorsByType = map[ColumnType][]string{
	TypeNumber: {"equal", "not_equal", "less", "greater", "less_or_equal", "greater_or_equal", "in", "not_in",
		"in_list", "not_in_list", "exists", "not_exists", "empty"},
	TypeDatetime: {"equal", "not_equal", "less", "greater", "less_or_equal", "greater_or_equal", "in", "not_in",
		"exists", "not_exists", "empty"},
	TypeBoolean: {"equal", "not_equal", "exists", "not_exists", "empty"},
	TypeString: {"equal", "not_equal", "contains", "not_contains", "starts_with", "ends_with", "in_list", "not_in_list",
		"exists", "not_exists", "empty"},
	TypeList: {"contains", "not_contains", "equal", "not_equal", "exists", "not_exists", "empty"},
}

// maxListValues bounds an in_list value, and maxSelectedIDs a selection's
// included or excluded ids, so one request cannot make an unbounded query.
const (
	maxListValues  = 1000
	maxSelectedIDs = 1_000_000
)

// TaskQuery selects and orders a project's tasks: the Data Manager's
// filters, ordering and selection, checked. The zero value is every task in
// id order.
type TaskQuery struct {
	// Conjunction joins Filters: "and" (the default) or "or".
	Conjunction string
	Filters     []TaskFilterItem
	// Ordering is one column, "-" first for descending; "" means id order.
	Ordering string
	// Selected narrows the tasks to a selection; nil selects them all.
	Selected *SelectedItems
}

// TaskFilterItem is one checked filter. Value holds, by operator: nothing
// (exists, not_exists), a bool (empty), a ValueRange (in, not_in), a slice
// (in_list, not_in_list), else one value; values are float64 for Number,
// time.Time for Datetime, bool for Boolean, string for String and
// int64 (a user id) for List.
type TaskFilterItem struct {
	// Column is a TaskColumns ID or "data.<field>".
	Column   string
	Operator string
	Type     ColumnType
	Value    any
}

// ValueRange is the {min, max} value of in and not_in, both ends included.
type ValueRange struct{ Min, Max any }

// DataField returns the data key a "data.<field>" column names, and whether
// the column is one.
func (f TaskFilterItem) DataField() (string, bool) { return DataField(f.Column) }

// DataField returns the data key a "data.<field>" column or ordering
// names, and whether it is one.
func DataField(column string) (string, bool) {
	return strings.CutPrefix(column, DataColumnPrefix)
}

// SelectedItems is Label Studio's selection: every task but Excluded when
// All, else the Included ones.
type SelectedItems struct {
	All      bool    `json:"all"`
	Included []int64 `json:"included,omitempty"`
	Excluded []int64 `json:"excluded,omitempty"`
}

// IsEmpty reports whether the selection names no task at all.
func (s *SelectedItems) IsEmpty() bool { return s != nil && !s.All && len(s.Included) == 0 }

// DataKeys lists, once each in first-seen order, the task data keys q
// filters or orders on: the fields a saved view wants indexed.
func (q *TaskQuery) DataKeys() []string {
	return addDataKey(q.FilterKeys(), strings.TrimPrefix(q.Ordering, "-"))
}

// FilterKeys lists the data keys q's filters read, each once.
func (q *TaskQuery) FilterKeys() []string {
	var keys []string
	if q != nil {
		for _, f := range q.Filters {
			keys = addDataKey(keys, f.Column)
		}
	}
	return keys
}

// addDataKey adds column's data key to keys, unless column is not a data
// field or keys has it.
func addDataKey(keys []string, column string) []string {
	if key, ok := DataField(column); ok && !slices.Contains(keys, key) {
		keys = append(keys, key)
	}
	return keys
}

// IsFiltered reports whether q narrows the tasks at all.
func (q *TaskQuery) IsFiltered() bool {
	return q != nil && (len(q.Filters) > 0 || q.Selected != nil && (!q.Selected.All || len(q.Selected.Excluded) > 0))
}

// wireQuery is the query's JSON as Label Studio sends it in ?query=, in a
// view's data and in an action's body.
type wireQuery struct {
	Filters       *wireFilters    `json:"filters"`
	Ordering      json.RawMessage `json:"ordering"`
	SelectedItems json.RawMessage `json:"selectedItems"`
}

type wireFilters struct {
	Conjunction string           `json:"conjunction"`
	Items       []wireFilterItem `json:"items"`
}

type wireFilterItem struct {
	Filter   string          `json:"filter"`
	Operator string          `json:"operator"`
	Type     string          `json:"type"`
	Value    json.RawMessage `json:"value"`
	// ChildFilters (one level) are AND-merged with their parent.
	ChildFilters []wireFilterItem `json:"child_filters"`
}

// ParseTaskQuery reads a query's JSON ({filters, ordering, selectedItems});
// field names the parameter or body key it came from, and errors name the
// part that is wrong under it ("query.filters.items[0].operator").
func ParseTaskQuery(field string, raw []byte) (*TaskQuery, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return &TaskQuery{Conjunction: "and"}, nil
	}
	var w wireQuery
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&w); err != nil {
		return nil, FieldErrorf(field, "Must be a JSON object {filters, ordering, selectedItems}: %s.", jsonProblem(err))
	}
	q := &TaskQuery{Conjunction: "and"}
	if err := q.setFilters(field+".filters", w.Filters); err != nil {
		return nil, err
	}
	if err := q.setOrdering(field+".ordering", w.Ordering); err != nil {
		return nil, err
	}
	if err := q.setSelected(field+".selectedItems", w.SelectedItems); err != nil {
		return nil, err
	}
	return q, nil
}

// ParseSelectedItems reads a selectedItems value on its own (the tasks
// list's selectedItems= parameter, an action's body key).
func ParseSelectedItems(field string, raw []byte) (*SelectedItems, error) {
	var q TaskQuery
	if err := q.setSelected(field, raw); err != nil {
		return nil, err
	}
	return q.Selected, nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%s must not be %s", te.Field, te.Value)
		}
		return "expected an object, got " + te.Value
	}
	return err.Error()
}

func (q *TaskQuery) setFilters(field string, w *wireFilters) error {
	if w == nil {
		return nil
	}
	switch c := strings.ToLower(w.Conjunction); c {
	case "", "and", "or":
		q.Conjunction = cmpOr(c, "and")
	default:
		return FieldErrorf(field+".conjunction", "%q is not a conjunction; use \"and\" or \"or\".", w.Conjunction)
	}
	for i, it := range w.Items {
		name := fmt.Sprintf("%s.items[%d]", field, i)
		f, err := parseFilterItem(name, it)
		if err != nil {
			return err
		}
		if len(it.ChildFilters) > 0 {
			return FieldErrorf(name+".child_filters", "Child filters are not supported; add them as items with the \"and\" conjunction.")
		}
		q.Filters = append(q.Filters, f)
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// parseFilterItem checks one filter item against the column catalogue and
// reads its value as the column's type.
func parseFilterItem(name string, it wireFilterItem) (TaskFilterItem, error) {
	col, ok := strings.CutPrefix(it.Filter, "filter:tasks:")
	if !ok {
		return TaskFilterItem{}, FieldErrorf(name+".filter", "%q is not a task filter; filters are named \"filter:tasks:<column>\".", it.Filter)
	}
	typ := ColumnType(it.Type)
	if typ != "" && typ != TypeUnknown && operatorsByType[typ] == nil {
		return TaskFilterItem{}, FieldErrorf(name+".type", "%q is not a column type; use Number, Datetime, Boolean, String or List.", it.Type)
	}
	if key, isData := DataField(col); isData {
		if err := checkDataKey(key); err != nil {
			return TaskFilterItem{}, FieldErrorf(name+".filter", "%s", err)
		}
		if typ == "" || typ == TypeUnknown || typ == TypeList {
			typ = TypeString
		}
	} else {
		i := slices.IndexFunc(TaskColumns, func(c TaskColumn) bool { return c.ID == col })
		if i < 0 {
			return TaskFilterItem{}, FieldErrorf(name+".filter", "%q is not a task column; use one of %s, or data.<field>.", col, columnList())
		}
		// A known column filters as its own type, whatever the client
		// calls it: the type only matters for data fields.
		typ = TaskColumns[i].Type
	}
	if !slices.Contains(operatorsByType[typ], it.Operator) {
		return TaskFilterItem{}, FieldErrorf(name+".operator", "%q is not an operator for a %s column; use one of %s.",
			it.Operator, typ, strings.Join(operatorsByType[typ], ", "))
	}
	f := TaskFilterItem{Column: col, Operator: it.Operator, Type: typ}
	v, err := parseFilterValue(typ, it.Operator, it.Value)
	if err != nil {
		return TaskFilterItem{}, FieldErrorf(name+".value", "%s", err)
	}
	f.Value = v
	return f, nil
}

func columnList() string {
	ids := make([]string, len(TaskColumns))
	for i, c := range TaskColumns {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}

// checkDataKey accepts a task data key the stores can address safely: it
// reaches SQL as a quoted string literal (so that it can match an index's
// expression), inside SQLite's quoted JSON path, so double quotes,
// backslashes and control characters are refused.
func checkDataKey(key string) error {
	if key == "" || len(key) > 200 {
		return fmt.Errorf("a data field name must have 1 to 200 characters")
	}
	for _, r := range key {
		if r == '"' || r == '\\' || unicode.IsControl(r) {
			return fmt.Errorf("the data field name %q may not contain quotes, backslashes or control characters", key)
		}
	}
	return nil
}

// parseFilterValue reads a filter's value for its operator and type.
func parseFilterValue(typ ColumnType, op string, raw json.RawMessage) (any, error) {
	switch op {
	case "exists", "not_exists":
		return nil, nil
	case "empty":
		var b bool
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			return true, nil
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("the empty operator takes true or false")
		}
		return b, nil
	case "in", "not_in":
		var r struct{ Min, Max json.RawMessage }
		if err := json.Unmarshal(raw, &r); err != nil || r.Min == nil || r.Max == nil {
			return nil, fmt.Errorf("the %s operator takes {\"min\": …, \"max\": …}", op)
		}
		lo, err := scalar(typ, r.Min)
		if err != nil {
			return nil, fmt.Errorf("min: %w", err)
		}
		hi, err := scalar(typ, r.Max)
		if err != nil {
			return nil, fmt.Errorf("max: %w", err)
		}
		return ValueRange{lo, hi}, nil
	case "in_list", "not_in_list":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("the %s operator takes a JSON array", op)
		}
		if len(items) == 0 || len(items) > maxListValues {
			return nil, fmt.Errorf("the %s operator takes 1 to %d values, got %d", op, maxListValues, len(items))
		}
		out := make([]any, len(items))
		for i, it := range items {
			v, err := scalar(typ, it)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	}
	return scalar(typ, raw)
}

// datetimeLayouts are the datetime spellings accepted: Label Studio's UI
// sends milliseconds and a Z, its Python helper six fractional digits.
var datetimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// scalar reads one value of type typ.
func scalar(typ ColumnType, raw json.RawMessage) (any, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil || v == nil {
		return nil, fmt.Errorf("a %s value is required", typ)
	}
	switch typ {
	case TypeNumber:
		switch n := v.(type) {
		case float64:
			return n, nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(n), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, nil
			}
		}
		return nil, fmt.Errorf("%s is not a number", raw)
	case TypeDatetime:
		if s, ok := v.(string); ok {
			for _, layout := range datetimeLayouts {
				if t, err := time.Parse(layout, s); err == nil {
					return t.UTC(), nil
				}
			}
		}
		return nil, fmt.Errorf("%s is not a datetime like 2021-01-01T00:00:00.000Z", raw)
	case TypeBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("%s is not true or false", raw)
	case TypeList:
		if n, ok := v.(float64); ok && n == math.Trunc(n) && n > 0 {
			return int64(n), nil
		}
		return nil, fmt.Errorf("%s is not a user id", raw)
	default:
		switch s := v.(type) {
		case string:
			return s, nil
		case float64, bool:
			return string(bytes.TrimSpace(raw)), nil
		}
		return nil, fmt.Errorf("%s is not a string", raw)
	}
}

// setOrdering reads Label Studio's ordering: a list of one column name
// ("tasks:total_annotations", "-tasks:id"), or a bare string.
func (q *TaskQuery) setOrdering(field string, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return FieldErrorf(field, "Must be a list of column names like [\"-tasks:id\"].")
		}
		list = []string{one}
	}
	if len(list) > 1 {
		return FieldErrorf(field, "Order by one column at a time, got %d.", len(list))
	}
	if len(list) == 0 || list[0] == "" {
		return nil
	}
	o, err := ParseOrdering(list[0])
	if err != nil {
		return FieldErrorf(field+"[0]", "%s", err)
	}
	q.Ordering = o
	return nil
}

// ParseOrdering checks one ordering column ("-tasks:updated_at") and
// returns it without its "tasks:" prefix ("-updated_at").
func ParseOrdering(s string) (string, error) {
	desc := strings.HasPrefix(s, "-")
	col := strings.TrimPrefix(s, "-")
	col = strings.TrimPrefix(strings.TrimPrefix(col, "filter:"), "tasks:")
	if key, ok := DataField(col); ok {
		if err := checkDataKey(key); err != nil {
			return "", err
		}
	} else if !slices.ContainsFunc(TaskColumns, func(c TaskColumn) bool { return c.ID == col }) {
		return "", fmt.Errorf("%q is not a task column; use one of %s, or data.<field>", s, columnList())
	}
	if desc {
		return "-" + col, nil
	}
	return col, nil
}

func (q *TaskQuery) setSelected(field string, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var w struct {
		All      *bool   `json:"all"`
		Included []int64 `json:"included"`
		Excluded []int64 `json:"excluded"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return FieldErrorf(field, "Must be {\"all\": false, \"included\": [ids]} or {\"all\": true, \"excluded\": [ids]}: %s.", jsonProblem(err))
	}
	if w.All == nil {
		return FieldErrorf(field+".all", "This field is required.")
	}
	if len(w.Included) > maxSelectedIDs || len(w.Excluded) > maxSelectedIDs {
		return FieldErrorf(field, "At most %d ids may be listed.", maxSelectedIDs)
	}
	if *w.All && len(w.Included) > 0 {
		return FieldErrorf(field+".included", "With all=true list the tasks to leave out in excluded.")
	}
	if !*w.All && len(w.Excluded) > 0 {
		return FieldErrorf(field+".excluded", "With all=false list the tasks in included.")
	}
	q.Selected = &SelectedItems{All: *w.All, Included: w.Included, Excluded: w.Excluded}
	return nil
}

// View is a saved Data Manager tab: a query and whatever else the UI keeps
// in Data (title, hidden columns), shared by the project's members.
type View struct {
	ID        int64
	ProjectID int64
	// UserID made the view; 0 once that user is gone.
	UserID int64
	Order  int
	// Data is the view's JSON object as the client sent it; its filters
	// and ordering are checked (ViewQuery) when it is saved.
	Data      json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ViewQuery reads the query a view's data holds; a saved view always has
// one that parses.
func ViewQuery(data json.RawMessage) (*TaskQuery, error) {
	return ParseTaskQuery("data", data)
}

// ViewUpdate holds what a PATCH may change; nil means unchanged.
type ViewUpdate struct {
	Data json.RawMessage
}

// ViewService keeps a project's saved views.
type ViewService interface {
	// FindViews returns a project's views in their order.
	FindViews(ctx context.Context, projectID int64) ([]*View, error)
	// FindViewByID returns a view, ENOTFOUND otherwise.
	FindViewByID(ctx context.Context, id int64) (*View, error)
	// CreateView stores v at the end of its project's views; v.Data must
	// hold a valid query (EINVALID naming the part otherwise).
	CreateView(ctx context.Context, v *View) error
	// UpdateView applies upd and returns the view.
	UpdateView(ctx context.Context, id int64, upd ViewUpdate) (*View, error)
	// DeleteView deletes a view.
	DeleteView(ctx context.Context, id int64) error
	// OrderViews gives a project's views the order of ids; every id must
	// be a view of the project (EINVALID otherwise, nothing changed).
	OrderViews(ctx context.Context, projectID int64, ids []int64) error
	// DeleteViews deletes every view of a project.
	DeleteViews(ctx context.Context, projectID int64) error
}

// TaskAction is a Data Manager action as GET /api/dm/actions/ lists it.
type TaskAction struct {
	ID           string       `json:"id"`
	Title        string       `json:"title"`
	Order        int          `json:"order"`
	Experimental bool         `json:"experimental"`
	Permission   Permission   `json:"permission"`
	Dialog       ActionDialog `json:"dialog"`
}

// ActionDialog is the confirmation a client shows before an action.
type ActionDialog struct {
	Title string   `json:"title"`
	Text  string   `json:"text"`
	Type  string   `json:"type"`
	Form  []string `json:"form"`
}

// The actions, by Label Studio's ids.
const (
	ActionDeleteTasks            = "delete_tasks"
	ActionDeleteTasksAnnotations = "delete_tasks_annotations"
	ActionDeleteTasksPredictions = "delete_tasks_predictions"
	ActionDeleteGroundTruths     = "delete_ground_truths"
)

// TaskActions lists the actions every store runs, in menu order; each
// needs PermManageProjects.
var TaskActions = []TaskAction{
	{ID: ActionDeleteTasks, Title: "Delete tasks", Order: 100, Permission: PermManageProjects,
		Dialog: ActionDialog{Title: "Delete tasks", Type: "confirm", Form: []string{},
			Text: "The selected tasks are deleted with their annotations and predictions; exported annotations are deleted where the target storage allows it."}},
	{ID: ActionDeleteTasksAnnotations, Title: "Delete annotations", Order: 101, Permission: PermManageProjects,
		Dialog: ActionDialog{Title: "Delete annotations", Type: "confirm", Form: []string{},
			Text: "Every annotation of the selected tasks is deleted; the tasks stay."}},
	{ID: ActionDeleteTasksPredictions, Title: "Delete predictions", Order: 102, Permission: PermManageProjects,
		Dialog: ActionDialog{Title: "Delete predictions", Type: "confirm", Form: []string{},
			Text: "Every prediction of the selected tasks is deleted."}},
	{ID: ActionDeleteGroundTruths, Title: "Delete ground truths", Order: 103, Permission: PermManageProjects,
		Dialog: ActionDialog{Title: "Delete ground truths", Type: "confirm", Form: []string{},
			Text: "The ground truth mark is taken off every annotation of the selected tasks; the annotations stay."}},
}

// TaskActionService runs Data Manager actions.
type TaskActionService interface {
	// RunTaskAction applies action to the tasks of projectID that q selects
	// and returns how many tasks it processed. It works in batches, one
	// transaction each, so a failure leaves whole batches done; ids of
	// another project in the selection are refused (EINVALID) before
	// anything changes.
	RunTaskAction(ctx context.Context, projectID int64, action string, q *TaskQuery) (int, error)
}
