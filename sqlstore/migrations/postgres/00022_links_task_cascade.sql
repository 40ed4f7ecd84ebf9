-- +goose Up
-- A link's foreign key to its task made PostgreSQL check every new link
-- with a row lock on its task: a write of the task row, logged, for each
-- of the thousands of tasks a sync batch creates (measured: nearly half
-- the cost of copying a batch's links). A link is only ever inserted in
-- the transaction that creates its task (createLinked), so no check can
-- fail; what the key still did is delete a task's links with it, which
-- this statement-level trigger does, once per DELETE on tasks. SQLite
-- keeps the foreign key, whose checks cost no lock there.
ALTER TABLE source_storage_links DROP CONSTRAINT source_storage_links_task_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION source_storage_links_of_deleted_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM source_storage_links WHERE task_id IN (SELECT id FROM deleted_tasks);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER tasks_links_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS deleted_tasks FOR EACH STATEMENT EXECUTE FUNCTION source_storage_links_of_deleted_tasks();

-- +goose Down
DROP TRIGGER tasks_links_delete ON tasks;
DROP FUNCTION source_storage_links_of_deleted_tasks();
DELETE FROM source_storage_links l WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = l.task_id);
ALTER TABLE source_storage_links ADD CONSTRAINT source_storage_links_task_id_fkey
    FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE CASCADE;
