package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/blobmark/blobmark"
)

// Views holds the Data Manager's saved views of projects.
type Views struct {
	*core
}

const viewColumns = "v.id, v.project_id, v.user_id, v.position, v.data, v.created_at, v.updated_at"

// liveView hides the views of deleted projects, like liveTask.
const liveView = " FROM dm_views v JOIN projects p ON p.id = v.project_id AND p.deleted_at IS NULL "

func scanView(row interface{ Scan(...any) error }) (*blobmark.View, error) {
	var v blobmark.View
	var user sql.NullInt64
	var data string
	var created, updated timeValue
	if err := row.Scan(&v.ID, &v.ProjectID, &user, &v.Order, &data, &created, &updated); err != nil {
		return nil, err
	}
	v.UserID, v.Data = user.Int64, json.RawMessage(data)
	v.CreatedAt, v.UpdatedAt = created.Time, updated.Time
	return &v, nil
}

// viewData checks a view's data: a JSON object whose query parses, so a
// saved view always opens. It returns the data and its query.
func viewData(raw json.RawMessage) (string, *blobmark.TaskQuery, error) {
	data, err := jsonObject("data", raw, "{}")
	if err != nil {
		return "", nil, err
	}
	q, err := blobmark.ViewQuery(json.RawMessage(data))
	return data, q, err
}

// FindViews returns a project's views in their order.
func (db *Views) FindViews(ctx context.Context, projectID int64) ([]*blobmark.View, error) {
	rows, err := db.query(ctx, "SELECT "+viewColumns+liveView+"WHERE v.project_id = ? ORDER BY v.position, v.id", projectID)
	if err != nil {
		return nil, translate("find views", err)
	}
	defer rows.Close()
	out := []*blobmark.View{}
	for rows.Next() {
		v, err := scanView(rows)
		if err != nil {
			return nil, translate("find views", err)
		}
		out = append(out, v)
	}
	return out, translate("find views", rows.Err())
}

// FindViewByID returns a view of a live project.
func (db *Views) FindViewByID(ctx context.Context, id int64) (*blobmark.View, error) {
	v, err := scanView(db.queryRow(ctx, "SELECT "+viewColumns+liveView+"WHERE v.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("view")
	}
	return v, translate("find view", err)
}

// CreateView stores v after its project's other views, made by the
// context's user.
func (db *Views) CreateView(ctx context.Context, v *blobmark.View) error {
	data, q, err := viewData(v.Data)
	if err != nil {
		return err
	}
	now := db.timestamp()
	return db.inTx(ctx, "create view", func(tx *Tx) error {
		var one int
		err := tx.queryRow(ctx, "SELECT 1 FROM projects WHERE id = ? AND deleted_at IS NULL", v.ProjectID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project")
		} else if err != nil {
			return err
		}
		v.UserID = blobmark.UserIDFromContext(ctx)
		err = tx.queryRow(ctx, `INSERT INTO dm_views (project_id, user_id, position, data, created_at, updated_at)
			VALUES (?, ?, (SELECT COALESCE(MAX(position), -1) + 1 FROM dm_views WHERE project_id = ?), ?, ?, ?)
			RETURNING id, position`, v.ProjectID, nullID(v.UserID), v.ProjectID, data, now, now).Scan(&v.ID, &v.Order)
		v.Data, v.CreatedAt, v.UpdatedAt = json.RawMessage(data), now, now
		if err != nil {
			return err
		}
		return indexViewFields(ctx, tx, q)
	})
}

// UpdateView replaces a view's data.
func (db *Views) UpdateView(ctx context.Context, id int64, upd blobmark.ViewUpdate) (*blobmark.View, error) {
	var out *blobmark.View
	err := db.inTx(ctx, "update view", func(tx *Tx) error {
		v, err := scanView(tx.queryRow(ctx, "SELECT "+viewColumns+liveView+"WHERE v.id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("view")
		} else if err != nil {
			return err
		}
		if upd.Data != nil {
			data, q, err := viewData(upd.Data)
			if err != nil {
				return err
			}
			if err := indexViewFields(ctx, tx, q); err != nil {
				return err
			}
			v.Data = json.RawMessage(data)
		}
		v.UpdatedAt = db.timestamp()
		_, err = tx.exec(ctx, "UPDATE dm_views SET data = ?, updated_at = ? WHERE id = ?", string(v.Data), v.UpdatedAt, id)
		out = v
		return err
	})
	return out, err
}

// DeleteView deletes a view.
func (db *Views) DeleteView(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete view", func(tx *Tx) error {
		r, err := tx.exec(ctx, "DELETE FROM dm_views WHERE id = ? AND project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)", id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return notFound("view")
		}
		return nil
	})
}

// OrderViews numbers a project's views in the order of ids; an id that is
// not a view of the project refuses the whole request.
func (db *Views) OrderViews(ctx context.Context, projectID int64, ids []int64) error {
	return db.inTx(ctx, "order views", func(tx *Tx) error {
		for i, id := range ids {
			r, err := tx.exec(ctx, "UPDATE dm_views SET position = ? WHERE id = ? AND project_id = ?", i, id, projectID)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 0 {
				return blobmark.FieldErrorf("ids", "View %d is not a view of project %d.", id, projectID)
			}
		}
		return nil
	})
}

// DeleteViews deletes every view of a project.
func (db *Views) DeleteViews(ctx context.Context, projectID int64) error {
	return db.inTx(ctx, "delete views", func(tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM dm_views WHERE project_id = ?", projectID)
		return err
	})
}
