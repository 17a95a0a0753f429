-- Invitations to identity-store users (only the SHA-256 of each link's token) and the
-- passwords they set.
CREATE TABLE identity_store_invitations (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES identity_store_users (user_id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    accepted_at TEXT
) STRICT;
CREATE INDEX identity_store_invitations_user ON identity_store_invitations (user_id);

CREATE TABLE identity_store_passwords (
    user_id       TEXT PRIMARY KEY REFERENCES identity_store_users (user_id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    set_at        TEXT NOT NULL
) STRICT;
