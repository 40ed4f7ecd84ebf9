-- +goose Up
-- The label stream: how a project hands tasks to annotators (Label
-- Studio's distribution fields) and the locks that keep a task from going to
-- more annotators at once than it still needs.
ALTER TABLE projects ADD COLUMN sampling TEXT NOT NULL DEFAULT 'Sequential sampling';
ALTER TABLE projects ADD COLUMN skip_queue TEXT NOT NULL DEFAULT 'REQUEUE_FOR_OTHERS';
ALTER TABLE projects ADD COLUMN custom_task_lock_ttl INTEGER NOT NULL DEFAULT 600;
ALTER TABLE projects ADD COLUMN model_version TEXT NOT NULL DEFAULT '';

-- One row per annotator holding a task; a task needing two annotations may
-- be held by two. A lock past expires_at is dead and is ignored (and
-- replaced) rather than swept, so no job is needed to free tasks.
CREATE TABLE task_locks (
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    expires_at DATETIME NOT NULL,
    PRIMARY KEY (task_id, user_id)
);
-- "Does this user already hold a task here?" on every request for the next.
CREATE INDEX task_locks_user ON task_locks (user_id, project_id, expires_at);

-- The stream walks a project's unfinished tasks in id order: this index
-- lets it start past the finished ones instead of reading them.
CREATE INDEX tasks_project_unlabeled ON tasks (project_id, is_labeled, id);
-- Uncertainty sampling walks a project's predictions from the lowest score.
CREATE INDEX predictions_project_score ON predictions (project_id, score);
-- "Has this user annotated or skipped this task?" for every task the
-- stream considers.
CREATE INDEX annotations_task_user ON annotations (task_id, completed_by);

-- +goose Down
DROP INDEX annotations_task_user;
DROP INDEX predictions_project_score;
DROP INDEX tasks_project_unlabeled;
DROP TABLE task_locks;
ALTER TABLE projects DROP COLUMN model_version;
ALTER TABLE projects DROP COLUMN custom_task_lock_ttl;
ALTER TABLE projects DROP COLUMN skip_queue;
ALTER TABLE projects DROP COLUMN sampling;
