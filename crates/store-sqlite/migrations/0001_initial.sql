-- latchkey schema, version 1.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE accounts (
    account_id         TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    root_email         TEXT NOT NULL UNIQUE,
    root_password_hash TEXT NOT NULL,
    created_at         TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    user_name  TEXT NOT NULL,
    path       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
-- IAM user names are unique within an account ignoring case.
CREATE UNIQUE INDEX users_name ON users (account_id, lower(user_name));

CREATE TABLE user_tags (
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
) STRICT;

CREATE TABLE login_profiles (
    user_id                 TEXT PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    password_hash           TEXT NOT NULL,
    created_at              TEXT NOT NULL,
    password_reset_required INTEGER NOT NULL
) STRICT;

CREATE TABLE user_policy_attachments (
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    policy_arn TEXT NOT NULL,
    PRIMARY KEY (user_id, policy_arn)
) STRICT;

CREATE TABLE access_keys (
    access_key_id     TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (account_id),
    user_id           TEXT REFERENCES users (user_id),
    status            TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at        TEXT NOT NULL,
    sealed_secret     BLOB NOT NULL,
    last_used_at      TEXT,
    last_used_service TEXT,
    last_used_region  TEXT
) STRICT;
CREATE INDEX access_keys_user ON access_keys (user_id);

CREATE TABLE credential_reports (
    account_id   TEXT PRIMARY KEY REFERENCES accounts (account_id),
    generated_at TEXT NOT NULL,
    content      BLOB NOT NULL
) STRICT;
