-- IAM Identity Center administration (the AWS SSO Admin API); the PostgreSQL dialect of
-- crates/store-sqlite/migrations/0006. Permission sets, their assignments to identity store
-- users and groups in accounts, where they are provisioned (the role each made there), and
-- the requests that did it.
CREATE TABLE permission_sets (
    permission_set_id TEXT PRIMARY KEY,
    instance_id       TEXT NOT NULL REFERENCES identity_centers (instance_id),
    name              TEXT NOT NULL,
    description       TEXT,
    session_duration  INTEGER NOT NULL,
    relay_state       TEXT,
    -- What it grants: managed policies, customer managed policy references, the inline
    -- policy and the boundary, as one JSON document.
    policies          TEXT NOT NULL,
    revision          BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX permission_sets_name ON permission_sets (instance_id, lower(name));

CREATE TABLE permission_set_tags (
    permission_set_id TEXT NOT NULL REFERENCES permission_sets (permission_set_id) ON DELETE CASCADE,
    key               TEXT NOT NULL,
    value             TEXT NOT NULL,
    PRIMARY KEY (permission_set_id, key)
);

-- A permission set is not deleted while it is assigned or provisioned (no cascade).
CREATE TABLE account_assignments (
    permission_set_id TEXT NOT NULL REFERENCES permission_sets (permission_set_id),
    account_id        TEXT NOT NULL REFERENCES accounts (account_id),
    principal_type    TEXT NOT NULL,
    principal_id      TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (permission_set_id, account_id, principal_type, principal_id)
);
CREATE INDEX account_assignments_principal ON account_assignments (principal_type, principal_id);

-- One role per permission set and account: two writers provisioning together make one.
CREATE TABLE permission_set_provisionings (
    permission_set_id TEXT NOT NULL REFERENCES permission_sets (permission_set_id),
    account_id        TEXT NOT NULL REFERENCES accounts (account_id),
    role_id           TEXT NOT NULL REFERENCES roles (role_id),
    revision          BIGINT NOT NULL,
    provisioned_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (permission_set_id, account_id)
);

-- Requests outlive the permission sets they name, so no reference.
CREATE TABLE sso_requests (
    request_id         TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    instance_id        TEXT NOT NULL,
    permission_set_arn TEXT NOT NULL,
    account_id         TEXT,
    principal_type     TEXT,
    principal_id       TEXT,
    status             TEXT NOT NULL,
    failure_reason     TEXT,
    created_at         TIMESTAMPTZ NOT NULL
);
