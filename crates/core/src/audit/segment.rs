//! How audit events are kept: in segments (docs/design/audit-trail.md).
//!
//! A segment is a run of events saved together: the events of one flush (up to
//! [`MAX_SEGMENT_EVENTS`] each), or the one event of a write. Its events' facts (module
//! `facts`: each distinct string and caller once, then each event in a hundred bytes or so),
//! compressed with LZ4, are one row; beside it, one key row for each account and each
//! distinct value LookupEvents can filter on (event name, user name, access key id, resource
//! name, event source, read-only), with the segment's time span. Saving ten thousand events
//! a second is then a few rows and a few hundred kilobytes a second rather than ten
//! thousand indexed rows, and a lookup reads only the segments whose keys match, newest
//! first, and filters their events exactly, rendering their records as it reads them.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::DateTime;
use serde::Deserialize;

use super::{AuditEvent, EventDraft, EventQuery, EventResource, Identity, LookupAttribute, facts};
use crate::store::{Store, StoreError};

/// Most events one segment holds (a flush of more makes several): it bounds what a lookup
/// decompresses to read one segment.
pub const MAX_SEGMENT_EVENTS: usize = 1024;

/// How many segment references a lookup asks the store for at a time.
const REFS_PER_READ: usize = 64;

/// A segment's decompressed size may not exceed this: a damaged length prefix must not make
/// a lookup allocate without bound.
const MAX_DECODED_BYTES: usize = 256 << 20;

/// The key of the segments an account's unfiltered lookups read.
pub const ANY_ATTRIBUTE: &str = "";

/// How a segment's events are written. The code is what the stores keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentEncoding {
    /// Plain lines, each the lookup fields as JSON, a tab and the rendered record: the
    /// events carried over from the one-row-per-event table.
    Lines,
    /// The same lines compressed as one LZ4 block, its decompressed size first (segments
    /// saved before events were kept as facts).
    Lz4Lines,
    /// Events' facts (module `facts`), compressed as one LZ4 block, its decompressed size
    /// first.
    Lz4Facts,
}

impl SegmentEncoding {
    pub fn code(self) -> i16 {
        match self {
            SegmentEncoding::Lines => 0,
            SegmentEncoding::Lz4Lines => 1,
            SegmentEncoding::Lz4Facts => 2,
        }
    }

    pub fn from_code(code: i16) -> Result<Self, StoreError> {
        match code {
            0 => Ok(SegmentEncoding::Lines),
            1 => Ok(SegmentEncoding::Lz4Lines),
            2 => Ok(SegmentEncoding::Lz4Facts),
            other => Err(StoreError::Backend(format!(
                "unknown audit segment encoding {other}"
            ))),
        }
    }
}

/// One account's events in a segment have this attribute's value (or, for
/// [`ANY_ATTRIBUTE`], the account has events there at all).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentKey {
    pub account_id: String,
    pub attribute: &'static str,
    pub value: String,
}

/// Events saved together, as the store keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSegment {
    /// A UUID (version 7): saving the same segment twice keeps one.
    pub segment_id: String,
    /// The time of its first and last event, in microseconds since the Unix epoch.
    pub first_us: i64,
    pub last_us: i64,
    pub event_count: i64,
    pub encoding: SegmentEncoding,
    pub data: Vec<u8>,
    pub keys: Vec<SegmentKey>,
}

/// A segment a lookup may read, without its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    pub segment_id: String,
    pub first_us: i64,
    pub last_us: i64,
}

/// Which segments a lookup reads: those with the key, overlapping the time span, newest
/// (by last event, then id) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentQuery<'a> {
    pub account_id: &'a str,
    pub attribute: &'a str,
    pub value: &'a str,
    /// Only segments with an event at or after this time (`last_us >= from_us`).
    pub from_us: Option<i64>,
    /// Only segments with an event at or before this time (`first_us <= to_us`).
    pub to_us: Option<i64>,
    /// Only segments after this one in the order: `(last_us, segment_id)` below it.
    pub below: Option<(i64, String)>,
    pub limit: usize,
}

/// What a line of the older encodings says of its event before the tab: the fields
/// LookupEvents filters on.
#[derive(Deserialize)]
struct LineFields {
    event_id: String,
    event_time: i64,
    account_id: Option<String>,
    event_source: String,
    event_name: String,
    read_only: bool,
    username: Option<String>,
    access_key_id: Option<String>,
    resources: Vec<EventResource>,
}

/// Strings and callers a segment writes once, in the order they first came.
type Table<T> = indexmap::IndexSet<T, foldhash::fast::RandomState>;

/// An identity in a segment's table, told apart from others by its table entry.
#[derive(Debug)]
struct TableIdentity(Arc<Identity>);

impl PartialEq for TableIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.0.entry() == other.0.entry()
    }
}

impl Eq for TableIdentity {}

impl std::hash::Hash for TableIdentity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.entry().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for TableIdentity {
    fn borrow(&self) -> &[u8] {
        self.0.entry()
    }
}

/// A segment being written as events come: each event's facts, and each distinct string
/// and caller once (module `facts`).
#[derive(Debug, Default)]
pub struct SegmentBuilder {
    strings: Table<Box<str>>,
    identities: Table<TableIdentity>,
    events: Vec<u8>,
    count: usize,
    /// The distinct (identity, event source, event name, read-only) of its events, and
    /// (identity, resource name) of the resources they name: its keys, once it is finished.
    kinds: foldhash::HashSet<(u32, u32, u32, bool)>,
    resources: foldhash::HashSet<(u32, u32)>,
    first_us: i64,
    last_us: i64,
}

impl SegmentBuilder {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether it holds [`MAX_SEGMENT_EVENTS`] events: the next one starts a new segment.
    pub fn is_full(&self) -> bool {
        self.len() >= MAX_SEGMENT_EVENTS
    }

    fn string(&mut self, s: &str) -> u32 {
        let index = match self.strings.get_index_of(s) {
            Some(index) => index,
            None => self.strings.insert_full(s.into()).0,
        };
        // A segment holds at most MAX_SEGMENT_EVENTS events, each with a few strings.
        index as u32
    }

    fn identity(&mut self, identity: &Arc<Identity>) -> u32 {
        let index = match self.identities.get_index_of(identity.entry()) {
            Some(index) => index,
            None => {
                self.identities
                    .insert_full(TableIdentity(identity.clone()))
                    .0
            }
        };
        index as u32
    }

    /// Adds the event of `draft`, finished with `error` (the AWS error code and message of
    /// a failure or denial) and `response` (its `responseElements`, redacted).
    pub fn push(
        &mut self,
        draft: &EventDraft,
        error: Option<(&str, &str)>,
        response: Option<&serde_json::Value>,
    ) {
        let at = draft.event_time.timestamp_micros();
        if self.is_empty() {
            (self.first_us, self.last_us) = (at, at);
            if self.events.capacity() == 0 {
                // Room for a full segment of events like this one, so that filling it does
                // not copy it over and over as it grows.
                self.events.reserve(MAX_SEGMENT_EVENTS * 128);
            }
        } else {
            self.first_us = self.first_us.min(at);
            self.last_us = self.last_us.max(at);
        }
        let identity = self.identity(&draft.identity);
        let event_source = self.string(&draft.event_source);
        let event_name = self.string(&draft.event_name);
        let region = self.string(&draft.aws_region);
        let user_agent = draft.user_agent.as_deref().map(|ua| self.string(ua));
        let error = error.map(|(code, message)| (self.string(code), message));
        let resources: Vec<(u32, u32)> = super::resources_of(&draft.request_parameters)
            .map(|(kind, name)| (self.string(kind), self.string(name)))
            .collect();
        let parameters = match &draft.request_parameters {
            serde_json::Value::Null => None,
            serde_json::Value::Object(map) if map.is_empty() => None,
            parameters => Some(parameters),
        };
        facts::EventEntry {
            event_id: &draft.event_id,
            time_us: at,
            identity,
            event_source,
            event_name,
            region,
            source_ip: draft.source_ip,
            user_agent,
            read_only: draft.read_only,
            request_id: &draft.request_id,
            parameters,
            response,
            error,
            resources: &resources,
        }
        .write(&mut self.events);
        self.count += 1;
        self.kinds
            .insert((identity, event_source, event_name, draft.read_only));
        for (_, name) in resources {
            self.resources.insert((identity, name));
        }
    }

    /// The segment before compression: its tables, then its events.
    fn plain(&self) -> Vec<u8> {
        let tables: usize = self.strings.iter().map(|s| s.len() + 2).sum::<usize>()
            + self
                .identities
                .iter()
                .map(|i| i.0.entry().len())
                .sum::<usize>();
        let mut plain = Vec::with_capacity(tables + 16 + self.events.len());
        facts::write_tables(
            &mut plain,
            self.strings.iter().map(|s| &**s),
            self.identities.iter().map(|i| i.0.entry()),
        );
        plain.extend_from_slice(&self.events);
        plain
    }

    /// Its events as they will read back: times and CloudTrail records, in the order they
    /// came (for the audit stream).
    pub fn records(&self) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(facts::decode(&self.plain())?
            .into_iter()
            .map(|event| (event.event_time.timestamp_micros(), event.record))
            .collect())
    }

    /// The segment, compressed, with its keys.
    pub fn finish(self) -> AuditSegment {
        let mut keys = BTreeSet::new();
        let strings = &self.strings;
        let mut key = |identity: u32, attribute: &'static str, value: &str| {
            // Events no account can look up are kept, under no key.
            if let Some(account_id) = &self.identities[identity as usize].0.account_id {
                keys.insert(SegmentKey {
                    account_id: account_id.clone(),
                    attribute,
                    value: value.to_owned(),
                });
            }
        };
        for &(identity, event_source, event_name, read_only) in &self.kinds {
            let caller = &self.identities[identity as usize].0;
            key(identity, ANY_ATTRIBUTE, "");
            key(identity, "EventName", &strings[event_name as usize]);
            key(identity, "EventSource", &strings[event_source as usize]);
            key(
                identity,
                "ReadOnly",
                if read_only { "true" } else { "false" },
            );
            if let Some(username) = &caller.username {
                key(identity, "Username", username);
            }
            if let Some(access_key_id) = &caller.access_key_id {
                key(identity, "AccessKeyId", access_key_id);
            }
        }
        for &(identity, name) in &self.resources {
            key(identity, "ResourceName", &strings[name as usize]);
        }
        AuditSegment {
            segment_id: super::time_ordered_id(self.first_us / 1000),
            first_us: self.first_us,
            last_us: self.last_us,
            event_count: self.len() as i64,
            encoding: SegmentEncoding::Lz4Facts,
            data: lz4_flex::block::compress_prepend_size(&self.plain()),
            keys: keys.into_iter().collect(),
        }
    }
}

/// A segment's events, as they were saved, each with its CloudTrail record.
pub fn decode(encoding: SegmentEncoding, data: &[u8]) -> Result<Vec<AuditEvent>, StoreError> {
    let damaged = |what: String| StoreError::Backend(format!("damaged audit segment: {what}"));
    let plain = match encoding {
        SegmentEncoding::Lines => return decode_lines(data),
        SegmentEncoding::Lz4Lines | SegmentEncoding::Lz4Facts => {
            let size = data
                .get(..4)
                .map(|prefix| u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]));
            if size.is_none_or(|size| size as usize > MAX_DECODED_BYTES) {
                return Err(damaged("its size is missing or too large".into()));
            }
            lz4_flex::block::decompress_size_prepended(data).map_err(|e| damaged(e.to_string()))?
        }
    };
    match encoding {
        SegmentEncoding::Lz4Facts => facts::decode(&plain),
        _ => decode_lines(&plain),
    }
}

/// Lines of the older encodings: the lookup fields as JSON, a tab, the rendered record.
fn decode_lines(lines: &[u8]) -> Result<Vec<AuditEvent>, StoreError> {
    let damaged = |what: String| StoreError::Backend(format!("damaged audit segment: {what}"));
    lines
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let tab = line
                .iter()
                .position(|byte| *byte == b'\t')
                .ok_or_else(|| damaged("a line without its record".into()))?;
            let fields: LineFields =
                serde_json::from_slice(&line[..tab]).map_err(|e| damaged(e.to_string()))?;
            let record = std::str::from_utf8(&line[tab + 1..])
                .map_err(|e| damaged(e.to_string()))?
                .to_owned();
            Ok(AuditEvent {
                event_id: fields.event_id,
                event_time: DateTime::from_timestamp_micros(fields.event_time)
                    .ok_or_else(|| damaged(format!("time {} out of range", fields.event_time)))?,
                account_id: fields.account_id,
                event_source: fields.event_source,
                event_name: fields.event_name,
                read_only: fields.read_only,
                username: fields.username,
                access_key_id: fields.access_key_id,
                resources: fields.resources,
                record,
            })
        })
        .collect()
}

/// The account's events that match the query, newest first (by time, then id), at most
/// `query.limit`.
pub fn lookup(store: &dyn Store, query: &EventQuery) -> Result<Vec<AuditEvent>, StoreError> {
    let (attribute, value): (&str, Cow<'_, str>) = match &query.attribute {
        None | Some(LookupAttribute::EventId(_)) => (ANY_ATTRIBUTE, "".into()),
        Some(LookupAttribute::Username(v)) => ("Username", v.into()),
        Some(LookupAttribute::EventName(v)) => ("EventName", v.into()),
        Some(LookupAttribute::AccessKeyId(v)) => ("AccessKeyId", v.into()),
        Some(LookupAttribute::ResourceName(v)) => ("ResourceName", v.into()),
        Some(LookupAttribute::EventSource(v)) => ("EventSource", v.into()),
        Some(LookupAttribute::ReadOnly(v)) => ("ReadOnly", v.to_string().into()),
    };
    let mut from_us = query.start.map(|t| t.timestamp_micros());
    let mut to_us = query.end.map(|t| t.timestamp_micros());
    if let Some((time, _)) = &query.after {
        to_us = Some(to_us.map_or(time.timestamp_micros(), |to| {
            to.min(time.timestamp_micros())
        }));
    }
    // An event id of ours names the millisecond of its event: only segments spanning it.
    if let Some(LookupAttribute::EventId(id)) = &query.attribute
        && let Some(millis) = id_millis(id)
    {
        from_us = Some(from_us.map_or(millis * 1000, |from| from.max(millis * 1000)));
        to_us = Some(to_us.map_or(millis * 1000 + 999, |to| to.min(millis * 1000 + 999)));
    }
    let mut found: Vec<AuditEvent> = Vec::new();
    let mut below = None;
    loop {
        let refs = store.audit_segment_refs(&SegmentQuery {
            account_id: &query.account_id,
            attribute,
            value: &value,
            from_us,
            to_us,
            below: below.clone(),
            limit: REFS_PER_READ,
        })?;
        for segment in &refs {
            // Segments come by their last event, newest first: once one ends before the
            // oldest event kept in a full page, none after it can add to the page.
            if found.len() >= query.limit
                && found
                    .last()
                    .is_some_and(|oldest| segment.last_us < oldest.event_time.timestamp_micros())
            {
                return Ok(found);
            }
            // A segment the retention deleted since the references were read has nothing.
            let Some((encoding, data)) = store.audit_segment_data(&segment.segment_id)? else {
                continue;
            };
            found.extend(
                decode(encoding, &data)?
                    .into_iter()
                    .filter(|event| matches(query, event)),
            );
            found.sort_by(|a, b| (b.event_time, &b.event_id).cmp(&(a.event_time, &a.event_id)));
            found.truncate(query.limit);
        }
        match refs.last() {
            Some(last) if refs.len() == REFS_PER_READ => {
                below = Some((last.last_us, last.segment_id.clone()));
            }
            _ => return Ok(found),
        }
    }
}

/// The millisecond a time-ordered (version 7) UUID was made in; `None` for any other id.
fn id_millis(id: &str) -> Option<i64> {
    let (seconds, nanos) = uuid::Uuid::parse_str(id).ok()?.get_timestamp()?.to_unix();
    i64::try_from(seconds)
        .ok()
        .map(|seconds| seconds * 1000 + i64::from(nanos / 1_000_000))
}

/// Whether an event of a segment the query read is one it asked for.
fn matches(query: &EventQuery, event: &AuditEvent) -> bool {
    if event.account_id.as_deref() != Some(query.account_id.as_str())
        || query.start.is_some_and(|start| event.event_time < start)
        || query.end.is_some_and(|end| event.event_time > end)
        || query.after.as_ref().is_some_and(|(time, id)| {
            (event.event_time, event.event_id.as_str()) >= (*time, id.as_str())
        })
    {
        return false;
    }
    match &query.attribute {
        None => true,
        Some(LookupAttribute::EventId(v)) => event.event_id == *v,
        Some(LookupAttribute::Username(v)) => event.username.as_ref() == Some(v),
        Some(LookupAttribute::EventName(v)) => event.event_name == *v,
        Some(LookupAttribute::AccessKeyId(v)) => event.access_key_id.as_ref() == Some(v),
        Some(LookupAttribute::ResourceName(v)) => {
            event.resources.iter().any(|resource| resource.name == *v)
        }
        Some(LookupAttribute::EventSource(v)) => event.event_source == *v,
        Some(LookupAttribute::ReadOnly(v)) => event.read_only == *v,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};

    use super::*;
    use crate::audit::{Identity, query_parameters};

    fn draft(n: i64, account: Option<&str>) -> EventDraft {
        let name = if n % 2 == 0 { "GetUser" } else { "CreateUser" };
        let user = format!("user-{n}");
        let mut draft = EventDraft::new(
            "iam.amazonaws.com",
            name,
            "us-east-1",
            Identity::unverified(Some("AKIAEXAMPLE"), account, Some("bob")),
            query_parameters([("UserName", user.as_str())]),
            &format!("request-{n}"),
            n % 2 == 0,
        )
        .at(Utc.timestamp_micros(1_700_000_000_000_000 + n).unwrap());
        draft.event_id = format!("e{n}");
        draft
    }

    fn built(drafts: &[EventDraft]) -> AuditSegment {
        let mut builder = SegmentBuilder::default();
        drafts.iter().for_each(|d| builder.push(d, None, None));
        builder.finish()
    }

    #[test]
    fn a_segment_gives_back_its_events_and_keys_them_once() {
        let mut drafts: Vec<_> = (0..5).map(|n| draft(n, Some("111111111111"))).collect();
        drafts.push(draft(5, None));
        let segment = built(&drafts);
        assert_eq!(segment.event_count, 6);
        assert_eq!(
            (segment.first_us, segment.last_us),
            (1_700_000_000_000_000, 1_700_000_000_000_005)
        );
        let events = decode(segment.encoding, &segment.data).unwrap();
        assert_eq!(events.len(), 6);
        for (n, event) in events.iter().enumerate() {
            assert_eq!(event.event_id, format!("e{n}"));
            assert_eq!(event.event_time, drafts[n].event_time);
            assert_eq!(event.event_name, drafts[n].event_name);
            assert_eq!(event.read_only, n % 2 == 0);
            assert_eq!(event.username.as_deref(), Some("bob"));
            assert_eq!(event.access_key_id.as_deref(), Some("AKIAEXAMPLE"));
            assert_eq!(
                event.resources,
                vec![EventResource {
                    resource_type: "AWS::IAM::User".into(),
                    name: format!("user-{n}"),
                }]
            );
            let record: Value = serde_json::from_str(&event.record).unwrap();
            assert_eq!(record["eventID"], event.event_id);
            assert_eq!(
                record["requestParameters"],
                json!({"userName": format!("user-{n}")})
            );
        }
        assert_eq!(events[5].account_id, None);
        let attributes: Vec<_> = segment
            .keys
            .iter()
            .map(|k| (k.attribute, k.value.as_str()))
            .collect();
        assert_eq!(
            attributes.iter().filter(|(a, _)| *a == "EventName").count(),
            2,
            "one key per distinct value: {attributes:?}"
        );
        assert!(attributes.contains(&("ResourceName", "user-4")));
        assert!(
            !attributes.contains(&("ResourceName", "user-5")),
            "no account, no key"
        );
        assert!(segment.keys.iter().all(|k| k.account_id == "111111111111"));
    }

    /// Every field of the record, rendered when read, as CloudTrail writes it.
    #[test]
    fn a_record_is_rendered_from_its_facts() {
        let mut failed = EventDraft::new(
            "iam.amazonaws.com",
            "ChangePassword",
            "eu-west-1",
            Identity::unverified(Some("AKIAEXAMPLE"), Some("111111111111"), Some("bob")),
            query_parameters([("OldPassword", "hunter2"), ("NewPassword", "hunter3")]),
            "request-1",
            false,
        )
        .at(Utc.timestamp_micros(1_700_000_000_123_456).unwrap())
        .from_client(
            Some("2001:db8::1".parse::<IpAddr>().unwrap()),
            Some("aws-cli/2.0".into()),
        );
        failed.event_id = "e1".into();
        let mut created = draft(2, Some("111111111111"));
        created.source_ip = Some("10.0.0.7".parse().unwrap());
        let mut builder = SegmentBuilder::default();
        builder.push(&failed, Some(("AccessDenied", "No \"way\".")), None);
        builder.push(
            &created,
            None,
            Some(&json!({"user": {"userName": "user-2"}})),
        );
        let segment = builder.finish();
        let events = decode(segment.encoding, &segment.data).unwrap();
        let records: Vec<Value> = events
            .iter()
            .map(|e| serde_json::from_str(&e.record).unwrap())
            .collect();
        assert_eq!(
            records[0],
            json!({
                "eventVersion": "1.08",
                "userIdentity": {
                    "type": "Unknown",
                    "accountId": "111111111111",
                    "accessKeyId": "AKIAEXAMPLE",
                    "userName": "bob",
                },
                "eventTime": "2023-11-14T22:13:20Z",
                "eventSource": "iam.amazonaws.com",
                "eventName": "ChangePassword",
                "awsRegion": "eu-west-1",
                "sourceIPAddress": "2001:db8::1",
                "userAgent": "aws-cli/2.0",
                "requestParameters": {
                    "oldPassword": crate::audit::HIDDEN,
                    "newPassword": crate::audit::HIDDEN,
                },
                "responseElements": null,
                "requestID": "request-1",
                "eventID": "e1",
                "readOnly": false,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": "111111111111",
                "eventCategory": "Management",
                "errorCode": "AccessDenied",
                "errorMessage": "No \"way\".",
            })
        );
        assert_eq!(records[1]["sourceIPAddress"], "10.0.0.7");
        assert_eq!(records[1]["userAgent"], Value::Null);
        assert_eq!(
            records[1]["responseElements"],
            json!({"user": {"userName": "user-2"}})
        );
        assert!(records[1].get("errorCode").is_none());
        assert_eq!(
            events[0].event_time.timestamp_micros(),
            1_700_000_000_123_456
        );
    }

    /// Segments saved before events were kept as facts still read back.
    #[test]
    fn segments_of_lines_still_read() {
        let line = concat!(
            r#"{"event_id":"old-1","event_time":1700000000000000,"account_id":"111111111111","#,
            r#""event_source":"iam.amazonaws.com","event_name":"GetUser","read_only":true,"#,
            r#""username":"bob","access_key_id":null,"resources":[]}"#,
            "\t",
            r#"{"eventID":"old-1"}"#,
            "\n"
        );
        for (encoding, data) in [
            (SegmentEncoding::Lines, line.as_bytes().to_vec()),
            (
                SegmentEncoding::Lz4Lines,
                lz4_flex::block::compress_prepend_size(line.as_bytes()),
            ),
        ] {
            let [event] = decode(encoding, &data).unwrap().try_into().unwrap();
            assert_eq!(event.event_id, "old-1");
            assert_eq!(event.username.as_deref(), Some("bob"));
            assert_eq!(event.record, r#"{"eventID":"old-1"}"#);
        }
    }

    #[test]
    fn damaged_data_is_an_error_not_a_panic() {
        let segment = built(&[draft(1, Some("111111111111"))]);
        let plain = lz4_flex::block::decompress_size_prepended(&segment.data).unwrap();
        for cut in 0..plain.len() {
            let data = lz4_flex::block::compress_prepend_size(&plain[..cut]);
            if let Ok(events) = decode(SegmentEncoding::Lz4Facts, &data) {
                assert!(events.is_empty(), "a cut at {cut} read an event");
            }
        }
        let mut wrong_index = plain.clone();
        // A string table said to be empty: the bytes after it are misread, and reading
        // them fails rather than panics.
        wrong_index[0] = 0;
        assert!(
            decode(
                SegmentEncoding::Lz4Facts,
                &lz4_flex::block::compress_prepend_size(&wrong_index)
            )
            .is_err()
        );
        for data in [
            &segment.data[..2],
            &segment.data[..segment.data.len() - 3],
            &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3][..],
        ] {
            assert!(decode(SegmentEncoding::Lz4Facts, data).is_err());
        }
        assert!(decode(SegmentEncoding::Lines, b"{not json}\t{}\n").is_err());
        assert!(decode(SegmentEncoding::Lines, b"{\"no\":\"tab\"}\n").is_err());
        assert!(SegmentEncoding::from_code(7).is_err());
    }
}
