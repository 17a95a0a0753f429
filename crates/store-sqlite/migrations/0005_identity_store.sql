-- The organization's IAM Identity Center instance and its identity store: users, groups and
-- group memberships (the AWS Identity Store API). Attributes are one JSON document per user
-- or group; the names that must be unique are columns with unique indexes.
CREATE TABLE identity_centers (
    instance_id       TEXT PRIMARY KEY,
    identity_store_id TEXT NOT NULL UNIQUE,
    -- One instance per organization, in its management account: instances starting
    -- together on one database make it once.
    account_id        TEXT NOT NULL UNIQUE REFERENCES accounts (account_id),
    created_at        TEXT NOT NULL
) STRICT;

CREATE TABLE identity_store_users (
    user_id           TEXT PRIMARY KEY,
    identity_store_id TEXT NOT NULL REFERENCES identity_centers (identity_store_id),
    user_name         TEXT NOT NULL,
    attributes        TEXT NOT NULL,
    revision          INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    updated_by        TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX identity_store_users_name ON identity_store_users (identity_store_id, lower(user_name));

CREATE TABLE identity_store_groups (
    group_id          TEXT PRIMARY KEY,
    identity_store_id TEXT NOT NULL REFERENCES identity_centers (identity_store_id),
    display_name      TEXT NOT NULL,
    attributes        TEXT NOT NULL,
    revision          INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    updated_by        TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX identity_store_groups_name ON identity_store_groups (identity_store_id, lower(display_name));

-- Deleting a user or group deletes its memberships, as AWS does.
CREATE TABLE identity_store_memberships (
    membership_id     TEXT PRIMARY KEY,
    identity_store_id TEXT NOT NULL REFERENCES identity_centers (identity_store_id),
    group_id          TEXT NOT NULL REFERENCES identity_store_groups (group_id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES identity_store_users (user_id) ON DELETE CASCADE,
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX identity_store_memberships_pair ON identity_store_memberships (group_id, user_id);
CREATE INDEX identity_store_memberships_user ON identity_store_memberships (user_id);
