package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/blobmark/blobmark"
	"github.com/riverqueue/river"
)

// Webhooks holds the project webhooks and their delivery log.
type Webhooks struct {
	*core
}

// Interface check: the store keeps webhooks and their delivery log.
var _ blobmark.WebhookService = (*DB)(nil)

// WebhookMaxAttempts is how many times a delivery is tried before it is
// given up (River's backoff grows from seconds to hours in between).
const WebhookMaxAttempts = 10

const webhookColumns = `w.id, p.organization_id, w.project_id, w.url, w.secret_sealed, w.send_payload,
	w.send_for_all_actions, w.actions, w.headers, w.is_active, w.created_at, w.updated_at`

// liveWebhook joins a webhook to its live project.
const liveWebhook = " FROM webhooks w JOIN projects p ON p.id = w.project_id AND p.deleted_at IS NULL "

// scanWebhook reads one row of webhookColumns, opening its secret only
// withSecret.
func (db *Webhooks) scanWebhook(row interface{ Scan(...any) error }, withSecret bool) (*blobmark.Webhook, error) {
	var w blobmark.Webhook
	var org sql.NullInt64
	var sealed, actions, headers string
	var created, updated timeValue
	err := row.Scan(&w.ID, &org, &w.ProjectID, &w.URL, &sealed, &w.SendPayload, &w.SendForAllActions,
		&actions, &headers, &w.IsActive, &created, &updated)
	if err != nil {
		return nil, err
	}
	w.OrganizationID = org.Int64
	w.CreatedAt, w.UpdatedAt = created.Time, updated.Time
	if err := json.Unmarshal([]byte(actions), &w.Actions); err != nil {
		return nil, wrapInternal("decode webhook actions", err)
	}
	if err := json.Unmarshal([]byte(headers), &w.Headers); err != nil {
		return nil, wrapInternal("decode webhook headers", err)
	}
	if withSecret && sealed != "" {
		box, err := db.secretBox()
		if err != nil {
			return nil, err
		}
		plain, err := box.Open(sealed)
		if err != nil {
			return nil, &blobmark.Error{Code: blobmark.EINTERNAL,
				Message: "cannot decrypt the webhook's secret: was the secret key changed without keeping the old one in --secret-key-previous?", Err: err}
		}
		w.Secret = blobmark.Secret(plain)
	}
	return &w, nil
}

// webhookRow encodes the stored form of w's secret, actions and headers,
// generating a secret when w has none.
func (db *Webhooks) webhookRow(w *blobmark.Webhook) (sealed, actions, headers string, err error) {
	if w.Secret == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", "", "", wrapInternal("generate webhook secret", err)
		}
		w.Secret = blobmark.Secret(base64.RawURLEncoding.EncodeToString(b))
	}
	box, err := db.secretBox()
	if err != nil {
		return "", "", "", err
	}
	if sealed, err = box.Seal(w.Secret.Reveal()); err != nil {
		return "", "", "", wrapInternal("seal webhook secret", err)
	}
	if w.Actions == nil {
		w.Actions = []string{}
	}
	if w.Headers == nil {
		w.Headers = map[string]string{}
	}
	a, _ := json.Marshal(w.Actions)
	h, _ := json.Marshal(w.Headers)
	return sealed, string(a), string(h), nil
}

// CreateWebhook stores a webhook of a live project.
func (db *Webhooks) CreateWebhook(ctx context.Context, w *blobmark.Webhook) error {
	sealed, actions, headers, err := db.webhookRow(w)
	if err != nil {
		return err
	}
	now := db.timestamp()
	return db.inTx(ctx, "create webhook", func(tx *Tx) error {
		var org sql.NullInt64
		err := tx.queryRow(ctx, "SELECT organization_id FROM projects WHERE id = ? AND deleted_at IS NULL", w.ProjectID).Scan(&org)
		if errors.Is(err, sql.ErrNoRows) {
			return blobmark.FieldErrorf("project", "Invalid pk \"%d\" - object does not exist.", w.ProjectID)
		} else if err != nil {
			return err
		}
		err = tx.queryRow(ctx, `INSERT INTO webhooks (project_id, url, secret_sealed, send_payload, send_for_all_actions,
			actions, headers, is_active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			w.ProjectID, w.URL, sealed, w.SendPayload, w.SendForAllActions, actions, headers, w.IsActive, now, now).Scan(&w.ID)
		w.OrganizationID, w.CreatedAt, w.UpdatedAt = org.Int64, now, now
		return err
	})
}

// FindWebhookByID returns a webhook of a live project, its secret left
// sealed (Secret is empty): the API never shows it again.
func (db *Webhooks) FindWebhookByID(ctx context.Context, id int64) (*blobmark.Webhook, error) {
	return db.findWebhook(ctx, id, false)
}

// FindWebhookWithSecret returns a webhook of a live project with its
// secret opened, to sign a delivery.
func (db *Webhooks) FindWebhookWithSecret(ctx context.Context, id int64) (*blobmark.Webhook, error) {
	return db.findWebhook(ctx, id, true)
}

func (db *Webhooks) findWebhook(ctx context.Context, id int64, withSecret bool) (*blobmark.Webhook, error) {
	w, err := db.scanWebhook(db.queryRow(ctx, "SELECT "+webhookColumns+liveWebhook+"WHERE w.id = ?", id), withSecret)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook")
	}
	return w, translate("find webhook", err)
}

// FindWebhooks returns a project's webhooks (every live project's for 0),
// in id order, their secrets left sealed.
func (db *Webhooks) FindWebhooks(ctx context.Context, projectID int64) ([]*blobmark.Webhook, error) {
	q, args := "SELECT "+webhookColumns+liveWebhook, []any{}
	if projectID != 0 {
		q += "WHERE w.project_id = ? "
		args = append(args, projectID)
	}
	rows, err := db.query(ctx, q+"ORDER BY w.id", args...)
	if err != nil {
		return nil, translate("find webhooks", err)
	}
	defer rows.Close()
	out := []*blobmark.Webhook{}
	for rows.Next() {
		w, err := db.scanWebhook(rows, false)
		if err != nil {
			return nil, translate("find webhooks", err)
		}
		out = append(out, w)
	}
	return out, translate("find webhooks", rows.Err())
}

// UpdateWebhook stores w's fields; an empty Secret keeps the stored one.
func (db *Webhooks) UpdateWebhook(ctx context.Context, w *blobmark.Webhook) error {
	keep := w.Secret == ""
	sealed, actions, headers, err := db.webhookRow(w)
	if err != nil {
		return err
	}
	now := db.timestamp()
	q := `UPDATE webhooks SET url = ?, send_payload = ?, send_for_all_actions = ?, actions = ?, headers = ?,
		is_active = ?, updated_at = ?`
	args := []any{w.URL, w.SendPayload, w.SendForAllActions, actions, headers, w.IsActive, now}
	if !keep {
		q += ", secret_sealed = ?"
		args = append(args, sealed)
	}
	args = append(args, w.ID)
	res, err := db.write.ExecContext(ctx, db.rebind(q+" WHERE id = ?"), args...)
	if err != nil {
		return translate("update webhook", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("webhook")
	}
	if keep {
		w.Secret = ""
	}
	w.UpdatedAt = now
	return nil
}

// DeleteWebhook deletes a webhook and its delivery log; deliveries still
// queued find it gone and stop.
func (db *Webhooks) DeleteWebhook(ctx context.Context, id int64) error {
	res, err := db.write.ExecContext(ctx, db.rebind("DELETE FROM webhooks WHERE id = ?"), id)
	if err != nil {
		return translate("delete webhook", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("webhook")
	}
	return nil
}

// FindWebhookDeliveries returns a webhook's latest delivery attempts,
// newest first.
func (db *Webhooks) FindWebhookDeliveries(ctx context.Context, webhookID int64, limit int) ([]*blobmark.WebhookDelivery, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := db.query(ctx, `SELECT id, webhook_id, job_id, action, attempt, status_code, error, duration_ms, success, created_at
		FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?`, webhookID, limit)
	if err != nil {
		return nil, translate("find webhook deliveries", err)
	}
	defer rows.Close()
	out := []*blobmark.WebhookDelivery{}
	for rows.Next() {
		var d blobmark.WebhookDelivery
		var created timeValue
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.JobID, &d.Action, &d.Attempt, &d.StatusCode, &d.Error,
			&d.DurationMS, &d.Success, &created); err != nil {
			return nil, translate("find webhook deliveries", err)
		}
		d.CreatedAt = created.Time
		out = append(out, &d)
	}
	return out, translate("find webhook deliveries", rows.Err())
}

// RecordWebhookDelivery logs one attempt; a webhook deleted meanwhile
// logs nothing.
func (db *Webhooks) RecordWebhookDelivery(ctx context.Context, d *blobmark.WebhookDelivery) error {
	d.CreatedAt = db.timestamp()
	_, err := db.write.ExecContext(ctx, db.rebind(`INSERT INTO webhook_deliveries (webhook_id, job_id, action, attempt,
		status_code, error, duration_ms, success, created_at)
		SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM webhooks WHERE id = ?`),
		d.JobID, d.Action, d.Attempt, d.StatusCode, d.Error, d.DurationMS, d.Success, d.CreatedAt, d.WebhookID)
	return translate("record webhook delivery", err)
}

// webhookTargets returns the active webhooks of a project that want action.
func (tx *Tx) webhookTargets(ctx context.Context, projectID int64, action string) ([]webhookTarget, error) {
	rows, err := tx.query(ctx, `SELECT id, send_payload, send_for_all_actions, actions FROM webhooks
		WHERE project_id = ? AND is_active`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhookTarget
	for rows.Next() {
		var w blobmark.Webhook
		var actions string
		if err := rows.Scan(&w.ID, &w.SendPayload, &w.SendForAllActions, &actions); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(actions), &w.Actions)
		w.IsActive = true
		if w.Wants(action) {
			out = append(out, webhookTarget{id: w.ID, sendPayload: w.SendPayload})
		}
	}
	return out, rows.Err()
}

type webhookTarget struct {
	id          int64
	sendPayload bool
}

// webhookJobOpts bounds the retries of a delivery.
var webhookJobOpts = &river.InsertOpts{MaxAttempts: WebhookMaxAttempts}

// enqueueWebhooks enqueues, in tx, one delivery per webhook of the project
// that wants action. payload builds the event's objects (Label Studio's
// keys: "task", "annotation", "tasks", …); it runs only when a webhook
// sends payloads, and "action" and "project" are added to it.
func (tx *Tx) enqueueWebhooks(ctx context.Context, projectID int64, action string, payload func() (map[string]any, error)) error {
	targets, err := tx.webhookTargets(ctx, projectID, action)
	if err != nil || len(targets) == 0 {
		return err
	}
	var full, bare []byte
	for _, t := range targets {
		if !t.sendPayload {
			if bare == nil {
				bare, _ = json.Marshal(map[string]any{"action": action})
			}
			if err := tx.InsertJob(ctx, blobmark.DeliverWebhookJob{WebhookID: t.id, Action: action, Body: bare}, webhookJobOpts); err != nil {
				return err
			}
			continue
		}
		if full == nil {
			body := map[string]any{}
			if payload != nil {
				if body, err = payload(); err != nil {
					return err
				}
			}
			if _, ok := body["project"]; !ok {
				p, err := tx.findProject(ctx, projectID)
				if err != nil {
					return err
				}
				body["project"] = p
			}
			body["action"] = action
			if full, err = json.Marshal(body); err != nil {
				return wrapInternal("encode webhook payload", err)
			}
		}
		if err := tx.InsertJob(ctx, blobmark.DeliverWebhookJob{WebhookID: t.id, Action: action, Body: full}, webhookJobOpts); err != nil {
			return err
		}
	}
	return nil
}

// webhookHook enqueues the webhooks of annotation writes and task imports
// in their transaction.
func webhookHook(ctx context.Context, tx *Tx, ev Event) error {
	switch ev.Kind {
	case AnnotationCreated, AnnotationUpdated:
		action := blobmark.ActionAnnotationCreated
		if ev.Kind == AnnotationUpdated {
			action = blobmark.ActionAnnotationUpdated
		}
		return tx.enqueueWebhooks(ctx, ev.ProjectID, action, func() (map[string]any, error) {
			a, err := scanAnnotation(tx.queryRow(ctx, "SELECT "+annotationColumns+" FROM annotations a WHERE a.id = ?", ev.AnnotationID))
			if err != nil {
				return nil, err
			}
			t, err := scanTask(tx.queryRow(ctx, "SELECT "+taskColumns+" FROM tasks t WHERE t.id = ?", ev.TaskID))
			if err != nil {
				return nil, err
			}
			return map[string]any{"annotation": a, "task": t}, nil
		})
	case AnnotationDeleted:
		return tx.enqueueWebhooks(ctx, ev.ProjectID, blobmark.ActionAnnotationsDeleted, func() (map[string]any, error) {
			return map[string]any{"annotations": []map[string]int64{{"id": ev.AnnotationID}}}, nil
		})
	case TasksImported:
		if len(ev.TaskIDs) == 0 {
			return nil
		}
		return tx.enqueueWebhooks(ctx, ev.ProjectID, blobmark.ActionTasksCreated, func() (map[string]any, error) {
			tasks, err := tx.tasksByID(ctx, ev.TaskIDs)
			return map[string]any{"tasks": tasks}, err
		})
	}
	return nil
}

// tasksByID reads tasks in the order of ids.
func (tx *Tx) tasksByID(ctx context.Context, ids []int64) ([]*blobmark.Task, error) {
	out := make([]*blobmark.Task, 0, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := tx.query(ctx, "SELECT "+taskColumns+" FROM tasks t WHERE t.id IN (?"+
			strings.Repeat(", ?", len(chunk)-1)+") ORDER BY t.id", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			t, err := scanTask(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// storageSyncWebhook enqueues STORAGE_SYNC_COMPLETED or STORAGE_SYNC_FAILED
// for a source storage that finished a sync.
func (tx *Tx) storageSyncWebhook(ctx context.Context, storageID int64, status string, count int, traceback string) error {
	var projectID int64
	var typ, title, container, prefix string
	err := tx.queryRow(ctx, "SELECT project_id, type, title, container, prefix FROM source_storages WHERE id = ?", storageID).
		Scan(&projectID, &typ, &title, &container, &prefix)
	if err != nil {
		return err
	}
	action := blobmark.ActionStorageSyncCompleted
	if status == blobmark.StatusFailed {
		action = blobmark.ActionStorageSyncFailed
	}
	return tx.enqueueWebhooks(ctx, projectID, action, func() (map[string]any, error) {
		st := map[string]any{"id": storageID, "type": typ, "title": title, "container": container, "prefix": prefix,
			"status": status, "last_sync_count": count}
		if traceback != "" {
			st["traceback"] = traceback
		}
		return map[string]any{"storage": st}, nil
	})
}

// exportFailedWebhook enqueues EXPORT_FAILED for a target storage.
func (tx *Tx) exportFailedWebhook(ctx context.Context, storageID int64, message string) error {
	var projectID int64
	var typ, title, container, prefix string
	err := tx.queryRow(ctx, "SELECT project_id, type, title, container, prefix FROM target_storages WHERE id = ?", storageID).
		Scan(&projectID, &typ, &title, &container, &prefix)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return tx.enqueueWebhooks(ctx, projectID, blobmark.ActionExportFailed, func() (map[string]any, error) {
		return map[string]any{"storage": map[string]any{"id": storageID, "type": typ, "title": title,
			"container": container, "prefix": prefix, "status": blobmark.StatusFailed, "traceback": message}}, nil
	})
}
