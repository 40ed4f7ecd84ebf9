package sqlstore

// This file stores target ("export") storages and their export links, and
// enqueues an export job for every annotation write in the write's own
// transaction. It imports exporter, a pure-domain package (no I/O of its
// own), to implement the exporter's Source and Recorder interfaces on the
// store rather than through a layer of adapters.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TargetStorages holds the export storages, their sync state, and the export lag across them.
type TargetStorages struct {
	*core
}

// Interface checks.
var (
	_ blobmark.TargetStorageService = (*DB)(nil)
	_ blobmark.ProjectExporter      = (*DB)(nil)
	_ exporter.Source               = ExportStore{}
	_ exporter.Recorder             = ExportStore{}
)

const targetStorageColumns = `id, project_id, type, title, description, container, prefix, can_delete_objects,
	export_format, file_extension, key_template, dataset_format, dataset_key_template, dataset_state,
	dataset_interval_minutes, connection, secrets, ` + stateColumns + `, created_at, updated_at`

// targetAnnotationCount is the column of the number of annotations in
// target storage table t's row's container: one per link in the
// "annotation" format, the ones in the task's file in the "task" format.
func targetAnnotationCount(t string) string {
	return "(SELECT COALESCE(SUM(l.annotation_count), 0) FROM export_links l WHERE l.storage_id = " + t + ".id)"
}

// scanTargetStorage reads one row of targetStorageColumns,
// organizationColumn and targetAnnotationCount, opening its
// secrets only withSecrets.
func (db *TargetStorages) scanTargetStorage(row interface{ Scan(...any) error }, withSecrets bool) (*blobmark.TargetStorage, error) {
	var s blobmark.TargetStorage
	var fileExt sql.NullBool
	var conn, sealed, dataset string
	var st stateScan
	var created, updated timeValue
	dest := []any{&s.ID, &s.ProjectID, &s.Type, &s.Title, &s.Description, &s.Container, &s.Prefix,
		&s.CanDeleteObjects, &s.ExportFormat, &fileExt, &s.KeyTemplate, &s.DatasetFormat, &s.DatasetKeyTemplate, &dataset,
		&s.DatasetIntervalMinutes, &conn, &sealed}
	dest = append(append(dest, st.dest()...), &created, &updated, &s.Organization, &s.AnnotationCount)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if fileExt.Valid {
		s.FileExtension = &fileExt.Bool
	}
	if err := json.Unmarshal([]byte(dataset), &s.Dataset); err != nil {
		return nil, err
	}
	var err error
	if s.Connection, err = parseConnection(conn); err != nil {
		return nil, err
	}
	if withSecrets {
		if s.Secrets, err = db.openSecrets(sealed); err != nil {
			return nil, err
		}
	}
	s.State = st.state()
	s.CreatedAt, s.UpdatedAt = created.Time, updated.Time
	return &s, nil
}

// normalizeTargetStorage fills defaults and checks the settings: the
// export format, the key templates, and the dataset format against the
// project's label config, each an EINVALID error naming its field.
func (db *TargetStorages) normalizeTargetStorage(ctx context.Context, s *blobmark.TargetStorage) error {
	if s.ExportFormat == "" {
		s.ExportFormat = string(exporter.FormatAnnotation)
	}
	if !exporter.Format(s.ExportFormat).Valid() {
		return blobmark.FieldErrorf("export_format", "%q is not a valid choice; use %q or %q.", s.ExportFormat, exporter.FormatAnnotation, exporter.FormatTask)
	}
	if !slices.Contains(blobmark.TargetStorageTypes, s.Type) {
		return blobmark.FieldErrorf("type", "unknown storage type %q", s.Type)
	}
	if _, err := exporter.ParseObjectTemplate(s.KeyTemplate, exporter.Format(s.ExportFormat)); err != nil {
		return err
	}
	if _, err := exporter.ParseDatasetTemplate(s.DatasetKeyTemplate); err != nil {
		return err
	}
	if s.DatasetFormat != "" {
		cfg, err := db.labelConfig(ctx, s.ProjectID)
		if err != nil {
			return err
		}
		f, err := exporter.CheckDatasetFormat(s.DatasetFormat, cfg)
		if err != nil {
			return err
		}
		s.DatasetFormat = f.Name
	}
	if err := blobmark.CheckIntervalMinutes("dataset_interval_minutes", s.DatasetIntervalMinutes); err != nil {
		return err
	}
	if s.Connection == nil {
		s.Connection = blobmark.Connection{}
	}
	return nil
}

// labelConfig returns a project's parsed label config; nil when the
// project does not exist (its own check reports that) or its config
// does not parse (it could not have been saved so).
func (db *TargetStorages) labelConfig(ctx context.Context, projectID int64) (*blobmark.LabelConfig, error) {
	var config string
	err := db.queryRow(ctx, "SELECT label_config FROM projects WHERE id = ?", projectID).Scan(&config)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, translate("read label config", err)
	}
	cfg, _ := blobmark.ParseLabelConfig(config)
	return cfg, nil
}

// CreateTargetStorage stores s and, with initialSync, queues the export of
// the project's existing annotations in the same transaction.
func (db *TargetStorages) CreateTargetStorage(ctx context.Context, s *blobmark.TargetStorage, initialSync bool) error {
	if err := db.normalizeTargetStorage(ctx, s); err != nil {
		return err
	}
	conn, err := connectionJSON(s.Connection)
	if err != nil {
		return wrapInternal("encode storage connection", err)
	}
	sealed, err := db.sealSecrets(s.Secrets)
	if err != nil {
		return err
	}
	now := db.timestamp()
	return db.inTx(ctx, "create target storage", func(tx *Tx) error {
		var one int
		err := tx.queryRow(ctx, "SELECT 1 FROM projects WHERE id = ? AND deleted_at IS NULL", s.ProjectID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return blobmark.FieldErrorf("project", "Invalid pk \"%d\" - object does not exist.", s.ProjectID)
		} else if err != nil {
			return err
		}
		err = tx.queryRow(ctx, `INSERT INTO target_storages (project_id, type, title, description, container, prefix,
			can_delete_objects, export_format, file_extension, key_template, dataset_format, dataset_key_template,
			dataset_interval_minutes, connection, secrets, status, meta, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?) RETURNING id`,
			s.ProjectID, s.Type, s.Title, s.Description, s.Container, s.Prefix, s.CanDeleteObjects, s.ExportFormat,
			nullBool(s.FileExtension), s.KeyTemplate, s.DatasetFormat, s.DatasetKeyTemplate, s.DatasetIntervalMinutes,
			conn, sealed, blobmark.StatusInitialized, now, now).Scan(&s.ID)
		if err != nil {
			return err
		}
		s.State = blobmark.StorageState{Status: blobmark.StatusInitialized, Meta: json.RawMessage("{}")}
		s.Dataset = blobmark.DatasetState{}
		s.CreatedAt, s.UpdatedAt = now, now
		if initialSync {
			return tx.queueExportSync(ctx, s, false)
		}
		return nil
	})
}

func nullBool(b *bool) sql.NullBool {
	if b == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: *b, Valid: true}
}

// queueExportSync enqueues an ExportSyncJob and marks the storage queued.
func (tx *Tx) queueExportSync(ctx context.Context, s *blobmark.TargetStorage, onlyNew bool) error {
	res, err := tx.insertJob(ctx, blobmark.ExportSyncJob{StorageID: s.ID, OnlyNew: onlyNew}, &river.InsertOpts{
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates},
	})
	if err != nil {
		return wrapInternal("enqueue export sync", err)
	}
	if res.UniqueSkippedAsDuplicate && res.Job.State == rivertype.JobStateRunning {
		// The running sync may already be past annotations written since,
		// or be finishing: queue another one behind it. (A waiting one
		// absorbs the request.)
		if res, err = tx.insertJob(ctx, blobmark.ExportSyncJob{StorageID: s.ID, OnlyNew: onlyNew}, nil); err != nil {
			return wrapInternal("enqueue export sync", err)
		}
	}
	jobID := strconv.FormatInt(res.Job.ID, 10)
	if _, err := tx.exec(ctx, `UPDATE target_storages SET status = ?, last_sync_job = ?, traceback = NULL WHERE id = ?`,
		blobmark.StatusQueued, jobID, s.ID); err != nil {
		return err
	}
	s.State.Status, s.State.LastSyncJob, s.State.Traceback = blobmark.StatusQueued, &jobID, nil
	if s.DatasetFormat == "" {
		return nil
	}
	return tx.queueDatasetExport(ctx, s, tx.db.timestamp())
}

// queueDatasetExport enqueues the storage's dataset export, unless one
// waits already, and marks it queued at now. A running export is not
// joined: it may have read part of the project already, so another runs
// after it. Every export queued, by a sync as by the schedule, starts the
// schedule's interval again (dataset_last_queued_at), so a sync does not
// have a scheduled export follow it at once.
func (tx *Tx) queueDatasetExport(ctx context.Context, s *blobmark.TargetStorage, now time.Time) error {
	res, err := tx.insertJob(ctx, blobmark.ExportDatasetJob{StorageID: s.ID}, &river.InsertOpts{
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates},
	})
	if err == nil && res.UniqueSkippedAsDuplicate && res.Job.State == rivertype.JobStateRunning {
		_, err = tx.insertJob(ctx, blobmark.ExportDatasetJob{StorageID: s.ID}, nil)
	}
	if err != nil {
		return wrapInternal("enqueue dataset export", err)
	}
	st := s.Dataset
	st.Status, st.Error = blobmark.StatusQueued, ""
	if err := tx.setDatasetState(ctx, s.ID, st); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "UPDATE target_storages SET dataset_last_queued_at = ? WHERE id = ?", now, s.ID); err != nil {
		return err
	}
	s.Dataset = st
	return nil
}

// EnqueueDueDatasetExports queues the dataset export of every storage
// with a dataset format and a dataset_interval_minutes that is due, unless
// its export is queued or running already, and returns how many it
// queued; see enqueueDue for when a storage is due and how replicas share
// the work.
func (db *TargetStorages) EnqueueDueDatasetExports(ctx context.Context, tick time.Duration) (int, error) {
	return db.enqueueDue(ctx, datasetExportSchedule, tick)
}

// datasetExportSchedule schedules dataset exports. The export's status is
// in the dataset_state JSON, so it is checked on the claimed row rather
// than in the due list; a storage skipped so stays due and is queued at
// the first tick after its export ends.
var datasetExportSchedule = schedule{
	what: "dataset export", table: "target_storages", interval: "dataset_interval_minutes",
	lastQueued: "dataset_last_queued_at", ready: "s.dataset_format <> ''",
	queue: func(ctx context.Context, tx *Tx, id int64, now time.Time) (bool, error) {
		s := &blobmark.TargetStorage{ID: id}
		var dataset string
		if err := tx.queryRow(ctx, "SELECT dataset_state FROM target_storages WHERE id = ?", id).Scan(&dataset); err != nil {
			return false, err
		}
		if err := json.Unmarshal([]byte(dataset), &s.Dataset); err != nil {
			return false, wrapInternal("decode dataset state", err)
		}
		if s.Dataset.Status == blobmark.StatusQueued || s.Dataset.Status == blobmark.StatusInProgress {
			return false, nil
		}
		return true, tx.queueDatasetExport(ctx, s, now)
	},
}

// setDatasetState records a storage's dataset export state.
func (tx *Tx) setDatasetState(ctx context.Context, id int64, st blobmark.DatasetState) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return wrapInternal("encode dataset state", err)
	}
	_, err = tx.exec(ctx, "UPDATE target_storages SET dataset_state = ? WHERE id = ?", string(raw), id)
	return err
}

// SetTargetDatasetState records how a storage's dataset export is going,
// as the export job reports it. A missing storage is not an error.
func (db *TargetStorages) SetTargetDatasetState(ctx context.Context, id int64, st blobmark.DatasetState) error {
	return db.inTx(ctx, "set dataset state", func(tx *Tx) error { return tx.setDatasetState(ctx, id, st) })
}

// pendingStates are the job states in which an export job has not yet read
// the state it exports, plus running, which River requires in every unique
// set (see exportAnnotationHook for how a running duplicate is handled).
// Completed jobs are left out so that every new write gets a new job.
var pendingStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateScheduled, rivertype.JobStateRetryable,
}

// FindTargetStorageByID returns a storage, its secrets left sealed.
func (db *TargetStorages) FindTargetStorageByID(ctx context.Context, id int64) (*blobmark.TargetStorage, error) {
	return db.findTargetStorage(ctx, id, false)
}

// FindTargetStorageWithSecrets returns a storage with its secrets opened.
func (db *TargetStorages) FindTargetStorageWithSecrets(ctx context.Context, id int64) (*blobmark.TargetStorage, error) {
	return db.findTargetStorage(ctx, id, true)
}

func (db *TargetStorages) findTargetStorage(ctx context.Context, id int64, withSecrets bool) (*blobmark.TargetStorage, error) {
	s, err := db.scanTargetStorage(db.queryRow(ctx, "SELECT "+targetStorageColumns+", "+organizationColumn("target_storages")+", "+targetAnnotationCount("target_storages")+
		" FROM target_storages WHERE id = ? AND project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)", id), withSecrets)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("storage")
	}
	return s, translate("find target storage", err)
}

// FindTargetStorages returns the storages f selects, in id order, their
// secrets left sealed.
func (db *TargetStorages) FindTargetStorages(ctx context.Context, f blobmark.TargetStorageFilter) ([]*blobmark.TargetStorage, error) {
	q := "SELECT " + targetStorageColumns + ", " + organizationColumn("target_storages") + ", " + targetAnnotationCount("target_storages") +
		" FROM target_storages WHERE project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)"
	var args []any
	if f.ProjectID != 0 {
		q += " AND project_id = ?"
		args = append(args, f.ProjectID)
	}
	if f.Type != "" {
		q += " AND type = ?"
		args = append(args, f.Type)
	}
	rows, err := db.query(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, translate("find target storages", err)
	}
	defer rows.Close()
	list := []*blobmark.TargetStorage{}
	for rows.Next() {
		s, err := db.scanTargetStorage(rows, false)
		if err != nil {
			return nil, translate("find target storages", err)
		}
		list = append(list, s)
	}
	return list, translate("find target storages", rows.Err())
}

// UpdateTargetStorage replaces a storage's settings. Exports already
// written keep their names; later exports use the new prefix and format.
func (db *TargetStorages) UpdateTargetStorage(ctx context.Context, s *blobmark.TargetStorage) (*blobmark.TargetStorage, error) {
	if err := db.normalizeTargetStorage(ctx, s); err != nil {
		return nil, err
	}
	conn, err := connectionJSON(s.Connection)
	if err != nil {
		return nil, wrapInternal("encode storage connection", err)
	}
	sealed, err := db.sealSecrets(s.Secrets)
	if err != nil {
		return nil, err
	}
	res, err := db.write.ExecContext(ctx, db.rebind(`UPDATE target_storages SET title = ?, description = ?, container = ?,
		prefix = ?, can_delete_objects = ?, export_format = ?, file_extension = ?, key_template = ?, dataset_format = ?,
		dataset_key_template = ?, dataset_interval_minutes = ?, connection = ?, secrets = ?, updated_at = ?
		WHERE id = ?`), s.Title, s.Description, s.Container, s.Prefix, s.CanDeleteObjects, s.ExportFormat,
		nullBool(s.FileExtension), s.KeyTemplate, s.DatasetFormat, s.DatasetKeyTemplate, s.DatasetIntervalMinutes, conn, sealed, db.timestamp(), s.ID)
	if err != nil {
		return nil, translate("update target storage", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, notFound("storage")
	}
	return db.FindTargetStorageByID(ctx, s.ID)
}

// DeleteTargetStorage deletes a storage and its links.
func (db *TargetStorages) DeleteTargetStorage(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete target storage", func(tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM export_links WHERE storage_id = ?", id); err != nil {
			return err
		}
		res, err := tx.exec(ctx, "DELETE FROM target_storages WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("storage")
		}
		return nil
	})
}

// SyncTargetStorage queues a sync of the storage.
func (db *TargetStorages) SyncTargetStorage(ctx context.Context, id int64, onlyNew bool) (*blobmark.TargetStorage, error) {
	s, err := db.FindTargetStorageByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := db.inTx(ctx, "sync target storage", func(tx *Tx) error { return tx.queueExportSync(ctx, s, onlyNew) }); err != nil {
		return nil, err
	}
	return db.FindTargetStorageByID(ctx, id)
}

// PreviewTargetKeys renders s's keys on a task of its project.
func (db *TargetStorages) PreviewTargetKeys(ctx context.Context, s *blobmark.TargetStorage, taskID int64) (*blobmark.KeyPreview, error) {
	if err := db.normalizeTargetStorage(ctx, s); err != nil {
		return nil, err
	}
	p := &blobmark.KeyPreview{}
	if s.DatasetFormat != "" {
		d := exporter.Dataset{StorageID: s.ID, ProjectID: s.ProjectID, Prefix: s.Prefix, Format: s.DatasetFormat, KeyTemplate: s.DatasetKeyTemplate}
		var err error
		if p.DatasetKey, _, err = d.Object(db.timestamp()); err != nil {
			return nil, err
		}
	}
	// The task: the one asked for, else the first annotated, else the first.
	q := `SELECT t.id, COALESCE((SELECT MIN(a.id) FROM annotations a WHERE a.task_id = t.id), 0) FROM tasks t WHERE t.project_id = ?`
	args := []any{s.ProjectID}
	if taskID != 0 {
		q += " AND t.id = ?"
		args = append(args, taskID)
	} else {
		q += " ORDER BY t.total_annotations + t.cancelled_annotations = 0, t.id LIMIT 1"
	}
	err := db.queryRow(ctx, q, args...).Scan(&p.TaskID, &p.AnnotationID)
	switch {
	case errors.Is(err, sql.ErrNoRows) && taskID != 0:
		return nil, blobmark.FieldErrorf("task", "Task %d is not a task of project %d.", taskID, s.ProjectID)
	case errors.Is(err, sql.ErrNoRows):
		p.ObjectKeyError = "The project has no task yet to preview the key on."
		return p, nil
	case err != nil:
		return nil, translate("preview keys", err)
	}
	task, err := (&Tasks{db.core}).FindTaskByID(ctx, p.TaskID)
	if err != nil {
		return nil, err
	}
	cfg, err := db.labelConfig(ctx, s.ProjectID)
	if err != nil {
		return nil, err
	}
	st := exporter.StorageOf(s)
	if st.Format == exporter.FormatTask {
		p.AnnotationID = 0
	}
	if p.ObjectKey, err = exporter.PreviewKey(st, cfg, task, p.AnnotationID); err != nil {
		if !errors.Is(err, exporter.ErrKeyTemplate) {
			return nil, err
		}
		p.ObjectKeyError = blobmark.ErrorMessage(err)
	}
	return p, nil
}

// SetTargetStorageState records a storage's sync status, as the export jobs
// report it. A missing storage (deleted meanwhile) is not an error. With
// st.LastSyncJob set, the state is written only while that job is the
// storage's latest sync, so a sync finishing after a newer one was queued
// does not hide the newer one's "queued".
func (db *TargetStorages) SetTargetStorageState(ctx context.Context, id int64, st blobmark.StorageState) error {
	meta := st.Meta
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	var lastSync any
	if st.LastSync != nil {
		lastSync = st.LastSync.UTC().Truncate(time.Microsecond)
	}
	var count any
	if st.LastSyncCount != nil {
		count = *st.LastSyncCount
	}
	q := `UPDATE target_storages SET status = ?, last_sync = ?, last_sync_count = ?, traceback = ?, meta = ? WHERE id = ?`
	args := []any{st.Status, lastSync, count, st.Traceback, string(meta), id}
	if st.LastSyncJob != nil {
		q += " AND (last_sync_job IS NULL OR last_sync_job = ?)"
		args = append(args, *st.LastSyncJob)
	}
	return db.inTx(ctx, "set target storage state", func(tx *Tx) error {
		res, err := tx.exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || st.Status != blobmark.StatusFailed {
			return nil
		}
		msg := ""
		if st.Traceback != nil {
			msg = *st.Traceback
		}
		return tx.exportFailedWebhook(ctx, id, msg)
	})
}

// FailTargetStorage marks a storage failed with a message its users can
// act on, keeping the rest of its state.
func (db *TargetStorages) FailTargetStorage(ctx context.Context, id int64, message string) error {
	return db.inTx(ctx, "fail target storage", func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE target_storages SET status = ?, traceback = ? WHERE id = ?`,
			blobmark.StatusFailed, message, id); err != nil {
			return err
		}
		return tx.exportFailedWebhook(ctx, id, message)
	})
}

// exportAnnotationHook enqueues, in the transaction of every annotation
// write (and task deletion), an ExportAnnotationJob for each target storage
// of the project that exporter.Wants one, so an annotation is never saved
// without the job that exports it.
//
// Jobs are unique per storage and annotation while they wait, so a burst of
// saves collapses into one export of the latest state. River's unique set
// always includes running jobs, though, and a job that already read the
// state would miss this write: when the duplicate found is running, a
// second, non-unique job is added, which exports after it.
func exportAnnotationHook(ctx context.Context, tx *Tx, ev Event) error {
	if ev.Kind == TaskDeleted {
		return exportTaskDeletion(ctx, tx, ev)
	}
	change := exporter.Saved
	switch ev.Kind {
	case AnnotationCreated, AnnotationUpdated:
	case AnnotationDeleted:
		change = exporter.Deleted
	default:
		return nil
	}
	rows, err := tx.query(ctx, "SELECT id, export_format, can_delete_objects FROM target_storages WHERE project_id = ?", ev.ProjectID)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var format string
		var canDelete bool
		if err := rows.Scan(&id, &format, &canDelete); err != nil {
			rows.Close()
			return err
		}
		if !exporter.Wants(exporter.Format(format), canDelete, change) {
			continue
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.insertExportJob(ctx, blobmark.ExportAnnotationJob{StorageID: id, AnnotationID: ev.AnnotationID, TaskID: ev.TaskID}); err != nil {
			return err
		}
	}
	return nil
}

// insertExportJob enqueues args unless an equal job waits already; when the
// equal job is running, it adds a second one (see exportAnnotationHook).
func (tx *Tx) insertExportJob(ctx context.Context, args blobmark.ExportAnnotationJob) error {
	res, err := tx.insertJob(ctx, args, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}})
	if err != nil {
		return wrapInternal("enqueue export", err)
	}
	if res.UniqueSkippedAsDuplicate && res.Job != nil && res.Job.State == rivertype.JobStateRunning {
		if _, err := tx.insertJob(ctx, args, nil); err != nil {
			return wrapInternal("enqueue export", err)
		}
	}
	return nil
}

// exportTaskDeletion removes what storages that may delete objects had
// exported of a deleted task: its annotations went with it, without events
// of their own, so one job per object the export links name is enqueued;
// each finds its annotation (or task) gone and deletes the object.
func exportTaskDeletion(ctx context.Context, tx *Tx, ev Event) error {
	rows, err := tx.query(ctx, `SELECT l.storage_id, l.annotation_id FROM export_links l
		JOIN target_storages s ON s.id = l.storage_id
		WHERE s.project_id = ? AND s.can_delete_objects AND l.task_id = ?`, ev.ProjectID, ev.TaskID)
	if err != nil {
		return err
	}
	var jobs []blobmark.ExportAnnotationJob
	for rows.Next() {
		j := blobmark.ExportAnnotationJob{TaskID: ev.TaskID}
		if err := rows.Scan(&j.StorageID, &j.AnnotationID); err != nil {
			rows.Close()
			return err
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := tx.insertExportJob(ctx, j); err != nil {
			return err
		}
	}
	return nil
}
