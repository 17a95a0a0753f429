-- SSO OIDC authorization codes exchanged for tokens, and access tokens revoked by Logout (only
-- their SHA-256), kept until they expire so that none is accepted again.
CREATE TABLE spent_tokens (
    token_hash TEXT PRIMARY KEY,
    spent_at   TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
