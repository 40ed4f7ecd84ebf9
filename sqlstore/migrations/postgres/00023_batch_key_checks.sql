-- +goose Up
-- Foreign keys made PostgreSQL check every new task and link, thousands
-- per sync batch, each with a query of its own: a link's task with a row
-- lock, a logged write of each task the batch had just created (measured:
-- nearly half the cost of copying a batch's links), a link's storage and
-- a task's project with a query that locks again a row the batch already
-- holds. No check could fail:
--   * a link is only inserted in the transaction that creates its task,
--     after locking its storage's row as the check did (createLinked,
--     writeBatch);
--   * a task is only inserted after its live project's row is locked and
--     its task numbers taken (insertPrepared).
-- What the keys still did on deletes, these statement-level triggers do,
-- once per DELETE: a task's or a storage's links go with it, and a
-- project's row cannot go while tasks point at it (the purge deletes its
-- tasks first). SQLite keeps the foreign keys: its checks take no locks.
ALTER TABLE source_storage_links DROP CONSTRAINT source_storage_links_task_id_fkey;
ALTER TABLE source_storage_links DROP CONSTRAINT source_storage_links_storage_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_project_id_fkey;

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

-- +goose StatementBegin
CREATE FUNCTION source_storage_links_of_deleted_storages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM source_storage_links WHERE storage_id IN (SELECT id FROM deleted_storages);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER source_storages_links_delete AFTER DELETE ON source_storages
    REFERENCING OLD TABLE AS deleted_storages FOR EACH STATEMENT EXECUTE FUNCTION source_storage_links_of_deleted_storages();

-- +goose StatementBegin
CREATE FUNCTION tasks_of_deleted_projects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tasks WHERE project_id IN (SELECT id FROM deleted_projects)) THEN
        RAISE foreign_key_violation USING MESSAGE = 'a deleted project still has tasks';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER projects_tasks_delete AFTER DELETE ON projects
    REFERENCING OLD TABLE AS deleted_projects FOR EACH STATEMENT EXECUTE FUNCTION tasks_of_deleted_projects();

-- +goose Down
DROP TRIGGER projects_tasks_delete ON projects;
DROP FUNCTION tasks_of_deleted_projects();
DROP TRIGGER source_storages_links_delete ON source_storages;
DROP FUNCTION source_storage_links_of_deleted_storages();
DROP TRIGGER tasks_links_delete ON tasks;
DROP FUNCTION source_storage_links_of_deleted_tasks();
DELETE FROM source_storage_links l WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = l.task_id)
    OR NOT EXISTS (SELECT 1 FROM source_storages s WHERE s.id = l.storage_id);
ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id);
ALTER TABLE source_storage_links ADD CONSTRAINT source_storage_links_task_id_fkey
    FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE CASCADE;
ALTER TABLE source_storage_links ADD CONSTRAINT source_storage_links_storage_id_fkey
    FOREIGN KEY (storage_id) REFERENCES source_storages (id) ON DELETE CASCADE;
