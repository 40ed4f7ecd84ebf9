-- +goose Up
-- Target ("export") storages and what was last written to each of their
-- objects. secrets holds the sealed JSON of the secret connection fields;
-- file_extension NULL means the export format's default.
CREATE TABLE target_storages (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id         INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    type               TEXT NOT NULL,
    title              TEXT NOT NULL DEFAULT '',
    description        TEXT NOT NULL DEFAULT '',
    container          TEXT NOT NULL,
    prefix             TEXT NOT NULL DEFAULT '',
    can_delete_objects BOOLEAN NOT NULL DEFAULT FALSE,
    export_format      TEXT NOT NULL DEFAULT 'annotation',
    file_extension     BOOLEAN,
    connection         TEXT NOT NULL DEFAULT '{}',
    secrets            TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT 'initialized',
    last_sync          DATETIME,
    last_sync_count    INTEGER,
    last_sync_job      TEXT,
    traceback          TEXT,
    meta               TEXT NOT NULL DEFAULT '{}',
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL
);
CREATE INDEX target_storages_project_id ON target_storages (project_id, id);

-- One row per written object. annotation_id and task_id carry no foreign
-- key: the link of a deleted annotation is what tells the exporter which
-- object to remove.
CREATE TABLE export_links (
    storage_id        INTEGER NOT NULL REFERENCES target_storages (id) ON DELETE CASCADE,
    object_key        TEXT NOT NULL,
    annotation_id     INTEGER NOT NULL DEFAULT 0,
    task_id           INTEGER NOT NULL DEFAULT 0,
    etag              TEXT NOT NULL DEFAULT '',
    content_hash      TEXT NOT NULL,
    source_updated_at DATETIME NOT NULL,
    annotation_count  INTEGER NOT NULL DEFAULT 1,
    exported_at       DATETIME NOT NULL,
    PRIMARY KEY (storage_id, object_key)
);
CREATE INDEX export_links_annotation ON export_links (storage_id, annotation_id);
CREATE INDEX export_links_task ON export_links (storage_id, task_id);

-- +goose Down
DROP TABLE export_links;
DROP TABLE target_storages;
