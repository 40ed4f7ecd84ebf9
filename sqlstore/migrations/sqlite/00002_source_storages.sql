-- +goose Up
-- Source ("import") storages. Connection fields that are not secret are a
-- JSON object in connection; the secret ones are one sealed JSON object in
-- secrets ('' when there are none), so a copy of the database reveals none.
CREATE TABLE source_storages (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id            INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    type                  TEXT NOT NULL,
    title                 TEXT NOT NULL DEFAULT '',
    description           TEXT NOT NULL DEFAULT '',
    container             TEXT NOT NULL DEFAULT '',
    prefix                TEXT NOT NULL DEFAULT '',
    regex_filter          TEXT NOT NULL DEFAULT '',
    use_blob_urls         BOOLEAN NOT NULL DEFAULT FALSE,
    presign               BOOLEAN NOT NULL DEFAULT TRUE,
    presign_ttl           INTEGER NOT NULL DEFAULT 15,
    recursive_scan        BOOLEAN NOT NULL DEFAULT FALSE,
    synchronizable        BOOLEAN NOT NULL DEFAULT TRUE,
    sync_changed          BOOLEAN NOT NULL DEFAULT FALSE,
    sync_deleted          BOOLEAN NOT NULL DEFAULT FALSE,
    sync_interval_minutes INTEGER NOT NULL DEFAULT 0,
    connection            TEXT NOT NULL DEFAULT '{}',
    secrets               TEXT NOT NULL DEFAULT '',
    status                TEXT NOT NULL DEFAULT 'initialized',
    last_sync             DATETIME,
    last_sync_count       INTEGER,
    last_sync_job         TEXT,
    traceback             TEXT,
    meta                  TEXT NOT NULL DEFAULT '{}',
    cancel_requested      BOOLEAN NOT NULL DEFAULT FALSE,
    last_queued_at        DATETIME,
    created_at            DATETIME NOT NULL,
    updated_at            DATETIME NOT NULL
);
CREATE INDEX source_storages_project_id ON source_storages (project_id, id);

-- One row per task a storage created: the blob key, the task's row in its
-- file, and the blob version imported. The primary key is what makes a
-- retried sync idempotent. generation is the sync that last saw the key;
-- missing marks an annotated task whose blob has disappeared.
CREATE TABLE source_storage_links (
    storage_id INTEGER NOT NULL REFERENCES source_storages (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    row_index  INTEGER NOT NULL,
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    etag       TEXT NOT NULL DEFAULT '',
    size       INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    missing    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (storage_id, key, row_index)
);
CREATE INDEX source_storage_links_task_id ON source_storage_links (task_id);

-- +goose Down
DROP TABLE source_storage_links;
DROP TABLE source_storages;
