-- audit_segment_keys again, with its primary key's columns first, in the key's order.
-- SQLite 3.40 (Debian 12's sqlite3 and Python) misreads a WITHOUT ROWID table whose non-key
-- column is declared before a key column: PRAGMA integrity_check reports "NULL value in
-- audit_segment_keys.first_us" for every row, though none is NULL (newer SQLite reports ok).
-- An operator checking a backup with such a sqlite3 would take a sound database for a
-- corrupt one.
CREATE TABLE audit_segment_keys_key_first (
    account_id TEXT NOT NULL,
    attribute  TEXT NOT NULL,
    value      TEXT NOT NULL,
    last_us    INTEGER NOT NULL,
    segment_id TEXT NOT NULL,
    first_us   INTEGER NOT NULL,
    PRIMARY KEY (account_id, attribute, value, last_us, segment_id)
) STRICT, WITHOUT ROWID;
INSERT INTO audit_segment_keys_key_first
    (account_id, attribute, value, last_us, segment_id, first_us)
SELECT account_id, attribute, value, last_us, segment_id, first_us FROM audit_segment_keys;
DROP TABLE audit_segment_keys;
ALTER TABLE audit_segment_keys_key_first RENAME TO audit_segment_keys;
CREATE INDEX audit_segment_keys_by_last ON audit_segment_keys (last_us);
