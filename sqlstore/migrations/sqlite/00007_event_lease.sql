-- +goose Up
-- The lease that serialises the event workers of a source storage: a
-- worker applies a storage's events only while it holds the row (holder
-- set and lease_until_ms, Unix milliseconds, in the future). A worker that
-- dies stops renewing it, and another takes it over once it has expired.
CREATE TABLE source_storage_event_leases (
    storage_id     INTEGER PRIMARY KEY REFERENCES source_storages (id) ON DELETE CASCADE,
    holder         TEXT NOT NULL DEFAULT '',
    lease_until_ms INTEGER NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE source_storage_event_leases;
