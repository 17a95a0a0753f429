-- SSO OIDC device authorizations: the hash of each device code, its user code, the person's
-- decision and whether the code was exchanged for tokens. Rows are dropped an hour after they
-- expire.
CREATE TABLE device_authorizations (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    client_name      TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    start_url        TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    decision         TEXT CHECK (decision IN ('approved', 'denied')),
    decided_user_id  TEXT,
    decided_at       TEXT,
    redeemed_at      TEXT
) STRICT;
CREATE INDEX device_authorizations_expiry ON device_authorizations (expires_at);
