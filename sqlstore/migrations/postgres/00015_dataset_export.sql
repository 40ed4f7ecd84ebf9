-- +goose Up
-- Target storage naming and dataset export: key_template names each
-- exported object ('' keeps the ids); dataset_format, when not '', makes a
-- sync also write the whole project in that export format as one object
-- named by dataset_key_template; dataset_state is that export's progress
-- and outcome, as JSON.
ALTER TABLE target_storages ADD COLUMN key_template TEXT NOT NULL DEFAULT '';
ALTER TABLE target_storages ADD COLUMN dataset_format TEXT NOT NULL DEFAULT '';
ALTER TABLE target_storages ADD COLUMN dataset_key_template TEXT NOT NULL DEFAULT '';
ALTER TABLE target_storages ADD COLUMN dataset_state TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE target_storages DROP COLUMN dataset_state;
ALTER TABLE target_storages DROP COLUMN dataset_key_template;
ALTER TABLE target_storages DROP COLUMN dataset_format;
ALTER TABLE target_storages DROP COLUMN key_template;
