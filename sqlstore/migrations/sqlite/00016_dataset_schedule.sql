-- +goose Up
-- Scheduled dataset exports: dataset_interval_minutes, when above 0, has
-- the scheduler queue the storage's dataset export that often;
-- dataset_last_queued_at is when it last did, which is what makes the
-- export due again and lets replicas claim each interval once.
ALTER TABLE target_storages ADD COLUMN dataset_interval_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE target_storages ADD COLUMN dataset_last_queued_at DATETIME;

-- +goose Down
ALTER TABLE target_storages DROP COLUMN dataset_last_queued_at;
ALTER TABLE target_storages DROP COLUMN dataset_interval_minutes;
