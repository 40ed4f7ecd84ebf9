-- +goose Up
-- A project's counters are the sums of its rows here, one per shard, as on
-- PostgreSQL, where writers on several replicas add to shards of their own
-- instead of taking turns on the project's row (project_counters.go). One
-- writer at a time uses shard 0 here. Tasks are still numbered from the
-- project's task_seq.
CREATE TABLE project_counters (
    project_id             INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    shard                  INTEGER NOT NULL,
    tasks                  INTEGER NOT NULL DEFAULT 0,
    annotations            INTEGER NOT NULL DEFAULT 0,
    predictions            INTEGER NOT NULL DEFAULT 0,
    tasks_with_annotations INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, shard)
);
INSERT INTO project_counters (project_id, shard, tasks, annotations, predictions, tasks_with_annotations)
SELECT id, 0, task_number, total_annotations_number, total_predictions_number, num_tasks_with_annotations FROM projects;
ALTER TABLE projects DROP COLUMN task_number;
ALTER TABLE projects DROP COLUMN total_annotations_number;
ALTER TABLE projects DROP COLUMN total_predictions_number;
ALTER TABLE projects DROP COLUMN num_tasks_with_annotations;

-- +goose Down
ALTER TABLE projects ADD COLUMN task_number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN total_annotations_number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN total_predictions_number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN num_tasks_with_annotations INTEGER NOT NULL DEFAULT 0;
UPDATE projects SET
    task_number = (SELECT COALESCE(SUM(tasks), 0) FROM project_counters c WHERE c.project_id = projects.id),
    total_annotations_number = (SELECT COALESCE(SUM(annotations), 0) FROM project_counters c WHERE c.project_id = projects.id),
    total_predictions_number = (SELECT COALESCE(SUM(predictions), 0) FROM project_counters c WHERE c.project_id = projects.id),
    num_tasks_with_annotations = (SELECT COALESCE(SUM(tasks_with_annotations), 0) FROM project_counters c WHERE c.project_id = projects.id);
DROP TABLE project_counters;
