-- +goose Up
-- A filtered Data Manager page answers with the exact total of its filter:
-- a count and the sums of total_annotations and total_predictions over
-- every matching task. The counter and time indexes carry both counters
-- after the id, so that total is read from the index alone, while the
-- index still gives the page's (column, id) order.
DROP INDEX tasks_project_total_annotations;
DROP INDEX tasks_project_total_predictions;
DROP INDEX tasks_project_updated_at;
CREATE INDEX tasks_project_total_annotations ON tasks (project_id, total_annotations, id, total_predictions);
CREATE INDEX tasks_project_total_predictions ON tasks (project_id, total_predictions, id, total_annotations);
CREATE INDEX tasks_project_updated_at ON tasks (project_id, updated_at, id, total_annotations, total_predictions);

-- +goose Down
DROP INDEX tasks_project_updated_at;
DROP INDEX tasks_project_total_predictions;
DROP INDEX tasks_project_total_annotations;
CREATE INDEX tasks_project_total_annotations ON tasks (project_id, total_annotations, id);
CREATE INDEX tasks_project_total_predictions ON tasks (project_id, total_predictions, id);
CREATE INDEX tasks_project_updated_at ON tasks (project_id, updated_at, id);
