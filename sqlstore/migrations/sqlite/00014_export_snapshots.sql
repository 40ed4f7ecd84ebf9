-- +goose Up
-- Export snapshots (Label Studio's export objects): a project's export
-- taken once, its filters kept as JSON (filter: what the store applies;
-- options: the request's option objects as sent, echoed by the API).
CREATE TABLE export_snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title       TEXT NOT NULL DEFAULT '',
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  DATETIME NOT NULL,
    finished_at DATETIME,
    md5         TEXT NOT NULL DEFAULT '',
    counters    TEXT NOT NULL DEFAULT '{}',
    filter      TEXT NOT NULL DEFAULT '{}',
    options     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX export_snapshots_project ON export_snapshots (project_id, id);

-- One row per format of a snapshot: the JSON written first (its status is
-- the snapshot's), then each conversion asked for.
CREATE TABLE export_outputs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_id INTEGER NOT NULL REFERENCES export_snapshots (id) ON DELETE CASCADE,
    export_type TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'created',
    traceback   TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    UNIQUE (snapshot_id, export_type)
);

-- The bytes of an output, in order, in chunks of about a MiB: kept in the
-- database so that every replica serves every download, and written one
-- chunk per transaction so a large export never holds the writer for long.
CREATE TABLE export_output_chunks (
    output_id INTEGER NOT NULL REFERENCES export_outputs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (output_id, seq)
);

-- +goose Down
DROP TABLE export_output_chunks;
DROP TABLE export_outputs;
DROP TABLE export_snapshots;
