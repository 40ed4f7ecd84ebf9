-- +goose Up
-- Data Manager views: a project's saved tabs, shared by its members. data is
-- the JSON object the client saved (filters, ordering, title, hidden
-- columns…), kept as sent; position orders the tabs.
CREATE TABLE dm_views (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    position   INTEGER NOT NULL DEFAULT 0,
    data       TEXT NOT NULL DEFAULT '{}',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX dm_views_project ON dm_views (project_id, position, id);

-- The Data Manager filters and sorts a project's tasks by their counters
-- and update time; these indexes keep a sorted page an index walk and a
-- counter filter's count an index range, at any project size.
CREATE INDEX tasks_project_total_annotations ON tasks (project_id, total_annotations, id);
CREATE INDEX tasks_project_total_predictions ON tasks (project_id, total_predictions, id);
CREATE INDEX tasks_project_updated_at ON tasks (project_id, updated_at, id);

-- +goose Down
DROP INDEX tasks_project_updated_at;
DROP INDEX tasks_project_total_predictions;
DROP INDEX tasks_project_total_annotations;
DROP TABLE dm_views;
