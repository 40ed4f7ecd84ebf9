package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"strings"
	"time"

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

// importBatchBytes bounds the task JSON (data, meta, results) of one batch
// of a streamed import, so that tasks of any size keep a batch — the
// import's memory — small; the batch also ends at one INSERT's worth of
// task rows.
const importBatchBytes = 1 << 20

// ImportTasks stores tasks with their annotations and predictions in one
// transaction, as ImportTaskStream does.
func (db *Tasks) ImportTasks(ctx context.Context, projectID int64, tasks []*blobmark.TaskImport) (*blobmark.ImportResult, error) {
	return db.ImportTaskStream(ctx, projectID, blobmark.TaskStream(tasks))
}

// ImportTaskStream stores the tasks tasks yields, with their annotations and
// predictions, in one transaction: batches of up to one INSERT's worth of
// task rows (and importBatchBytes of JSON) are validated and written as they
// fill, so memory holds one batch, not the import. The transaction begins
// with the first full batch — a small import is validated whole before it
// touches the database — and any error, the one tasks may yield included,
// rolls it all back. Inner ids come from one UPDATE … RETURNING on the
// project row per batch, which also serialises concurrent imports into one
// project; task ids come back from the same INSERTs, so no row costs a round
// trip of its own.
func (db *Tasks) ImportTaskStream(ctx context.Context, projectID int64, tasks iter.Seq2[*blobmark.TaskImport, error]) (res *blobmark.ImportResult, err error) {
	var tx *Tx
	defer func() {
		if tx != nil { // not committed: an error, or a panic on its way up
			tx.rollback(ctx, "import tasks")
		}
	}()
	res = &blobmark.ImportResult{TaskIDs: []int64{}}
	batchTasks := maxParamsPerStatement / len(taskImportColumns)
	batch := make([]*blobmark.TaskImport, 0, batchTasks)
	size := 0
	flush := func() error {
		p, err := prepareImport(ctx, batch, res.TaskCount)
		if err != nil {
			return err
		}
		if tx == nil {
			if tx, err = db.begin(ctx, "import tasks"); err != nil {
				return err
			}
		}
		ids, err := tx.insertPrepared(ctx, projectID, p)
		if err != nil {
			return translate("import tasks", err)
		}
		res.TaskIDs = append(res.TaskIDs, ids...)
		res.TaskCount += len(p.rows)
		res.AnnotationCount += len(p.anns)
		res.PredictionCount += len(p.preds)
		clear(batch) // the tasks are written: let them go
		batch, size = batch[:0], 0
		return nil
	}
	for t, err := range tasks {
		if err != nil {
			return nil, err
		}
		batch = append(batch, t)
		if size += taskBytes(t); len(batch) == batchTasks || size >= importBatchBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	// The last batch; an empty import still checks that the project exists.
	if len(batch) > 0 || tx == nil {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := tx.fire(ctx, Event{Kind: TasksImported, ProjectID: projectID, TaskIDs: res.TaskIDs}); err != nil {
		return nil, translate("import tasks", err)
	}
	err = tx.commit(ctx)
	tx = nil
	if err != nil {
		return nil, translate("import tasks: commit", err)
	}
	return res, nil
}

// taskBytes is the JSON a task brings into a batch.
func taskBytes(t *blobmark.TaskImport) int {
	if t == nil {
		return 0
	}
	n := len(t.Data) + len(t.Meta)
	for _, a := range t.Annotations {
		if a != nil {
			n += len(a.Result)
		}
	}
	for _, p := range t.Predictions {
		if p != nil {
			n += len(p.Result)
		}
	}
	return n
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

// preparedImport is a batch of tasks validated and ready to bind.
type preparedImport struct {
	rows  []importRow
	anns  []importAnnotation
	preds []importPrediction
}

// prepareImport validates every task of a batch before it is written, so a
// bad task fails without touching the database, and turns the JSON into the
// strings both drivers bind as TEXT. first is the index of the batch's first
// task in its import, for messages.
func prepareImport(ctx context.Context, tasks []*blobmark.TaskImport, first int) (*preparedImport, error) {
	userID := blobmark.UserIDFromContext(ctx)
	rows := make([]importRow, len(tasks))
	var anns []importAnnotation
	var preds []importPrediction
	for i, t := range tasks {
		if t == nil {
			return nil, blobmark.FieldErrorf("data", "Task %d is empty.", first+i)
		}
		r := &rows[i]
		var err error
		if r.data, err = jsonObject("data", t.Data, ""); err != nil {
			return nil, withTaskIndex(err, first+i)
		} else if r.data == "" {
			return nil, withTaskIndex(blobmark.FieldErrorf("data", "This field is required."), first+i)
		}
		if r.meta, err = jsonObject("meta", t.Meta, "{}"); err != nil {
			return nil, withTaskIndex(err, first+i)
		}
		r.annotationStart = len(anns)
		for _, a := range t.Annotations {
			if a == nil {
				continue
			}
			result, err := jsonValue("result", a.Result, "[]")
			if err != nil {
				return nil, withTaskIndex(err, first+i)
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
				return nil, withTaskIndex(err, first+i)
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
	return &preparedImport{rows: rows, anns: anns, preds: preds}, nil
}

// withTaskIndex says which task of an import is at fault, since a client
// sending thousands cannot find it otherwise.
func withTaskIndex(err error, i int) error {
	if e, ok := err.(*blobmark.Error); ok {
		e.Message = "task " + itoa(i) + ": " + e.Message
	}
	return err
}

// insertTasks inserts tasks with their annotations and predictions into a
// project and returns their ids in order, keeping the project's counters,
// as ImportTasks does but inside the caller's transaction: a sync's page of
// new tasks goes through the same writer as an API import.
func (tx *Tx) insertTasks(ctx context.Context, projectID int64, tasks []*blobmark.TaskImport) ([]int64, error) {
	p, err := prepareImport(ctx, tasks, 0)
	if err != nil {
		return nil, err
	}
	return tx.insertPrepared(ctx, projectID, p)
}

// insertPrepared inserts a validated batch of tasks into a project and
// returns their ids in order, keeping the project's counters. It is the one
// writer of task rows: ImportTaskStream calls it per batch, and a sync's
// WriteBatch through insertTasks.
func (tx *Tx) insertPrepared(ctx context.Context, projectID int64, p *preparedImport) ([]int64, error) {
	rows, anns, preds := p.rows, p.anns, p.preds
	withAnnotations := 0
	for i := range rows {
		if rows[i].total > 0 {
			withAnnotations++
		}
	}
	last, labeling, err := tx.takeTaskNumbers(ctx, projectID, len(rows))
	if err != nil {
		return nil, err
	}
	first := last - int64(len(rows)) + 1
	now := tx.db.timestamp()
	bind := func(i int, args []any) []any {
		r := &rows[i]
		return append(args, projectID, first+int64(i), r.data, r.meta, labeling.TaskIsLabeled(r.total, r.cancelled),
			r.total, r.cancelled, r.predictions, now, now)
	}
	ids, err := tx.insertTaskRows(ctx, len(rows), first, bind)
	if err != nil {
		return nil, err
	}
	if err := tx.addCounts(ctx, projectID, counts{len(rows), countTotal(rows), len(preds), withAnnotations}); err != nil {
		return nil, err
	}
	if len(anns) > 0 {
		taskOf := flatTaskIndex(rows, len(anns), func(r *importRow) (int, int) { return r.annotationStart, r.annotationEnd })
		if err := tx.insertAnnotations(ctx, projectID, anns, func(i int) int64 { return ids[taskOf[i]] }, now); err != nil {
			return nil, err
		}
	}
	if len(preds) > 0 {
		taskOf := flatTaskIndex(rows, len(preds), func(r *importRow) (int, int) { return r.predictionStart, r.predictionEnd })
		if err := tx.insertPredictions(ctx, projectID, preds, func(i int) int64 { return ids[taskOf[i]] }, now); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// insertTaskRows inserts n task rows (taskImportColumns, bound by bind,
// inner ids from first on) and returns their ids in order. On PostgreSQL a
// batch takes its ids from the id sequence first and is copied with them;
// otherwise the INSERTs return them.
func (tx *Tx) insertTaskRows(ctx context.Context, n int, first int64, bind func(i int, args []any) []any) ([]int64, error) {
	if tx.pg != nil && n >= copyMinRows {
		ids, err := tx.newIDs(ctx, "tasks", n)
		if err != nil {
			return nil, err
		}
		err = tx.copyRows(ctx, "tasks", append([]string{"id"}, taskImportColumns...), n, func(i int, args []any) []any {
			return bind(i, append(args, ids[i]))
		})
		return ids, err
	}
	ids := make([]int64, n)
	err := tx.bulkInsert(ctx, "tasks", taskImportColumns, "RETURNING id, inner_id", n, bind,
		func(sr resultRows) error {
			var id, inner int64
			if err := sr.Scan(&id, &inner); err != nil {
				return err
			}
			ids[inner-first] = id
			return nil
		})
	return ids, err
}

// labelingOf reads the settings of a live project that TaskIsLabeled
// reads, without locking its row, as an annotation's save reads them
// (isLabeledSQL).
func (tx *Tx) labelingOf(ctx context.Context, projectID int64) (blobmark.Project, error) {
	var p blobmark.Project
	err := tx.queryRow(ctx, "SELECT maximum_annotations, skip_queue FROM projects WHERE id = ? AND deleted_at IS NULL", projectID).
		Scan(&p.MaximumAnnotations, &p.SkipQueue)
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("project")
	}
	return p, err
}

// insertAnnotations writes imported annotations in multi-row INSERTs, the
// one binding of an imported annotation's row; taskID gives annotation i's
// task, and now is the caller's timestamp, so that the annotations carry
// their task's.
func (tx *Tx) insertAnnotations(ctx context.Context, projectID int64, anns []importAnnotation, taskID func(i int) int64, now time.Time) error {
	return tx.bulkInsert(ctx, "annotations", annotationImportColumns, "", len(anns), func(i int, args []any) []any {
		a := &anns[i]
		return append(args, taskID(i), projectID, a.result, a.wasCancelled, a.groundTruth, a.leadTime, a.completedBy, now, now)
	}, nil)
}

// insertPredictions is insertAnnotations for imported predictions.
func (tx *Tx) insertPredictions(ctx context.Context, projectID int64, preds []importPrediction, taskID func(i int) int64, now time.Time) error {
	return tx.bulkInsert(ctx, "predictions", predictionImportColumns, "", len(preds), func(i int, args []any) []any {
		p := &preds[i]
		return append(args, taskID(i), projectID, p.result, p.score, p.modelVersion, now, now)
	}, nil)
}

// bulkInsert inserts n rows in multi-row INSERT statements. bind appends row
// i's values to args; scan, when not nil, reads each row of the RETURNING
// clause. The statement for a chunk of the largest size is prepared once per
// transaction and reused, across calls too: a streamed import makes one
// call per batch. Another size is prepared for the call alone. On
// PostgreSQL, copyMinRows rows or more with nothing to return or resolve
// are copied instead (copyRows).
func (tx *Tx) bulkInsert(ctx context.Context, table string, columns []string, returning string, n int,
	bind func(i int, args []any) []any, scan func(resultRows) error) error {
	if tx.pg != nil && n >= copyMinRows && returning == "" && scan == nil {
		return tx.copyRows(ctx, table, columns, n, bind)
	}
	largest := maxParamsPerStatement / len(columns)
	perChunk := min(n, largest)
	args := make([]any, 0, perChunk*len(columns))
	var full stmt
	defer func() {
		if full != nil && perChunk < largest {
			_ = full.Close()
		}
	}()
	for start := 0; start < n; start += perChunk {
		end := min(start+perChunk, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = bind(i, args)
		}
		var st stmt
		if end-start == perChunk {
			if full == nil {
				var err error
				q := tx.db.rebind(insertSQL(table, columns, perChunk, returning))
				if perChunk == largest {
					full, err = tx.prepareKept(ctx, q)
				} else {
					full, err = tx.prepare(ctx, q)
				}
				if err != nil {
					return err
				}
			}
			st = full
		} else {
			var err error
			if st, err = tx.prepare(ctx, tx.db.rebind(insertSQL(table, columns, end-start, returning))); err != nil {
				return err
			}
			defer st.Close()
		}
		if scan == nil {
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return err
			}
			continue
		}
		rs, err := st.QueryContext(ctx, args...)
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
