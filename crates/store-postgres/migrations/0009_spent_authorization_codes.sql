-- SSO OIDC authorization codes already exchanged for tokens (only their SHA-256), kept until
-- they expire so that a code works once.
CREATE TABLE spent_authorization_codes (
    code_hash  TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
