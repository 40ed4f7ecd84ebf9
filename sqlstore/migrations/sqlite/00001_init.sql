-- +goose Up
-- Timestamps are DATETIME so the driver reads them back as times; booleans are
-- 0/1 integers. Counters on tasks and projects are maintained by the store in
-- the same transaction as each write, so reads never aggregate.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    token_prefix  TEXT NOT NULL,
    date_joined   DATETIME NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);
CREATE UNIQUE INDEX users_token_hash ON users (token_hash);

CREATE TABLE projects (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    title                       TEXT NOT NULL DEFAULT '',
    description                 TEXT NOT NULL DEFAULT '',
    label_config                TEXT NOT NULL DEFAULT '',
    expert_instruction          TEXT NOT NULL DEFAULT '',
    show_instruction            BOOLEAN NOT NULL DEFAULT FALSE,
    show_skip_button            BOOLEAN NOT NULL DEFAULT TRUE,
    enable_empty_annotation     BOOLEAN NOT NULL DEFAULT TRUE,
    color                       TEXT NOT NULL DEFAULT '#FFFFFF',
    maximum_annotations         INTEGER NOT NULL DEFAULT 1,
    is_published                BOOLEAN NOT NULL DEFAULT FALSE,
    created_by                  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at                  DATETIME NOT NULL,
    updated_at                  DATETIME NOT NULL,
    deleted_at                  DATETIME,
    task_seq                    INTEGER NOT NULL DEFAULT 0,
    task_number                 INTEGER NOT NULL DEFAULT 0,
    total_annotations_number    INTEGER NOT NULL DEFAULT 0,
    total_predictions_number    INTEGER NOT NULL DEFAULT 0,
    num_tasks_with_annotations  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tasks (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id            INTEGER NOT NULL REFERENCES projects (id),
    inner_id              INTEGER NOT NULL,
    data                  TEXT NOT NULL,
    meta                  TEXT NOT NULL DEFAULT '{}',
    is_labeled            BOOLEAN NOT NULL DEFAULT FALSE,
    total_annotations     INTEGER NOT NULL DEFAULT 0,
    cancelled_annotations INTEGER NOT NULL DEFAULT 0,
    total_predictions     INTEGER NOT NULL DEFAULT 0,
    created_at            DATETIME NOT NULL,
    updated_at            DATETIME NOT NULL
);
CREATE UNIQUE INDEX tasks_project_inner_id ON tasks (project_id, inner_id);
CREATE INDEX tasks_project_id ON tasks (project_id, id);

CREATE TABLE annotations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id       INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    project_id    INTEGER NOT NULL REFERENCES projects (id),
    result        TEXT NOT NULL DEFAULT '[]',
    was_cancelled BOOLEAN NOT NULL DEFAULT FALSE,
    ground_truth  BOOLEAN NOT NULL DEFAULT FALSE,
    lead_time     REAL NOT NULL DEFAULT 0,
    completed_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
CREATE INDEX annotations_task_id ON annotations (task_id, id);
CREATE INDEX annotations_project_id ON annotations (project_id);
CREATE INDEX annotations_completed_by ON annotations (completed_by);

CREATE TABLE predictions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id       INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    project_id    INTEGER NOT NULL REFERENCES projects (id),
    result        TEXT NOT NULL DEFAULT '[]',
    score         REAL,
    model_version TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
CREATE INDEX predictions_task_id ON predictions (task_id, id);
CREATE INDEX predictions_project_id ON predictions (project_id);

-- +goose Down
DROP TABLE predictions;
DROP TABLE annotations;
DROP TABLE tasks;
DROP TABLE projects;
DROP TABLE users;
