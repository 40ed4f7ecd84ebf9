-- +goose Up
-- Annotations, predictions and deletions no longer update their project's
-- row: concurrent writers to one project, on several replicas, took turns
-- on it until each commit. A project's counters are the sums of its rows
-- here, one per shard; a writer adds to the shard of its connection
-- (project_counters.go). Imports still take the next task numbers from the
-- project's row (task_seq), which keeps them gap-free when an import fails.
CREATE TABLE project_counters (
    project_id             BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    shard                  INTEGER NOT NULL,
    tasks                  BIGINT NOT NULL DEFAULT 0,
    annotations            BIGINT NOT NULL DEFAULT 0,
    predictions            BIGINT NOT NULL DEFAULT 0,
    tasks_with_annotations BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, shard)
);
INSERT INTO project_counters (project_id, shard, tasks, annotations, predictions, tasks_with_annotations)
SELECT id, 0, task_number, total_annotations_number, total_predictions_number, num_tasks_with_annotations FROM projects;
ALTER TABLE projects DROP COLUMN task_number, DROP COLUMN total_annotations_number,
    DROP COLUMN total_predictions_number, DROP COLUMN num_tasks_with_annotations;

-- +goose Down
ALTER TABLE projects ADD COLUMN task_number INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN total_annotations_number INTEGER NOT NULL DEFAULT 0, ADD COLUMN total_predictions_number INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN num_tasks_with_annotations INTEGER NOT NULL DEFAULT 0;
UPDATE projects p SET task_number = c.tasks, total_annotations_number = c.annotations,
    total_predictions_number = c.predictions, num_tasks_with_annotations = c.tasks_with_annotations
FROM (SELECT project_id, SUM(tasks) AS tasks, SUM(annotations) AS annotations, SUM(predictions) AS predictions,
        SUM(tasks_with_annotations) AS tasks_with_annotations FROM project_counters GROUP BY project_id) c
WHERE c.project_id = p.id;
DROP TABLE project_counters;
