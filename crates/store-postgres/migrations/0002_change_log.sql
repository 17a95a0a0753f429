-- Every committed batch of changes, in commit order, so that the snapshots of every instance
-- on this database follow exactly what was committed. A writer takes
-- `LOCK TABLE change_log IN EXCLUSIVE MODE` before it numbers its batch and holds it until
-- COMMIT, so sequence numbers are gapless and become visible in order: a reader that has
-- seen batch n has seen every batch before it.
CREATE TABLE change_log (
    seq        BIGINT PRIMARY KEY,
    batch      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
