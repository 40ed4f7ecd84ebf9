-- +goose Up
-- Teams: roles, project members, personal access tokens and invitations.
--
-- Every user gets a role in their organization. On upgrade the earliest
-- user of each organization becomes its owner (OW) and every other existing
-- user an administrator (AD): before roles existed every member could do
-- everything, and these two roles keep every one of those powers, so no
-- script or person stops working. New users get the role they are created
-- or invited with; the column's default, "not activated", is the least
-- privilege, for a row written without one.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'NO';
ALTER TABLE users ADD COLUMN username TEXT NOT NULL DEFAULT '';
UPDATE users SET role = 'AD';
UPDATE users SET role = 'OW' WHERE id IN (SELECT MIN(id) FROM users GROUP BY organization_id);
CREATE INDEX users_organization_role ON users (organization_id, role);

-- The organization's token settings (Label Studio's JWT settings).
ALTER TABLE organizations ADD COLUMN api_token_ttl_days INTEGER NOT NULL DEFAULT 30;
ALTER TABLE organizations ADD COLUMN api_tokens_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE organizations ADD COLUMN legacy_api_tokens_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE organizations ADD COLUMN contact_info TEXT NOT NULL DEFAULT '';

-- Who may label or review in a project. Owners, administrators and
-- managers see every project of their organization without a row here.
CREATE TABLE project_members (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id, project_id);

-- Personal access tokens: the JWT refresh tokens of POST /api/token/. Only
-- their id (jti) is kept, never the token; revoked_at blacklists one and
-- every access token made from it.
CREATE TABLE personal_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    revoked_at DATETIME
);
CREATE UNIQUE INDEX personal_tokens_jti ON personal_tokens (jti);
CREATE INDEX personal_tokens_user ON personal_tokens (user_id, id);

-- Invitations: a link that lets one person join an organization with a
-- role until it expires. Only the token's hash is kept.
CREATE TABLE invites (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id INTEGER NOT NULL REFERENCES organizations (id),
    token_hash      TEXT NOT NULL,
    role            TEXT NOT NULL,
    email           TEXT NOT NULL DEFAULT '',
    created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL,
    accepted_by     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    accepted_at     DATETIME
);
CREATE UNIQUE INDEX invites_token_hash ON invites (token_hash);
CREATE INDEX invites_organization ON invites (organization_id, id);

-- +goose Down
DROP TABLE invites;
DROP TABLE personal_tokens;
DROP TABLE project_members;
ALTER TABLE organizations DROP COLUMN contact_info;
ALTER TABLE organizations DROP COLUMN legacy_api_tokens_enabled;
ALTER TABLE organizations DROP COLUMN api_tokens_enabled;
ALTER TABLE organizations DROP COLUMN api_token_ttl_days;
DROP INDEX users_organization_role;
ALTER TABLE users DROP COLUMN username;
ALTER TABLE users DROP COLUMN role;
