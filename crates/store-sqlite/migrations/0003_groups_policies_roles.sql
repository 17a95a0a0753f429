-- Groups, roles, customer managed policies and their versions, attachments, inline policies
-- and permissions boundaries.
ALTER TABLE users ADD COLUMN permissions_boundary_arn TEXT;

CREATE TABLE groups (
    group_id   TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    group_name TEXT NOT NULL,
    path       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX groups_name ON groups (account_id, lower(group_name));

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (group_id),
    user_id  TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (group_id, user_id)
) STRICT;
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE roles (
    role_id                  TEXT PRIMARY KEY,
    account_id               TEXT NOT NULL REFERENCES accounts (account_id),
    role_name                TEXT NOT NULL,
    path                     TEXT NOT NULL,
    description              TEXT,
    trust_policy             TEXT NOT NULL,
    max_session_duration     INTEGER NOT NULL,
    permissions_boundary_arn TEXT,
    created_at               TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX roles_name ON roles (account_id, lower(role_name));

CREATE TABLE role_tags (
    role_id TEXT NOT NULL REFERENCES roles (role_id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (role_id, key)
) STRICT;

CREATE TABLE managed_policies (
    policy_arn         TEXT PRIMARY KEY,
    policy_id          TEXT NOT NULL UNIQUE,
    account_id         TEXT NOT NULL REFERENCES accounts (account_id),
    policy_name        TEXT NOT NULL,
    path               TEXT NOT NULL,
    description        TEXT,
    default_version_id TEXT,
    created_at         TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX managed_policies_name ON managed_policies (account_id, lower(policy_name));

CREATE TABLE policy_versions (
    policy_arn TEXT NOT NULL REFERENCES managed_policies (policy_arn) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (policy_arn, version_id)
) STRICT;

CREATE TABLE policy_tags (
    policy_arn TEXT NOT NULL REFERENCES managed_policies (policy_arn) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (policy_arn, key)
) STRICT;

-- Attachments name AWS managed policies too, which live in the binary, so policy_arn has
-- no foreign key; DeletePolicy checks for attachments in its transaction instead.
CREATE TABLE policy_attachments (
    entity_type TEXT NOT NULL CHECK (entity_type IN ('user', 'group', 'role')),
    entity_id   TEXT NOT NULL,
    policy_arn  TEXT NOT NULL,
    attached_at INTEGER NOT NULL,
    PRIMARY KEY (entity_type, entity_id, policy_arn)
) STRICT;
CREATE INDEX policy_attachments_policy ON policy_attachments (policy_arn);

INSERT INTO policy_attachments (entity_type, entity_id, policy_arn, attached_at)
    SELECT 'user', user_id, policy_arn, rowid FROM user_policy_attachments;
DROP TABLE user_policy_attachments;

CREATE TABLE inline_policies (
    entity_type TEXT NOT NULL CHECK (entity_type IN ('user', 'group', 'role')),
    entity_id   TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    document    TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id, policy_name)
) STRICT;
