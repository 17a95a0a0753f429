-- Virtual MFA devices. The seed is sealed under the master key; a device is assigned to at
-- most one user.
CREATE TABLE mfa_devices (
    serial_number TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (account_id),
    device_name   TEXT NOT NULL,
    path          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    sealed_seed   BYTEA NOT NULL,
    user_id       TEXT REFERENCES users (user_id),
    enabled_at    TIMESTAMPTZ,
    drift_steps   BIGINT NOT NULL DEFAULT 0,
    CHECK ((user_id IS NULL) = (enabled_at IS NULL))
);
-- Device names are unique within an account ignoring case, whatever the path.
CREATE UNIQUE INDEX mfa_devices_name ON mfa_devices (account_id, lower(device_name));
CREATE INDEX mfa_devices_user ON mfa_devices (user_id);
