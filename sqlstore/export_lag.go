package sqlstore

import (
	"context"
	"time"
)

// ExportLag returns the age of the oldest annotation change that a target
// storage of its project has not exported in its current state, or 0 when
// every change is exported. Only changes made after the storage was created
// count: older annotations wait for a sync the user asks for, as in Label
// Studio, and are not lag. It backs the blobmark_export_lag_seconds gauge.
//
// The query walks the annotations of projects that have a target storage,
// each checked against export_links through its (storage_id, annotation_id)
// or (storage_id, task_id) index; the metrics layer caches the answer for
// a few seconds, so concurrent scrapes cost one query.
func (db *TargetStorages) ExportLag(ctx context.Context) (time.Duration, error) {
	var oldest timeValue
	err := db.read.QueryRowContext(ctx, db.rebind(`SELECT MIN(a.updated_at)`+liveAnnotation+`
		JOIN target_storages s ON s.project_id = a.project_id AND a.updated_at >= s.created_at
		WHERE NOT EXISTS (SELECT 1 FROM export_links l WHERE l.storage_id = s.id AND l.annotation_id = a.id
				AND l.source_updated_at >= a.updated_at)
			AND NOT EXISTS (SELECT 1 FROM export_links l WHERE l.storage_id = s.id AND l.annotation_id = 0
				AND l.task_id = a.task_id AND l.source_updated_at >= a.updated_at)`)).Scan(&oldest)
	if err != nil {
		return 0, translate("export lag", err)
	}
	if oldest.IsZero() {
		return 0, nil
	}
	return max(db.now().Sub(oldest.Time), 0), nil
}
