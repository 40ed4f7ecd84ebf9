-- +goose Up
-- Organizations, as in Label Studio: a user belongs to one, a project to its
-- creator's, and only members see a project. Every existing user and project
-- joins organization 1, "default", so an install upgraded from a single team
-- behaves as before. SQLite cannot add a column with a REFERENCES clause and
-- a non-NULL default while foreign keys are enforced, so here the columns
-- carry no foreign key; organizations are never deleted, and the PostgreSQL
-- schema has the constraint.
CREATE TABLE organizations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    title      TEXT NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX organizations_title ON organizations (title);
INSERT INTO organizations (id, title, created_at) VALUES (1, 'default', CURRENT_TIMESTAMP);

ALTER TABLE users ADD COLUMN organization_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX users_organization_id ON users (organization_id);
ALTER TABLE projects ADD COLUMN organization_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX projects_organization_id ON projects (organization_id, id);

-- +goose Down
DROP INDEX projects_organization_id;
ALTER TABLE projects DROP COLUMN organization_id;
DROP INDEX users_organization_id;
ALTER TABLE users DROP COLUMN organization_id;
DROP TABLE organizations;
