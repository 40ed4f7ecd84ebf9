-- +goose Up
-- Outgoing project webhooks (Label Studio's fields). The signing secret is
-- sealed with the server key like storage secrets: the receiver verifies
-- an HMAC with it, so it must be readable. actions and headers are JSON.
CREATE TABLE webhooks (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id           INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url                  TEXT NOT NULL,
    secret_sealed        TEXT NOT NULL DEFAULT '',
    send_payload         BOOLEAN NOT NULL DEFAULT TRUE,
    send_for_all_actions BOOLEAN NOT NULL DEFAULT TRUE,
    actions              TEXT NOT NULL DEFAULT '[]',
    headers              TEXT NOT NULL DEFAULT '{}',
    is_active            BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);
CREATE INDEX webhooks_project ON webhooks (project_id);

-- Every delivery attempt, for the delivery log in the API.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    job_id      INTEGER NOT NULL DEFAULT 0,
    action      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0,
    success     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  DATETIME NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
