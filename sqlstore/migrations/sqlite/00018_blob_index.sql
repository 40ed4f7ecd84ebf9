-- +goose Up
-- What a source storage reads of its blobs besides their names: the
-- metadata names and index tag keys copied into each Files-mode task (JSON
-- arrays of strings, ["*"] for all), and the index tag expression that
-- selects the blobs to sync ('' lists by prefix as before).
ALTER TABLE source_storages ADD COLUMN metadata_keys TEXT NOT NULL DEFAULT '[]';
ALTER TABLE source_storages ADD COLUMN tag_keys TEXT NOT NULL DEFAULT '[]';
ALTER TABLE source_storages ADD COLUMN tag_filter TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE source_storages DROP COLUMN tag_filter;
ALTER TABLE source_storages DROP COLUMN tag_keys;
ALTER TABLE source_storages DROP COLUMN metadata_keys;
