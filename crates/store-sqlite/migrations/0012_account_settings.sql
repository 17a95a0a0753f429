-- Account settings (docs/design/account-settings.md): the account alias, the password
-- policy, and what the policy needs of login profiles (when the password was last set, and
-- the hashes of previous passwords for PasswordReusePrevention).

-- At most one alias per account, and an alias names one account in the whole deployment.
CREATE TABLE account_aliases (
    account_id TEXT PRIMARY KEY REFERENCES accounts (account_id),
    alias      TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE password_policies (
    account_id                     TEXT PRIMARY KEY REFERENCES accounts (account_id),
    minimum_password_length        INTEGER NOT NULL,
    require_symbols                INTEGER NOT NULL,
    require_numbers                INTEGER NOT NULL,
    require_uppercase_characters   INTEGER NOT NULL,
    require_lowercase_characters   INTEGER NOT NULL,
    allow_users_to_change_password INTEGER NOT NULL,
    max_password_age               INTEGER,
    password_reuse_prevention      INTEGER,
    hard_expiry                    INTEGER NOT NULL
) STRICT;

-- Profiles made before this migration were last set when they were made.
ALTER TABLE login_profiles ADD COLUMN password_changed_at TEXT;

-- Argon2id hashes of previous passwords, never the passwords; the newest 24 per user.
CREATE TABLE password_history (
    user_id       TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    replaced_at   TEXT NOT NULL
) STRICT;
CREATE INDEX password_history_user ON password_history (user_id, replaced_at);
