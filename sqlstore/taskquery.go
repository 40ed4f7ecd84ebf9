package sqlstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// The Data Manager's queries in SQL. A blobmark.TaskQuery arrives checked
// (column names from blobmark.TaskColumns, operators by type, values typed);
// this file turns it into a WHERE clause and an ORDER BY over "tasks t".
// Every value, and every data field name, travels as a bound parameter:
// the SQL text is made only of the fixed fragments below.

// sqlPart is a fragment of SQL with its ?-placeholder arguments, in order.
type sqlPart struct {
	sql  string
	args []any
}

// columnExpr is the SQL of each TaskColumns column over "tasks t"; a column
// of blobmark.TaskColumns without one is a programming error the
// conformance suite catches (every column is filtered there).
var columnExpr = map[string]string{
	"id":                    "t.id",
	"inner_id":              "t.inner_id",
	"is_labeled":            "t.is_labeled",
	"total_annotations":     "t.total_annotations",
	"cancelled_annotations": "t.cancelled_annotations",
	"total_predictions":     "t.total_predictions",
	"created_at":            "t.created_at",
	"updated_at":            "t.updated_at",
	// completed_at: when the last annotation that counts was made, for a
	// labeled task (Label Studio stamps the task when it becomes labeled).
	"completed_at": `(CASE WHEN t.is_labeled THEN (SELECT MAX(a.created_at) FROM annotations a
		WHERE a.task_id = t.id AND NOT a.was_cancelled) END)`,
	"predictions_score": "(SELECT AVG(pr.score) FROM predictions pr WHERE pr.task_id = t.id)",
	"storage_filename":  storageFilenameExpr,
	"blob_missing":      "EXISTS (SELECT 1 FROM source_storage_links l WHERE l.task_id = t.id AND l.missing)",
	"ground_truth":      "EXISTS (SELECT 1 FROM annotations a WHERE a.task_id = t.id AND a.ground_truth)",
	// annotators is a List: its operators test membership (annotatorsPart).
	"annotators": "",
}

// storageFilenameExpr is the blob key a task was imported from: the first
// link's, as a task made from a JSON file holding several has one key.
const storageFilenameExpr = "(SELECT MIN(l.key) FROM source_storage_links l WHERE l.task_id = t.id)"

// nullable columns sort their NULLs last on both databases (SQLite puts
// them first by default, PostgreSQL last).
var nullable = map[string]bool{"completed_at": true, "predictions_score": true, "storage_filename": true}

// dataExpr returns the SQL of a data field read as typ, and its arguments:
// the field's key is bound (a JSON path on SQLite, a key on PostgreSQL),
// never spliced in. Values of another JSON type read as NULL, so a number
// filter never compares a string.
func (d Dialect) dataExpr(key string, typ blobmark.ColumnType) sqlPart {
	if d == Postgres {
		j := "(t.data::jsonb -> ?::text)"
		switch typ {
		case blobmark.TypeNumber:
			return sqlPart{"(CASE WHEN jsonb_typeof" + j + " = 'number' THEN (t.data::jsonb ->> ?::text)::double precision END)", []any{key, key}}
		case blobmark.TypeBoolean:
			return sqlPart{"(CASE WHEN jsonb_typeof" + j + " = 'boolean' THEN (t.data::jsonb ->> ?::text) = 'true' END)", []any{key, key}}
		case "": // the raw JSON value, for exists and ordering
			return sqlPart{j, []any{key}}
		}
		return sqlPart{"(t.data::jsonb ->> ?::text)", []any{key}}
	}
	path := `$."` + key + `"` // checkDataKey refused quotes and backslashes
	switch typ {
	case blobmark.TypeNumber:
		return sqlPart{"(CASE WHEN json_type(t.data, ?) IN ('integer', 'real') THEN json_extract(t.data, ?) END)", []any{path, path}}
	case blobmark.TypeBoolean:
		return sqlPart{"(CASE json_type(t.data, ?) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)", []any{path}}
	case "":
		return sqlPart{"json_extract(t.data, ?)", []any{path}}
	}
	return sqlPart{"CAST(json_extract(t.data, ?) AS TEXT)", []any{path}}
}

// compileQuery returns the WHERE condition (over "tasks t", to AND with the
// project) and the ORDER BY list of q. A nil q selects everything in id
// order.
func (d Dialect) compileQuery(q *blobmark.TaskQuery) (where, order sqlPart, err error) {
	where = sqlPart{sql: "TRUE"}
	order = sqlPart{sql: "t.id"}
	if q == nil {
		return where, order, nil
	}
	var conds []sqlPart
	if len(q.Filters) > 0 {
		items := make([]string, 0, len(q.Filters))
		var args []any
		for _, f := range q.Filters {
			p, err := d.filterPart(f)
			if err != nil {
				return where, order, err
			}
			items = append(items, "("+p.sql+")")
			args = append(args, p.args...)
		}
		join := " AND "
		if q.Conjunction == "or" {
			join = " OR "
		}
		conds = append(conds, sqlPart{"(" + strings.Join(items, join) + ")", args})
	}
	if s := q.Selected; s != nil {
		if s.All && len(s.Excluded) > 0 {
			conds = append(conds, d.idsIn("t.id", s.Excluded, true))
		} else if !s.All {
			conds = append(conds, d.idsIn("t.id", s.Included, false))
		}
	}
	if len(conds) > 0 {
		where = joinParts(conds, " AND ")
	}
	if q.Ordering != "" {
		order, err = d.orderPart(q.Ordering)
	}
	return where, order, err
}

func joinParts(parts []sqlPart, sep string) sqlPart {
	var out sqlPart
	strs := make([]string, len(parts))
	for i, p := range parts {
		strs[i] = p.sql
		out.args = append(out.args, p.args...)
	}
	out.sql = strings.Join(strs, sep)
	return out
}

// idsIn restricts column to (or, negated, away from) ids, bound as one JSON
// array or one array parameter whatever its length, so a selection of any
// size is one statement within both databases' parameter limits.
func (d Dialect) idsIn(column string, ids []int64, negate bool) sqlPart {
	not := ""
	if negate {
		not = "NOT "
	}
	if d == Postgres {
		return sqlPart{column + " " + not + "IN (SELECT unnest(?::bigint[]))", []any{ids}}
	}
	return sqlPart{column + " " + not + "IN (SELECT value FROM json_each(?))", []any{int64List(ids)}}
}

// int64List is ids as a JSON array.
func int64List(ids []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, id)
	}
	b.WriteByte(']')
	return b.String()
}

// orderPart is the ORDER BY of one column, "-" first for descending, with
// the task id as the tie-breaker so pages never overlap.
func (d Dialect) orderPart(ordering string) (sqlPart, error) {
	col, desc := strings.CutPrefix(ordering, "-")
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	var p sqlPart
	if key, ok := blobmark.DataField(col); ok {
		p = d.dataExpr(key, "")
		p.sql += dir + " NULLS LAST"
	} else {
		expr := columnExpr[col]
		if col == "annotators" {
			expr = "(SELECT MIN(a.completed_by) FROM annotations a WHERE a.task_id = t.id)"
		} else if expr == "" {
			return p, blobmark.FieldErrorf("ordering", "%q cannot be ordered by.", col)
		}
		p.sql = expr + dir
		if nullable[col] || col == "annotators" {
			p.sql += " NULLS LAST"
		}
	}
	p.sql += ", t.id" + dir
	return p, nil
}

// filterPart is the condition of one filter item.
func (d Dialect) filterPart(f blobmark.TaskFilterItem) (sqlPart, error) {
	if f.Column == "annotators" {
		return annotatorsPart(f), nil
	}
	var x sqlPart
	if key, ok := f.DataField(); ok {
		if f.Operator == "exists" || f.Operator == "not_exists" {
			x = d.dataExpr(key, "")
		} else {
			x = d.dataExpr(key, f.Type)
		}
	} else if expr := columnExpr[f.Column]; expr != "" {
		x = sqlPart{sql: expr}
	} else {
		return x, blobmark.FieldErrorf("filters", "%q cannot be filtered.", f.Column)
	}
	if f.Type == blobmark.TypeDatetime {
		if _, isData := f.DataField(); isData {
			// Dates inside task data are ISO 8601 text: compare as text in
			// the same spelling.
			f.Value = mapValues(f.Value, func(v any) any { return v.(time.Time).Format(time.RFC3339Nano) })
		}
	}
	cmp := func(op string, v any) sqlPart {
		return sqlPart{x.sql + " " + op + " ?", append(slicesClone(x.args), v)}
	}
	switch f.Operator {
	case "exists":
		return sqlPart{x.sql + " IS NOT NULL", x.args}, nil
	case "not_exists":
		return sqlPart{x.sql + " IS NULL", x.args}, nil
	case "empty":
		empty := sqlPart{x.sql + " IS NULL", x.args}
		if f.Type == blobmark.TypeString {
			empty = sqlPart{"COALESCE(" + x.sql + ", '') = ''", x.args}
		}
		if f.Value == false {
			return negate(empty), nil
		}
		return empty, nil
	case "equal":
		return cmp("=", f.Value), nil
	case "not_equal":
		return negate(cmp("=", f.Value)), nil
	case "less":
		return cmp("<", f.Value), nil
	case "greater":
		return cmp(">", f.Value), nil
	case "less_or_equal":
		return cmp("<=", f.Value), nil
	case "greater_or_equal":
		return cmp(">=", f.Value), nil
	case "in", "not_in":
		r := f.Value.(blobmark.ValueRange)
		p := sqlPart{x.sql + " BETWEEN ? AND ?", append(slicesClone(x.args), r.Min, r.Max)}
		if f.Operator == "not_in" {
			return negate(p), nil
		}
		return p, nil
	case "in_list", "not_in_list":
		vals := f.Value.([]any)
		p := sqlPart{x.sql + " IN (" + placeholders(len(vals)) + ")", append(slicesClone(x.args), vals...)}
		if f.Operator == "not_in_list" {
			return negate(p), nil
		}
		return p, nil
	case "contains", "not_contains", "starts_with", "ends_with":
		s := likeEscape(f.Value.(string))
		pattern := map[string]string{"contains": "%" + s + "%", "not_contains": "%" + s + "%",
			"starts_with": s + "%", "ends_with": "%" + s}[f.Operator]
		// lower() on both sides: case-insensitive on both databases, as
		// Label Studio's icontains.
		p := sqlPart{"LOWER(" + x.sql + ") LIKE LOWER(?) ESCAPE '\\'", append(slicesClone(x.args), pattern)}
		if f.Operator == "not_contains" {
			return negate(p), nil
		}
		return p, nil
	}
	return x, blobmark.FieldErrorf("filters", "%q is not supported.", f.Operator)
}

// annotatorsPart tests who annotated a task: contains/equal a user id, or
// any annotator at all (exists, empty=false).
func annotatorsPart(f blobmark.TaskFilterItem) sqlPart {
	const someone = "EXISTS (SELECT 1 FROM annotations a WHERE a.task_id = t.id AND a.completed_by IS NOT NULL)"
	by := sqlPart{"EXISTS (SELECT 1 FROM annotations a WHERE a.task_id = t.id AND a.completed_by = ?)", []any{f.Value}}
	switch f.Operator {
	case "exists":
		return sqlPart{sql: someone}
	case "not_exists":
		return sqlPart{sql: "NOT " + someone}
	case "empty":
		if f.Value == false {
			return sqlPart{sql: someone}
		}
		return sqlPart{sql: "NOT " + someone}
	case "not_contains", "not_equal":
		return sqlPart{"NOT " + by.sql, by.args}
	}
	return by
}

// negate is NOT p where a NULL (a missing data field, a task without
// predictions) counts as not matching p, as Django's exclude() has it.
func negate(p sqlPart) sqlPart {
	return sqlPart{"NOT COALESCE((" + p.sql + "), FALSE)", p.args}
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

func slicesClone(a []any) []any { return append([]any(nil), a...) }

// mapValues applies fn to a filter value, to both ends of a range and to
// each element of a list.
func mapValues(v any, fn func(any) any) any {
	switch x := v.(type) {
	case nil, bool:
		return v
	case blobmark.ValueRange:
		return blobmark.ValueRange{Min: fn(x.Min), Max: fn(x.Max)}
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = fn(x[i])
		}
		return out
	}
	return fn(v)
}
