-- latchkey schema, version 1 (PostgreSQL dialect of crates/store-sqlite/migrations/0001).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE accounts (
    account_id         TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    root_email         TEXT NOT NULL UNIQUE,
    root_password_hash TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    user_name  TEXT NOT NULL,
    path       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- IAM user names are unique within an account ignoring case.
CREATE UNIQUE INDEX users_name ON users (account_id, lower(user_name));

CREATE TABLE user_tags (
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE login_profiles (
    user_id                 TEXT PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    password_hash           TEXT NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    password_reset_required BOOLEAN NOT NULL
);

CREATE TABLE user_policy_attachments (
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    policy_arn TEXT NOT NULL,
    PRIMARY KEY (user_id, policy_arn)
);

CREATE TABLE access_keys (
    access_key_id     TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (account_id),
    user_id           TEXT REFERENCES users (user_id),
    status            TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at        TIMESTAMPTZ NOT NULL,
    sealed_secret     BYTEA NOT NULL,
    last_used_at      TIMESTAMPTZ,
    last_used_service TEXT,
    last_used_region  TEXT
);
CREATE INDEX access_keys_user ON access_keys (user_id);

CREATE TABLE credential_reports (
    account_id   TEXT PRIMARY KEY REFERENCES accounts (account_id),
    generated_at TIMESTAMPTZ NOT NULL,
    content      BYTEA NOT NULL
);
