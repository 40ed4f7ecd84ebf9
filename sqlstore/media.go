package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/blobmark/blobmark"
)

// Interface check: the media resolver asks the store which storage synced a task.
var _ blobmark.TaskSourceFinder = (*DB)(nil)

// TaskSourceStorageID returns the import storage that synced a task (the
// lowest id when several rows of one task file link it), or 0.
func (db *Tasks) TaskSourceStorageID(ctx context.Context, taskID int64) (int64, error) {
	var id int64
	err := db.queryRow(ctx, `SELECT storage_id FROM source_storage_links WHERE task_id = ? ORDER BY storage_id LIMIT 1`, taskID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, translate("task source storage", err)
}
