-- +goose Up
-- Event-driven sync of source storages. The settings row exists while a
-- storage takes events: the push secret is kept only as a SHA-256 hash
-- (it is random and long, so no salt is needed), queue_name names the
-- storage queue to poll ('' for push only), and the counters are shown in
-- the storage API.
CREATE TABLE source_storage_event_settings (
    storage_id      INTEGER PRIMARY KEY REFERENCES source_storages (id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL DEFAULT '',
    queue_name      TEXT NOT NULL DEFAULT '',
    events_received INTEGER NOT NULL DEFAULT 0,
    events_applied  INTEGER NOT NULL DEFAULT 0,
    events_ignored  INTEGER NOT NULL DEFAULT 0,
    last_event_at   DATETIME,
    created_at      DATETIME NOT NULL
);

-- Pushed events persisted before the delivery is answered, until a worker
-- applies them; a redelivered event (same id) is stored once.
CREATE TABLE source_storage_pending_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    storage_id  INTEGER NOT NULL REFERENCES source_storages (id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    container   TEXT NOT NULL DEFAULT '',
    key         TEXT NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    etag        TEXT NOT NULL DEFAULT '',
    size        INTEGER NOT NULL DEFAULT 0,
    order_key   TEXT NOT NULL DEFAULT '',
    event_time  DATETIME,
    received_at DATETIME NOT NULL,
    UNIQUE (storage_id, event_id)
);
CREATE INDEX source_storage_pending_events_storage ON source_storage_pending_events (storage_id, id);

-- The order key of the last event applied per blob key, deletions
-- included, so a stale or out-of-order event is ignored.
CREATE TABLE source_storage_event_keys (
    storage_id INTEGER NOT NULL REFERENCES source_storages (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    order_key  TEXT NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (storage_id, key)
);

-- +goose Down
DROP TABLE source_storage_event_keys;
DROP TABLE source_storage_pending_events;
DROP TABLE source_storage_event_settings;
