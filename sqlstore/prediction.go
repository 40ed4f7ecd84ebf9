package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/blobmark/blobmark"
)

// Predictions holds the predictions models post through the API
// (blobmark.PredictionService); imports and syncs write theirs with the
// tasks (import.go, source_links.go).
type Predictions struct {
	*core
}

var _ blobmark.PredictionService = (*Predictions)(nil)

// CreatePredictions implements blobmark.PredictionService.
func (db *Predictions) CreatePredictions(ctx context.Context, projectID int64, preds []*blobmark.Prediction) error {
	rows := make([]importPrediction, len(preds))
	for i, p := range preds {
		result, err := jsonValue("result", p.Result, "[]")
		if err != nil {
			return predictionError(len(preds), i, err)
		}
		rows[i] = importPrediction{result: result, modelVersion: p.ModelVersion}
		if p.Score != nil {
			rows[i].score = sql.NullFloat64{Float64: *p.Score, Valid: true}
		}
	}
	now := db.timestamp()
	return db.inTx(ctx, "create predictions", func(tx *Tx) error {
		if _, err := tx.findProject(ctx, projectID); err != nil {
			return err
		}
		perTask := map[int64]int{}
		for i, p := range preds {
			var owner int64
			err := tx.queryRow(ctx, "SELECT project_id FROM tasks WHERE id = ?", p.TaskID).Scan(&owner)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != projectID) {
				return predictionError(len(preds), i, blobmark.FieldErrorf("task", "Task %d is not a task of project %d.", p.TaskID, projectID))
			} else if err != nil {
				return err
			}
			perTask[p.TaskID]++
		}
		// One row at a time, for the ids the caller gets back; model
		// scripts post hundreds, not millions.
		for i, p := range preds {
			r := &rows[i]
			err := tx.queryRow(ctx, `INSERT INTO predictions (task_id, project_id, result, score, model_version, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, p.TaskID, projectID, r.result, r.score, r.modelVersion, now, now).Scan(&p.ID)
			if err != nil {
				return err
			}
			p.ProjectID, p.Result, p.CreatedAt, p.UpdatedAt = projectID, json.RawMessage(r.result), now, now
		}
		for taskID, n := range perTask {
			if err := tx.countPredictions(ctx, projectID, taskID, n); err != nil {
				return err
			}
		}
		return nil
	})
}

// predictionError names the prediction of a list that err is about.
func predictionError(n, i int, err error) error {
	if n == 1 {
		return err
	}
	var e *blobmark.Error
	if errors.As(err, &e) {
		return blobmark.Errorf(e.Code, "Prediction %d: %s: %s", i, e.Field, e.Message)
	}
	return fmt.Errorf("prediction %d: %w", i, err)
}

// countPredictions adds d to a task's and its project's prediction counters.
func (tx *Tx) countPredictions(ctx context.Context, projectID, taskID int64, d int) error {
	if _, err := tx.exec(ctx, "UPDATE tasks SET total_predictions = total_predictions + ? WHERE id = ?", d, taskID); err != nil {
		return err
	}
	return tx.addCounts(ctx, projectID, counts{predictions: d})
}

// FindPredictionByID implements blobmark.PredictionService.
func (db *Predictions) FindPredictionByID(ctx context.Context, id int64) (*blobmark.Prediction, error) {
	preds, err := db.findPredictions(ctx, "p.id = ? AND p.project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)", id)
	if err != nil {
		return nil, err
	}
	if len(preds) == 0 {
		return nil, notFound("prediction")
	}
	return preds[0], nil
}

// FindPredictions implements blobmark.PredictionService.
func (db *Predictions) FindPredictions(ctx context.Context, f blobmark.PredictionFilter) ([]*blobmark.Prediction, error) {
	where, args := "p.project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)", []any{}
	if f.TaskID != 0 {
		where += " AND p.task_id = ?"
		args = append(args, f.TaskID)
	}
	if f.ProjectID != 0 {
		where += " AND p.project_id = ?"
		args = append(args, f.ProjectID)
	}
	if len(args) == 0 {
		return nil, blobmark.Errorf(blobmark.EINVALID, "Predictions are listed by task or by project.")
	}
	preds, err := db.findPredictions(ctx, where, args...)
	if preds == nil && err == nil {
		preds = []*blobmark.Prediction{}
	}
	return preds, err
}

// UpdatePrediction implements blobmark.PredictionService.
func (db *Predictions) UpdatePrediction(ctx context.Context, id int64, upd blobmark.PredictionUpdate) (*blobmark.Prediction, error) {
	p, err := db.FindPredictionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if upd.Result != nil {
		result, err := jsonValue("result", upd.Result, "[]")
		if err != nil {
			return nil, err
		}
		p.Result = json.RawMessage(result)
	}
	if upd.ClearScore {
		p.Score = nil
	} else if upd.Score != nil {
		p.Score = upd.Score
	}
	set(&p.ModelVersion, upd.ModelVersion)
	p.UpdatedAt = db.timestamp()
	var score sql.NullFloat64
	if p.Score != nil {
		score = sql.NullFloat64{Float64: *p.Score, Valid: true}
	}
	err = db.inTx(ctx, "update prediction", func(tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE predictions SET result = ?, score = ?, model_version = ?, updated_at = ? WHERE id = ?",
			string(p.Result), score, p.ModelVersion, p.UpdatedAt, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("prediction")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// DeletePrediction implements blobmark.PredictionService.
func (db *Predictions) DeletePrediction(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete prediction", func(tx *Tx) error {
		var taskID, projectID int64
		err := tx.queryRow(ctx, `DELETE FROM predictions WHERE id = ?
			AND project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)
			RETURNING task_id, project_id`, id).Scan(&taskID, &projectID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("prediction")
		} else if err != nil {
			return err
		}
		return tx.countPredictions(ctx, projectID, taskID, -1)
	})
}
