package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/blobmark/blobmark"
)

// maxParamsPerStatement bounds the bind parameters of one multi-row INSERT:
// well under SQLite's limit (32766) and PostgreSQL's (65535), and large
// enough that per-statement overhead vanishes against the rows.
const maxParamsPerStatement = 10000

// Columns of the bulk inserts, in bind order.
var (
	taskImportColumns       = []string{"project_id", "inner_id", "data", "meta", "is_labeled", "total_annotations", "cancelled_annotations", "total_predictions", "created_at", "updated_at"}
	annotationImportColumns = []string{"task_id", "project_id", "result", "was_cancelled", "ground_truth", "lead_time", "completed_by", "created_at", "updated_at"}
	predictionImportColumns = []string{"task_id", "project_id", "result", "score", "model_version", "created_at", "updated_at"}
)

// importRow is one validated task of an import, ready to bind.
type importRow struct {
	data, meta                     string
	total, cancelled, predictions  int
	annotationStart, annotationEnd int // into the flat annotation list
	predictionStart, predictionEnd int
}

type importAnnotation struct {
	result                    string
	wasCancelled, groundTruth bool
	leadTime                  float64
	completedBy               sql.NullInt64
}

type importPrediction struct {
	result       string
	score        sql.NullFloat64
	modelVersion string
}

// ImportTasks stores tasks with their annotations and predictions in one
// transaction, with multi-row INSERTs of up to maxParamsPerStatement
// parameters each. Inner ids are allocated by one UPDATE … RETURNING on the
// project row, which also serialises concurrent imports into one project; task
// ids come back from the same INSERTs, so no row costs a round trip of its
// own.
func (db *DB) ImportTasks(ctx context.Context, projectID int64, tasks []*blobmark.TaskImport) (*blobmark.ImportResult, error) {
	rows, anns, preds, err := prepareImport(ctx, tasks)
	if err != nil {
		return nil, err
	}
	withAnnotations := 0
	for i := range rows {
		if rows[i].total > 0 {
			withAnnotations++
		}
	}
	res := &blobmark.ImportResult{TaskCount: len(rows), AnnotationCount: len(anns), PredictionCount: len(preds), TaskIDs: make([]int64, len(rows))}
	now := db.timestamp()
	err = db.inTx(ctx, "import tasks", func(tx *Tx) error {
		var seq int64
		var maxAnnotations int
		err := tx.queryRow(ctx, `UPDATE projects SET task_seq = task_seq + ?, task_number = task_number + ?,
			total_annotations_number = total_annotations_number + ?, total_predictions_number = total_predictions_number + ?,
			num_tasks_with_annotations = num_tasks_with_annotations + ?
			WHERE id = ? AND deleted_at IS NULL RETURNING task_seq, maximum_annotations`,
			len(rows), len(rows), countTotal(rows), len(preds), withAnnotations, projectID).Scan(&seq, &maxAnnotations)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project")
		} else if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		firstInnerID := seq - int64(len(rows)) + 1
		maxAnnotations = max(1, maxAnnotations)

		err = tx.bulkInsert(ctx, "tasks", taskImportColumns, "RETURNING id, inner_id", len(rows),
			func(i int, args []any) []any {
				r := &rows[i]
				return append(args, projectID, firstInnerID+int64(i), r.data, r.meta, r.total >= maxAnnotations,
					r.total, r.cancelled, r.predictions, now, now)
			},
			func(sr *sql.Rows) error {
				var id, innerID int64
				if err := sr.Scan(&id, &innerID); err != nil {
					return err
				}
				res.TaskIDs[innerID-firstInnerID] = id
				return nil
			})
		if err != nil {
			return err
		}
		if len(anns) > 0 {
			taskOf := flatTaskIndex(rows, len(anns), func(r *importRow) (int, int) { return r.annotationStart, r.annotationEnd })
			err = tx.bulkInsert(ctx, "annotations", annotationImportColumns, "", len(anns), func(i int, args []any) []any {
				a := &anns[i]
				return append(args, res.TaskIDs[taskOf[i]], projectID, a.result, a.wasCancelled, a.groundTruth, a.leadTime,
					a.completedBy, now, now)
			}, nil)
			if err != nil {
				return err
			}
		}
		if len(preds) > 0 {
			taskOf := flatTaskIndex(rows, len(preds), func(r *importRow) (int, int) { return r.predictionStart, r.predictionEnd })
			err = tx.bulkInsert(ctx, "predictions", predictionImportColumns, "", len(preds), func(i int, args []any) []any {
				p := &preds[i]
				return append(args, res.TaskIDs[taskOf[i]], projectID, p.result, p.score, p.modelVersion, now, now)
			}, nil)
			if err != nil {
				return err
			}
		}
		return tx.fire(ctx, Event{Kind: TasksImported, ProjectID: projectID, TaskIDs: res.TaskIDs})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func countTotal(rows []importRow) int {
	n := 0
	for i := range rows {
		n += rows[i].total
	}
	return n
}

// flatTaskIndex maps each entry of a flat annotation or prediction list to
// the index of its task.
func flatTaskIndex(rows []importRow, n int, span func(*importRow) (int, int)) []int {
	taskOf := make([]int, n)
	for i := range rows {
		start, end := span(&rows[i])
		for j := start; j < end; j++ {
			taskOf[j] = i
		}
	}
	return taskOf
}

// prepareImport validates every task before the transaction starts, so a bad
// task fails the import without touching the database, and turns the JSON
// into the strings both drivers bind as TEXT.
func prepareImport(ctx context.Context, tasks []*blobmark.TaskImport) ([]importRow, []importAnnotation, []importPrediction, error) {
	userID := blobmark.UserIDFromContext(ctx)
	rows := make([]importRow, len(tasks))
	var anns []importAnnotation
	var preds []importPrediction
	for i, t := range tasks {
		if t == nil {
			return nil, nil, nil, blobmark.FieldErrorf("data", "Task %d is empty.", i)
		}
		r := &rows[i]
		var err error
		if r.data, err = jsonObject("data", t.Data, ""); err != nil {
			return nil, nil, nil, withTaskIndex(err, i)
		} else if r.data == "" {
			return nil, nil, nil, withTaskIndex(blobmark.FieldErrorf("data", "This field is required."), i)
		}
		if r.meta, err = jsonObject("meta", t.Meta, "{}"); err != nil {
			return nil, nil, nil, withTaskIndex(err, i)
		}
		r.annotationStart = len(anns)
		for _, a := range t.Annotations {
			if a == nil {
				continue
			}
			result, err := jsonValue("result", a.Result, "[]")
			if err != nil {
				return nil, nil, nil, withTaskIndex(err, i)
			}
			completedBy := a.CompletedBy
			if completedBy == 0 {
				completedBy = userID
			}
			anns = append(anns, importAnnotation{result: result, wasCancelled: a.WasCancelled, groundTruth: a.GroundTruth,
				leadTime: a.LeadTime, completedBy: nullID(completedBy)})
			if a.WasCancelled {
				r.cancelled++
			} else {
				r.total++
			}
		}
		r.annotationEnd = len(anns)
		r.predictionStart = len(preds)
		for _, p := range t.Predictions {
			if p == nil {
				continue
			}
			result, err := jsonValue("result", p.Result, "[]")
			if err != nil {
				return nil, nil, nil, withTaskIndex(err, i)
			}
			var score sql.NullFloat64
			if p.Score != nil {
				score = sql.NullFloat64{Float64: *p.Score, Valid: true}
			}
			preds = append(preds, importPrediction{result: result, score: score, modelVersion: p.ModelVersion})
			r.predictions++
		}
		r.predictionEnd = len(preds)
	}
	return rows, anns, preds, nil
}

// withTaskIndex says which task of an import is at fault, since a client
// sending thousands cannot find it otherwise.
func withTaskIndex(err error, i int) error {
	if e, ok := err.(*blobmark.Error); ok {
		e.Message = "task " + itoa(i) + ": " + e.Message
	}
	return err
}

// bulkInsert inserts n rows in multi-row INSERT statements. bind appends row
// i's values to args; scan, when not nil, reads each row of the RETURNING
// clause. The statement for a full chunk is prepared once and reused.
func (tx *Tx) bulkInsert(ctx context.Context, table string, columns []string, returning string, n int,
	bind func(i int, args []any) []any, scan func(*sql.Rows) error) error {
	perChunk := min(n, maxParamsPerStatement/len(columns))
	args := make([]any, 0, perChunk*len(columns))
	var full *sql.Stmt
	defer func() {
		if full != nil {
			_ = full.Close()
		}
	}()
	for start := 0; start < n; start += perChunk {
		end := min(start+perChunk, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = bind(i, args)
		}
		var stmt *sql.Stmt
		if end-start == perChunk {
			if full == nil {
				var err error
				if full, err = tx.tx.PrepareContext(ctx, tx.db.Rebind(insertSQL(table, columns, perChunk, returning))); err != nil {
					return err
				}
			}
			stmt = full
		} else {
			var err error
			if stmt, err = tx.tx.PrepareContext(ctx, tx.db.Rebind(insertSQL(table, columns, end-start, returning))); err != nil {
				return err
			}
			defer stmt.Close()
		}
		if scan == nil {
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
			continue
		}
		rs, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		for rs.Next() {
			if err := scan(rs); err != nil {
				rs.Close()
				return err
			}
		}
		if err := rs.Close(); err != nil {
			return err
		}
		if err := rs.Err(); err != nil {
			return err
		}
	}
	return nil
}

// insertSQL returns INSERT INTO table (columns) VALUES (?, …), … for rows
// rows, with ? placeholders.
func insertSQL(table string, columns []string, rows int, returning string) string {
	tuple := "(" + strings.Repeat("?, ", len(columns)-1) + "?)"
	var b strings.Builder
	b.Grow(len(table) + 64 + rows*(len(tuple)+2))
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(strings.Join(columns, ", "))
	b.WriteString(") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	if returning != "" {
		b.WriteByte(' ')
		b.WriteString(returning)
	}
	return b.String()
}
