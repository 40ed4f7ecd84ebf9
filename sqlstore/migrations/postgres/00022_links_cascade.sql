-- +goose Up
-- A link's foreign keys made PostgreSQL check every new link, thousands
-- per sync batch: its task with a row lock, a logged write of each task
-- the batch had just created (measured: nearly half the cost of copying a
-- batch's links), and its storage with a query per link. A link is only
-- ever inserted in the transaction that creates its task, after locking
-- its storage's row as the check did (createLinked, writeBatch), so no
-- check can fail. What the keys still did is delete links with their task
-- or storage, which these statement-level triggers do, once per DELETE.
-- SQLite keeps the foreign keys, whose checks cost no lock there.
ALTER TABLE source_storage_links DROP CONSTRAINT source_storage_links_task_id_fkey;
ALTER TABLE source_storage_links DROP CONSTRAINT source_storage_links_storage_id_fkey;

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

-- +goose Down
DROP TRIGGER source_storages_links_delete ON source_storages;
DROP FUNCTION source_storage_links_of_deleted_storages();
DROP TRIGGER tasks_links_delete ON tasks;
DROP FUNCTION source_storage_links_of_deleted_tasks();
DELETE FROM source_storage_links l WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = l.task_id)
    OR NOT EXISTS (SELECT 1 FROM source_storages s WHERE s.id = l.storage_id);
ALTER TABLE source_storage_links ADD CONSTRAINT source_storage_links_task_id_fkey
    FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE CASCADE;
ALTER TABLE source_storage_links ADD CONSTRAINT source_storage_links_storage_id_fkey
    FOREIGN KEY (storage_id) REFERENCES source_storages (id) ON DELETE CASCADE;
