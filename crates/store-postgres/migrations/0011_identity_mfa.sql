-- Authenticator apps of identity-store users: at most one per person, the TOTP seed sealed
-- under the master key.
CREATE TABLE identity_store_mfa (
    user_id     TEXT PRIMARY KEY REFERENCES identity_store_users (user_id) ON DELETE CASCADE,
    sealed_seed BYTEA NOT NULL,
    enabled_at  TIMESTAMPTZ NOT NULL
);
