-- +goose Up
-- How an output's chunks hold its bytes: '' as they are (outputs written
-- before this migration), 's2' each chunk one S2 block of up to 1 MiB of
-- the output. Exports, JSON above all, are repetitive and shrink many times
-- over, so the database writes, checkpoints and reads back a fraction of
-- the pages.
ALTER TABLE export_outputs ADD COLUMN compression TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE export_outputs DROP COLUMN compression;
