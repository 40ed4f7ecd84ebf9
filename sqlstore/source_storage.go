package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// SourceStorages holds the import storages and the state of their syncs: requesting, starting, progressing and finishing them, and scheduling periodic ones.
type SourceStorages struct {
	*core
	// events attaches the event settings to the storages it returns.
	events *StorageEvents
}

// Interface check: the store serves the source storage API.
var _ blobmark.SourceStorageService = (*DB)(nil)

const sourceStorageColumns = `id, project_id, type, title, description, container, prefix, regex_filter, use_blob_urls,
	presign, presign_ttl, recursive_scan, synchronizable, sync_changed, sync_deleted, sync_interval_minutes,
	metadata_keys, tag_keys, tag_filter, connection, secrets, ` + stateColumns + `, created_at, updated_at`

// scanSourceStorage reads one row of sourceStorageColumns,
// organizationColumn and sourceTaskCount, opening its secrets only withSecrets.
func (db *SourceStorages) scanSourceStorage(row interface{ Scan(...any) error }, withSecrets bool) (*blobmark.SourceStorage, error) {
	var s blobmark.SourceStorage
	var conn, secrets, metadataKeys, tagKeys string
	var st stateScan
	var created, updated timeValue
	dest := []any{&s.ID, &s.ProjectID, &s.Type, &s.Title, &s.Description, &s.Container, &s.Prefix, &s.RegexFilter,
		&s.UseBlobURLs, &s.Presign, &s.PresignTTL, &s.RecursiveScan, &s.Synchronizable, &s.SyncChanged, &s.SyncDeleted,
		&s.SyncIntervalMinutes, &metadataKeys, &tagKeys, &s.TagFilter, &conn, &secrets}
	dest = append(dest, st.dest()...)
	dest = append(dest, &created, &updated, &s.Organization, &s.TaskCount)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	var err error
	if s.Connection, err = parseConnection(conn); err != nil {
		return nil, err
	}
	if s.MetadataKeys, err = parseKeyList(metadataKeys); err != nil {
		return nil, err
	}
	if s.TagKeys, err = parseKeyList(tagKeys); err != nil {
		return nil, err
	}
	if withSecrets {
		if s.Secrets, err = db.openSecrets(secrets); err != nil {
			return nil, err
		}
	}
	s.State = st.state()
	s.CreatedAt, s.UpdatedAt = created.Time, updated.Time
	return &s, nil
}

// CreateSourceStorage stores s in a live project.
func (db *SourceStorages) CreateSourceStorage(ctx context.Context, s *blobmark.SourceStorage) error {
	conn, err := connectionJSON(s.Connection)
	if err != nil {
		return wrapInternal("encode connection", err)
	}
	secrets, err := db.sealSecrets(s.Secrets)
	if err != nil {
		return err
	}
	metadataKeys, tagKeys := keyListJSON(s.MetadataKeys), keyListJSON(s.TagKeys)
	now := db.timestamp()
	return db.inTx(ctx, "create source storage", func(tx *Tx) error {
		var live int
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM projects WHERE id = ? AND deleted_at IS NULL", s.ProjectID).Scan(&live); err != nil {
			return err
		} else if live == 0 {
			return blobmark.FieldErrorf("project", "Invalid pk \"%d\" - object does not exist.", s.ProjectID)
		}
		err := tx.queryRow(ctx, `INSERT INTO source_storages (project_id, type, title, description, container, prefix,
			regex_filter, use_blob_urls, presign, presign_ttl, recursive_scan, synchronizable, sync_changed, sync_deleted,
			sync_interval_minutes, metadata_keys, tag_keys, tag_filter, connection, secrets, status, meta, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?) RETURNING id`,
			s.ProjectID, s.Type, s.Title, s.Description, s.Container, s.Prefix, s.RegexFilter, s.UseBlobURLs, s.Presign,
			s.PresignTTL, s.RecursiveScan, s.Synchronizable, s.SyncChanged, s.SyncDeleted, s.SyncIntervalMinutes,
			metadataKeys, tagKeys, s.TagFilter, conn, secrets, blobmark.StatusInitialized, now, now).Scan(&s.ID)
		if err != nil {
			return err
		}
		s.State = blobmark.StorageState{Status: blobmark.StatusInitialized, Meta: []byte("{}")}
		s.CreatedAt, s.UpdatedAt = now, now
		return nil
	})
}

// FindSourceStorageByID returns a storage of a live project, its secrets
// left sealed.
func (db *SourceStorages) FindSourceStorageByID(ctx context.Context, id int64) (*blobmark.SourceStorage, error) {
	return db.findSourceStorage(ctx, id, false)
}

// FindSourceStorageWithSecrets returns a storage of a live project with
// its secrets opened.
func (db *SourceStorages) FindSourceStorageWithSecrets(ctx context.Context, id int64) (*blobmark.SourceStorage, error) {
	return db.findSourceStorage(ctx, id, true)
}

func (db *SourceStorages) findSourceStorage(ctx context.Context, id int64, withSecrets bool) (*blobmark.SourceStorage, error) {
	s, err := db.scanSourceStorage(db.queryRow(ctx, "SELECT "+prefixed("s.", sourceStorageColumns)+", "+organizationColumn("s")+", "+sourceTaskCount("s")+
		" FROM source_storages s JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL WHERE s.id = ?", id), withSecrets)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("storage")
	} else if err != nil {
		return nil, translate("find source storage", err)
	}
	return s, db.events.attachStorageEvents(ctx, s)
}

// FindSourceStorages returns a live project's storages in id order, their
// secrets left sealed.
func (db *SourceStorages) FindSourceStorages(ctx context.Context, projectID int64) ([]*blobmark.SourceStorage, error) {
	return db.findSourceStorages(ctx, projectID, false)
}

// FindSourceStoragesWithSecrets returns a live project's storages in id
// order with their secrets opened.
func (db *SourceStorages) FindSourceStoragesWithSecrets(ctx context.Context, projectID int64) ([]*blobmark.SourceStorage, error) {
	return db.findSourceStorages(ctx, projectID, true)
}

func (db *SourceStorages) findSourceStorages(ctx context.Context, projectID int64, withSecrets bool) ([]*blobmark.SourceStorage, error) {
	var live int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM projects WHERE id = ? AND deleted_at IS NULL", projectID).Scan(&live); err != nil {
		return nil, translate("find source storages", err)
	} else if live == 0 {
		return nil, notFound("project")
	}
	rows, err := db.query(ctx, "SELECT "+sourceStorageColumns+", "+organizationColumn("source_storages")+", "+sourceTaskCount("source_storages")+" FROM source_storages WHERE project_id = ? ORDER BY id", projectID)
	if err != nil {
		return nil, translate("find source storages", err)
	}
	defer rows.Close()
	out := []*blobmark.SourceStorage{}
	for rows.Next() {
		s, err := db.scanSourceStorage(rows, withSecrets)
		if err != nil {
			return nil, translate("find source storages", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("find source storages", err)
	}
	return out, db.events.attachStorageEvents(ctx, out...)
}

// UpdateSourceStorage replaces the settings, connection and secrets of s.ID.
func (db *SourceStorages) UpdateSourceStorage(ctx context.Context, s *blobmark.SourceStorage) error {
	conn, err := connectionJSON(s.Connection)
	if err != nil {
		return wrapInternal("encode connection", err)
	}
	secrets, err := db.sealSecrets(s.Secrets)
	if err != nil {
		return err
	}
	metadataKeys, tagKeys := keyListJSON(s.MetadataKeys), keyListJSON(s.TagKeys)
	now := db.timestamp()
	return db.inTx(ctx, "update source storage", func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE source_storages SET title = ?, description = ?, container = ?, prefix = ?,
			regex_filter = ?, use_blob_urls = ?, presign = ?, presign_ttl = ?, recursive_scan = ?, synchronizable = ?,
			sync_changed = ?, sync_deleted = ?, sync_interval_minutes = ?, metadata_keys = ?, tag_keys = ?, tag_filter = ?,
			connection = ?, secrets = ?, updated_at = ?
			WHERE id = ?`, s.Title, s.Description, s.Container, s.Prefix, s.RegexFilter, s.UseBlobURLs, s.Presign,
			s.PresignTTL, s.RecursiveScan, s.Synchronizable, s.SyncChanged, s.SyncDeleted, s.SyncIntervalMinutes,
			metadataKeys, tagKeys, s.TagFilter, conn, secrets, now, s.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("storage")
		}
		s.UpdatedAt = now
		return nil
	})
}

// DeleteSourceStorage deletes a storage and (by cascade) its links; its
// tasks stay in the project.
func (db *SourceStorages) DeleteSourceStorage(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete source storage", func(tx *Tx) error {
		res, err := tx.exec(ctx, "DELETE FROM source_storages WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("storage")
		}
		return nil
	})
}

// syncJobOpts keeps at most one unfinished sync job per storage, whoever
// inserts it (an API request, the scheduler on any replica).
var syncJobOpts = &river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning,
	rivertype.JobStateScheduled}}}

// RequestSourceSync marks a storage queued and enqueues its sync job in one
// transaction, unless a sync is already queued or running.
func (db *SourceStorages) RequestSourceSync(ctx context.Context, id int64) (*blobmark.SourceStorage, error) {
	err := db.inTx(ctx, "request source sync", func(tx *Tx) error {
		_, err := tx.requestSync(ctx, id, db.timestamp())
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.FindSourceStorageByID(ctx, id)
}

// requestSync is RequestSourceSync inside tx; queued reports whether a job
// was enqueued.
func (tx *Tx) requestSync(ctx context.Context, id int64, now time.Time) (queued bool, err error) {
	var status, meta string
	var lastSync sql.Null[timeValue]
	err = tx.queryRow(ctx, `SELECT s.status, s.meta, s.last_sync FROM source_storages s JOIN projects p ON p.id = s.project_id
		AND p.deleted_at IS NULL WHERE s.id = ?`, id).Scan(&status, &meta, &lastSync)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound("storage")
	} else if err != nil {
		return false, err
	}
	if active(status) && !stale(status, meta, now, tx.db.staleSyncAfter) {
		return false, nil
	}
	attempts := 0
	if m := metaMap(meta); m != nil {
		if n, ok := m["attempts"].(float64); ok {
			attempts = int(n)
		}
	}
	res, err := tx.insertJob(ctx, blobmark.SyncSourceJob{StorageID: id, Request: int64(attempts + 1)}, syncJobOpts)
	if err != nil {
		return false, wrapInternal("enqueue sync", err)
	}
	if res.UniqueSkippedAsDuplicate {
		return false, nil // a concurrent request enqueued this one
	}
	fresh := map[string]any{"attempts": attempts + 1, "time_queued": now.Format(time.RFC3339Nano)}
	// The last successful sync's time outlives the reset, through failed
	// and cancelled syncs too, until a sync completes again.
	if lastSync.Valid {
		fresh[blobmark.MetaPreviousSync] = lastSync.V.UTC().Format(time.RFC3339Nano)
	} else if prev, ok := metaMap(meta)[blobmark.MetaPreviousSync].(string); ok {
		fresh[blobmark.MetaPreviousSync] = prev
	}
	newMeta, err := mergeMeta("", fresh)
	if err != nil {
		return false, err
	}
	_, err = tx.exec(ctx, `UPDATE source_storages SET status = ?, last_sync = NULL, last_sync_count = NULL,
		last_sync_job = ?, traceback = NULL, meta = ?, cancel_requested = ?, last_queued_at = ? WHERE id = ?`,
		blobmark.StatusQueued, strconv.FormatInt(res.Job.ID, 10), newMeta, false, now, id)
	return err == nil, err
}

// StaleSyncAfter is how long, by default, a running sync may go without a
// progress report (sent every few seconds) before it is presumed dead — its
// process killed — so that a new request may enqueue a fresh sync. The dead
// job, when the queue rescues it later, finds itself superseded and stops.
// Config.StaleSyncAfter overrides it.
const StaleSyncAfter = 2 * time.Minute

// stale reports whether an in_progress sync has not reported for longer
// than after.
func stale(status, meta string, now time.Time, after time.Duration) bool {
	if status != blobmark.StatusInProgress {
		return false
	}
	ping, _ := metaMap(meta)["time_last_ping"].(string)
	t, err := time.Parse(time.RFC3339Nano, ping)
	return err == nil && now.Sub(t) > after
}

// CancelSourceSync flags the storage's sync to stop; the worker sees the flag
// at its next progress report.
func (db *SourceStorages) CancelSourceSync(ctx context.Context, id int64) (*blobmark.SourceStorage, error) {
	err := db.inTx(ctx, "cancel source sync", func(tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE source_storages SET cancel_requested = ? WHERE id = ? AND status IN (?, ?)",
			true, id, blobmark.StatusQueued, blobmark.StatusInProgress)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := tx.queryRow(ctx, "SELECT 1 FROM source_storages WHERE id = ?", id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return notFound("storage")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.FindSourceStorageByID(ctx, id)
}

// StartSourceSync moves a storage to in_progress for the job jobID and
// reports whether a cancel was requested before the job started. The meta
// records when the settings the sync runs with were saved
// (blobmark.MetaSettingsSavedAt), so its chunks can tell they changed.
func (db *SourceStorages) StartSourceSync(ctx context.Context, id, jobID int64) (cancelled bool, err error) {
	now := db.timestamp().Format(time.RFC3339Nano)
	err = db.inTx(ctx, "start source sync", func(tx *Tx) error {
		var meta string
		var saved timeValue
		if err := tx.queryRow(ctx, "SELECT meta, cancel_requested, updated_at FROM source_storages WHERE id = ?", id).Scan(&meta, &cancelled, &saved); errors.Is(err, sql.ErrNoRows) {
			return notFound("storage")
		} else if err != nil {
			return err
		}
		newMeta, err := mergeMeta(meta, map[string]any{"time_in_progress": now, "time_last_ping": now,
			blobmark.MetaSettingsSavedAt: saved.Time.Format(time.RFC3339Nano)})
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE source_storages SET status = ?, last_sync_job = ?, meta = ? WHERE id = ?",
			blobmark.StatusInProgress, strconv.FormatInt(jobID, 10), newMeta, id)
		return err
	})
	return cancelled, err
}

// UpdateSourceSyncProgress saves a running sync's counts and ping time and
// reports whether a cancel was requested.
func (db *SourceStorages) UpdateSourceSyncProgress(ctx context.Context, id int64, count int, progress map[string]any) (cancelled bool, err error) {
	err = db.inTx(ctx, "update source sync progress", func(tx *Tx) error {
		var meta string
		if err := tx.queryRow(ctx, "SELECT meta, cancel_requested FROM source_storages WHERE id = ?", id).Scan(&meta, &cancelled); err != nil {
			return err
		}
		add := map[string]any{"time_last_ping": db.timestamp().Format(time.RFC3339Nano)}
		if t, ok := metaMap(meta)["time_in_progress"].(string); ok {
			if start, err := time.Parse(time.RFC3339Nano, t); err == nil {
				add["duration"] = db.timestamp().Sub(start).Seconds()
			}
		}
		for k, v := range progress {
			add[k] = v
		}
		newMeta, err := mergeMeta(meta, add)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE source_storages SET last_sync_count = ?, meta = ? WHERE id = ? AND status = ?",
			count, newMeta, id, blobmark.StatusInProgress)
		return err
	})
	return cancelled, err
}

// FinishSourceSync records the outcome of sync job jobID: status
// completed, completed_with_errors or failed, with the count of tasks
// created, a traceback ("" for none) and the final meta keys. The chunks of
// that job and of earlier ones go; a later job's stay, should a job it
// replaced finish after all.
func (db *SourceStorages) FinishSourceSync(ctx context.Context, id, jobID int64, status string, count int, traceback string, progress map[string]any) error {
	now := db.timestamp()
	return db.inTx(ctx, "finish source sync", func(tx *Tx) error {
		var meta string
		if err := tx.queryRow(ctx, "SELECT meta FROM source_storages WHERE id = ?", id).Scan(&meta); errors.Is(err, sql.ErrNoRows) {
			return nil // deleted meanwhile: nothing to record
		} else if err != nil {
			return err
		}
		add := map[string]any{"time_last_ping": now.Format(time.RFC3339Nano)}
		if status == blobmark.StatusFailed {
			add["time_failure"] = now.Format(time.RFC3339Nano)
		} else {
			add["time_completed"] = now.Format(time.RFC3339Nano)
		}
		if t, ok := metaMap(meta)["time_in_progress"].(string); ok {
			if start, err := time.Parse(time.RFC3339Nano, t); err == nil {
				add["duration"] = now.Sub(start).Seconds()
			}
		}
		for k, v := range progress {
			add[k] = v
		}
		newMeta, err := mergeMeta(meta, add)
		if err != nil {
			return err
		}
		var tb, last any
		if traceback != "" {
			tb = traceback
		}
		if status != blobmark.StatusFailed {
			last = now
		}
		_, err = tx.exec(ctx, `UPDATE source_storages SET status = ?, last_sync = ?, last_sync_count = ?, traceback = ?,
			meta = ?, cancel_requested = ? WHERE id = ?`, status, last, count, tb, newMeta, false, id)
		if err != nil {
			return err
		}
		// The sync's chunks are summed into its meta now; a chunk job still
		// queued finds its row gone and stops.
		if _, err := tx.exec(ctx, "DELETE FROM source_sync_chunks WHERE storage_id = ? AND generation <= ?", id, jobID); err != nil {
			return err
		}
		return tx.storageSyncWebhook(ctx, id, status, count, traceback)
	})
}

// EnqueueDueSourceSyncs requests the sync of every scheduled storage
// (sync_interval_minutes > 0) that is due and not already queued or
// running, and returns how many it enqueued; see enqueueDue for when a
// storage is due and how replicas share the work.
func (db *SourceStorages) EnqueueDueSourceSyncs(ctx context.Context, tick time.Duration) (int, error) {
	return db.enqueueDue(ctx, sourceSyncSchedule, tick)
}

// sourceSyncSchedule schedules source syncs. requestSync sets
// last_queued_at, and leaves a sync already queued or running alone.
var sourceSyncSchedule = schedule{
	what: "sync", table: "source_storages", interval: "sync_interval_minutes", lastQueued: "last_queued_at",
	ready: "s.status NOT IN (?, ?)", readyArgs: []any{blobmark.StatusQueued, blobmark.StatusInProgress},
	queue: func(ctx context.Context, tx *Tx, id int64, now time.Time) (bool, error) {
		return tx.requestSync(ctx, id, now)
	},
}

// organizationColumn selects the title of the organization that owns the
// project of a storage row of table (or alias) t: the server identity
// allow-list is scoped by it, and every use of a storage's credential
// passes it on.
func organizationColumn(t string) string {
	return "(SELECT o.title FROM projects op JOIN organizations o ON o.id = op.organization_id WHERE op.id = " + t + ".project_id)"
}

// sourceTaskCount is the column of the number of tasks that storage
// table t's row has created and that still exist (a task's links go with
// it), one link per task.
func sourceTaskCount(t string) string {
	return "(SELECT COUNT(*) FROM source_storage_links l WHERE l.storage_id = " + t + ".id)"
}

// prefixed qualifies every column of a comma-separated list with p.
func prefixed(p, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// metaMap decodes a meta column, nil when it is not an object.
func metaMap(meta string) map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(meta), &m)
	return m
}
