-- PostgreSQL dialect of crates/store-sqlite/migrations/0013.
-- The organization's organizational units (OUs). The root is derived from the management
-- account, not stored: a NULL parent is the root. OUs never move, so an OU's depth is fixed
-- when it is made (at most five under the root, checked by the caller).
CREATE TABLE organizational_units (
    ou_id      TEXT PRIMARY KEY,
    parent_id  TEXT REFERENCES organizational_units (ou_id),
    name       TEXT NOT NULL,
    -- The tags it was created with, as a JSON array of {key, value}.
    tags       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- OU names are unique among the OUs of one parent.
CREATE UNIQUE INDEX organizational_units_name ON organizational_units (coalesce(parent_id, ''), name);

-- Each account's OU; NULL is the root, where accounts are created.
ALTER TABLE accounts ADD COLUMN parent_id TEXT REFERENCES organizational_units (ou_id);
CREATE INDEX accounts_parent ON accounts (parent_id);
