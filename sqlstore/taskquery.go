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
// Every value travels as a bound parameter. A data field's key is the one
// thing spliced in, as a quoted SQL string literal: the databases use an
// index on an expression only when the query spells the expression the
// same way, and a bound key would never match (data_indexes.go).

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

// dataExpr returns the SQL of a data field read as typ. Values of another
// JSON type read as NULL, so a number filter never compares a string.
func (d Dialect) dataExpr(key string, typ blobmark.ColumnType) sqlPart {
	raw := d.rawData(key)
	if d == Postgres {
		// Every reading goes through raw, which countTasksSQL rewrites onto a field's kept values.
		text := "(" + raw + " #>> '{}')"
		switch typ {
		case blobmark.TypeNumber:
			return sqlPart{sql: "(CASE WHEN jsonb_typeof" + raw + " = 'number' THEN " + text + "::double precision END)"}
		case blobmark.TypeBoolean:
			return sqlPart{sql: "(CASE WHEN jsonb_typeof" + raw + " = 'boolean' THEN " + text + " = 'true' END)"}
		case "": // the raw JSON value, for exists and ordering
			return sqlPart{sql: raw}
		}
		return sqlPart{sql: text}
	}
	path := sqlString(`$."` + key + `"`)
	switch typ {
	case blobmark.TypeNumber:
		return sqlPart{sql: "(CASE WHEN json_type(t.data, " + path + ") IN ('integer', 'real') THEN " + raw + " END)"}
	case blobmark.TypeBoolean:
		return sqlPart{sql: "(CASE json_type(t.data, " + path + ") WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"}
	case "":
		return sqlPart{sql: raw}
	}
	return sqlPart{sql: "CAST(" + raw + " AS TEXT)"}
}

// rawData is a data field's JSON value as the database orders it, spelled
// exactly as the field's index spells it (dataIndexDDL), so that filters
// and sorts on it read the index.
func (d Dialect) rawData(key string) string {
	if d == Postgres {
		return "(t.data::jsonb -> " + sqlString(key) + ")"
	}
	return "json_extract(t.data, " + sqlString(`$."`+key+`"`) + ")"
}

// numberCompare is a number filter on a data field as a comparison of the
// raw value, which the field's index answers as a range, guarded to JSON
// numbers: the raw value orders strings (and, on SQLite, true and false as
// 1 and 0) among numbers. ph is the placeholder of one compared value.
func (d Dialect) numberCompare(key string) (raw, ph, guard string) {
	raw = d.rawData(key)
	if d == Postgres {
		return raw, "to_jsonb(?::double precision)", "jsonb_typeof" + raw + " = 'number'"
	}
	return raw, "?", "json_type(t.data, " + sqlString(`$."`+key+`"`) + ") IN ('integer', 'real')"
}

// sqlString quotes s as an SQL string literal. Data keys are checked before
// they get here (no quotes, backslashes or control characters), and the
// quoting holds without that.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
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
	// x is the filtered expression; a compared value is bound as ph, and
	// a comparison holds only where guard does.
	x, ph, guard := "", "?", ""
	if key, ok := f.DataField(); ok {
		switch {
		case f.Operator == "exists" || f.Operator == "not_exists":
			x = d.dataExpr(key, "").sql
		case f.Type == blobmark.TypeNumber && comparisons[f.Operator]:
			x, ph, guard = d.numberCompare(key)
		default:
			x = d.dataExpr(key, f.Type).sql
		}
		if f.Type == blobmark.TypeDatetime {
			// Dates inside task data are ISO 8601 text: compare as text in
			// the same spelling.
			f.Value = mapValues(f.Value, func(v any) any { return v.(time.Time).Format(time.RFC3339Nano) })
		}
	} else if expr := columnExpr[f.Column]; expr != "" {
		x = expr
	} else {
		return sqlPart{}, blobmark.FieldErrorf("filters", "%q cannot be filtered.", f.Column)
	}
	compared := func(cond string, args ...any) sqlPart {
		if guard != "" {
			cond = "(" + cond + " AND " + guard + ")"
		}
		p := sqlPart{cond, args}
		if strings.HasPrefix(f.Operator, "not_") {
			return negate(p)
		}
		return p
	}
	switch f.Operator {
	case "exists":
		return sqlPart{sql: x + " IS NOT NULL"}, nil
	case "not_exists":
		return sqlPart{sql: x + " IS NULL"}, nil
	case "empty":
		empty := sqlPart{sql: x + " IS NULL"}
		if f.Type == blobmark.TypeString {
			empty = sqlPart{sql: "COALESCE(" + x + ", '') = ''"}
		}
		if f.Value == false {
			return negate(empty), nil
		}
		return empty, nil
	case "equal", "not_equal", "less", "greater", "less_or_equal", "greater_or_equal":
		op := map[string]string{"equal": "=", "not_equal": "=", "less": "<", "greater": ">",
			"less_or_equal": "<=", "greater_or_equal": ">="}[f.Operator]
		return compared(x+" "+op+" "+ph, f.Value), nil
	case "in", "not_in":
		r := f.Value.(blobmark.ValueRange)
		return compared(x+" BETWEEN "+ph+" AND "+ph, r.Min, r.Max), nil
	case "in_list", "not_in_list":
		vals := f.Value.([]any)
		return compared(x+" IN ("+strings.TrimSuffix(strings.Repeat(ph+", ", len(vals)), ", ")+")", vals...), nil
	case "contains", "not_contains", "starts_with", "ends_with":
		s := likeEscape(f.Value.(string))
		pattern := map[string]string{"contains": "%" + s + "%", "not_contains": "%" + s + "%",
			"starts_with": s + "%", "ends_with": "%" + s}[f.Operator]
		// lower() on both sides: case-insensitive on both databases, as
		// Label Studio's icontains.
		return compared("LOWER("+x+") LIKE LOWER(?) ESCAPE '\\'", pattern), nil
	}
	return sqlPart{}, blobmark.FieldErrorf("filters", "%q is not supported.", f.Operator)
}

// comparisons are the operators that compare a value: on a number data
// field they read the field's index (numberCompare).
var comparisons = map[string]bool{"equal": true, "not_equal": true, "less": true, "greater": true,
	"less_or_equal": true, "greater_or_equal": true, "in": true, "not_in": true, "in_list": true, "not_in_list": true}

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
