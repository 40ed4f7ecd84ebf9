-- +goose Up
-- The projects an invitation's new member joins when they accept it.
CREATE TABLE invite_projects (
    invite_id  INTEGER NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (invite_id, project_id)
);

-- +goose Down
DROP TABLE invite_projects;
