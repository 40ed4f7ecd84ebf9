package sqlstore

import (
	"context"
	"strconv"
)

// A project's counters (tasks, annotations, predictions, tasks with
// annotations) are the sums of its rows in project_counters (migration
// 00020). A writer adds its change to one row, the shard of its
// connection on PostgreSQL, so that writers to one project on several
// replicas, each holding its shard's row until it commits, do not take
// turns on one row; SQLite has one writer, and one shard.

// counterShards is how many rows a project's counters spread over on
// PostgreSQL: more than the connections that write to one project at once
// on a few replicas, so that two of them rarely share one.
const counterShards = 64

// counts is a change to a project's counters.
type counts struct {
	tasks, annotations, predictions, withAnnotations int
}

// addCounts adds d to the counters of project projectID.
func (tx *Tx) addCounts(ctx context.Context, projectID int64, d counts) error {
	if d == (counts{}) {
		return nil
	}
	shard := "0"
	if tx.db.dialect == Postgres {
		shard = "pg_backend_pid() % " + strconv.Itoa(counterShards)
	}
	_, err := tx.exec(ctx, `INSERT INTO project_counters (project_id, shard, tasks, annotations, predictions, tasks_with_annotations)
		VALUES (?, `+shard+`, ?, ?, ?, ?) ON CONFLICT (project_id, shard) DO UPDATE SET
		tasks = project_counters.tasks + excluded.tasks, annotations = project_counters.annotations + excluded.annotations,
		predictions = project_counters.predictions + excluded.predictions,
		tasks_with_annotations = project_counters.tasks_with_annotations + excluded.tasks_with_annotations`,
		projectID, d.tasks, d.annotations, d.predictions, d.withAnnotations)
	return err
}

// projectCountsSQL reads the counters of the project "p": tasks,
// annotations, predictions, tasks with annotations.
const projectCountsSQL = `(SELECT COALESCE(SUM(c.tasks), 0) FROM project_counters c WHERE c.project_id = p.id),
	(SELECT COALESCE(SUM(c.annotations), 0) FROM project_counters c WHERE c.project_id = p.id),
	(SELECT COALESCE(SUM(c.predictions), 0) FROM project_counters c WHERE c.project_id = p.id),
	(SELECT COALESCE(SUM(c.tasks_with_annotations), 0) FROM project_counters c WHERE c.project_id = p.id)`
