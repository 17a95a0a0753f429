-- Every committed batch of changes, in commit order, so that other snapshots (threads or
-- processes on this database) can follow exactly what was committed.
CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    batch      TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
