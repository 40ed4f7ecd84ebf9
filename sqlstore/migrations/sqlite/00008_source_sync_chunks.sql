-- +goose Up
-- The chunks of task files a Tasks-mode sync hands to other workers, so
-- several replicas download and parse one container together. A row is
-- committed with the job that imports it (job_id); the job counts its
-- pings while it works, then records the chunk's counts (or the error that
-- stopped it as a whole) and marks it finished. The listing job waits for
-- every chunk of its generation before it reconciles, and queues again a
-- started chunk (pinged, or its job running) whose ping count stopped
-- moving, by its own clock, marking the old row finished with no counts. A
-- finished sync deletes its rows.
CREATE TABLE source_sync_chunks (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    storage_id           INTEGER NOT NULL REFERENCES source_storages (id) ON DELETE CASCADE,
    generation           INTEGER NOT NULL,
    objects              TEXT NOT NULL,
    job_id               INTEGER NOT NULL DEFAULT 0,
    finished             BOOLEAN NOT NULL DEFAULT FALSE,
    pings                INTEGER NOT NULL DEFAULT 0,
    files_read           INTEGER NOT NULL DEFAULT 0,
    files_failed         INTEGER NOT NULL DEFAULT 0,
    tasks_created        INTEGER NOT NULL DEFAULT 0,
    tasks_existed        INTEGER NOT NULL DEFAULT 0,
    tasks_updated        INTEGER NOT NULL DEFAULT 0,
    tasks_kept           INTEGER NOT NULL DEFAULT 0,
    tasks_removed        INTEGER NOT NULL DEFAULT 0,
    tasks_marked_missing INTEGER NOT NULL DEFAULT 0,
    tasks_restored       INTEGER NOT NULL DEFAULT 0,
    failures             TEXT NOT NULL DEFAULT '',
    failure_count        INTEGER NOT NULL DEFAULT 0,
    error_code           TEXT NOT NULL DEFAULT '',
    error_message        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX source_sync_chunks_generation ON source_sync_chunks (storage_id, generation);

-- +goose Down
DROP TABLE source_sync_chunks;
