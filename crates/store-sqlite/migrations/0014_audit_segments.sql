-- The audit trail in segments (docs/design/audit-trail.md): the events saved together (one
-- flush, or one write) are one row of lines, each the fields LookupEvents filters on as JSON, a
-- tab and the CloudTrail record, compressed (encoding 1: LZ4). Beside it, one key row per
-- account and distinct value LookupEvents filters on, with the segment's time span, so that a
-- lookup reads only the segments that can hold what it asks for. Times are microseconds since
-- the Unix epoch.
CREATE TABLE audit_segments (
    segment_id  TEXT PRIMARY KEY,
    first_us    INTEGER NOT NULL,
    last_us     INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    encoding    INTEGER NOT NULL,
    data        BLOB NOT NULL
) STRICT;
CREATE INDEX audit_segments_by_last ON audit_segments (last_us);

-- attribute is '' (the account's every event), EventName, EventSource, ReadOnly ('true' or
-- 'false'), Username, AccessKeyId or ResourceName.
CREATE TABLE audit_segment_keys (
    account_id TEXT NOT NULL,
    attribute  TEXT NOT NULL,
    value      TEXT NOT NULL,
    last_us    INTEGER NOT NULL,
    first_us   INTEGER NOT NULL,
    segment_id TEXT NOT NULL,
    PRIMARY KEY (account_id, attribute, value, last_us, segment_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX audit_segment_keys_by_last ON audit_segment_keys (last_us);

-- Every event of the one-row-per-event table becomes a segment of its own, uncompressed
-- (encoding 0), under the same keys.
INSERT INTO audit_segments (segment_id, first_us, last_us, event_count, encoding, data)
SELECT event_id, event_time_us, event_time_us, 1, 0,
       CAST(json_object(
           'event_id', event_id,
           'event_time', event_time_us,
           'account_id', account_id,
           'event_source', event_source,
           'event_name', event_name,
           'read_only', json(CASE WHEN read_only THEN 'true' ELSE 'false' END),
           'username', username,
           'access_key_id', access_key_id,
           'resources', json(resources)
       ) || char(9) || record || char(10) AS BLOB)
FROM audit_events;

INSERT INTO audit_segment_keys (account_id, attribute, value, last_us, first_us, segment_id)
SELECT account_id, '', '', event_time_us, event_time_us, event_id
FROM audit_events WHERE account_id IS NOT NULL
UNION
SELECT account_id, 'EventName', event_name, event_time_us, event_time_us, event_id
FROM audit_events WHERE account_id IS NOT NULL
UNION
SELECT account_id, 'EventSource', event_source, event_time_us, event_time_us, event_id
FROM audit_events WHERE account_id IS NOT NULL
UNION
SELECT account_id, 'ReadOnly', CASE WHEN read_only THEN 'true' ELSE 'false' END,
       event_time_us, event_time_us, event_id
FROM audit_events WHERE account_id IS NOT NULL
UNION
SELECT account_id, 'Username', username, event_time_us, event_time_us, event_id
FROM audit_events WHERE account_id IS NOT NULL AND username IS NOT NULL
UNION
SELECT account_id, 'AccessKeyId', access_key_id, event_time_us, event_time_us, event_id
FROM audit_events WHERE account_id IS NOT NULL AND access_key_id IS NOT NULL
UNION
SELECT e.account_id, 'ResourceName', r.resource_name, e.event_time_us, e.event_time_us, e.event_id
FROM audit_events e JOIN audit_event_resources r ON r.event_id = e.event_id
WHERE e.account_id IS NOT NULL;

DROP TABLE audit_event_resources;
DROP TABLE audit_events;
