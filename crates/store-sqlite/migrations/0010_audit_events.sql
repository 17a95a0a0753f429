-- The audit trail (docs/design/audit-trail.md): one CloudTrail record per call, with the
-- fields LookupEvents filters on. Times are microseconds since the Unix epoch, so that they
-- sort and compare as numbers in both dialects. account_id is NULL for a caller that could
-- not be told (a request signed with an unknown key). Event ids are UUIDs of version 7 (time
-- first), so a table clustered on them (WITHOUT ROWID) is appended to.
CREATE TABLE audit_events (
    event_id      TEXT PRIMARY KEY,
    event_time_us INTEGER NOT NULL,
    account_id    TEXT,
    event_source  TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    read_only     INTEGER NOT NULL,
    username      TEXT,
    access_key_id TEXT,
    -- [{"resource_type": ..., "name": ...}]
    resources     TEXT NOT NULL,
    record        TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX audit_events_by_account ON audit_events (account_id, event_time_us, event_id);
CREATE INDEX audit_events_by_time ON audit_events (event_time_us);

-- The resource names of each event, for LookupEvents' ResourceName.
CREATE TABLE audit_event_resources (
    event_id      TEXT NOT NULL REFERENCES audit_events (event_id) ON DELETE CASCADE,
    resource_name TEXT NOT NULL
) STRICT;
CREATE INDEX audit_event_resources_by_event ON audit_event_resources (event_id);
CREATE INDEX audit_event_resources_by_name ON audit_event_resources (resource_name);
