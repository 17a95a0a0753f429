//! How audit events are kept: in segments (docs/design/audit-trail.md).
//!
//! A segment is a run of events saved together: the events of one flush (up to
//! [`MAX_SEGMENT_EVENTS`] each), or the one event of a write. Its events are lines,
//! compressed with LZ4, in one row: each line the fields LookupEvents filters on as a JSON
//! object, a tab, and the CloudTrail record as it was rendered (compact JSON has no raw tab
//! or line break, and the record is copied, not escaped into a string again); beside it, one key row for each account and each
//! distinct value LookupEvents can filter on (event name, user name, access key id, resource
//! name, event source, read-only), with the segment's time span. Saving ten thousand events
//! a second is then a few rows and a few hundred kilobytes a second rather than ten
//! thousand indexed rows, and a lookup reads only the segments whose keys match, newest
//! first, and filters their events exactly.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::{AuditEvent, EventQuery, EventResource, LookupAttribute};
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
    /// Plain lines: the events carried over from the one-row-per-event table.
    Lines,
    /// Lines compressed as one LZ4 block, its decompressed size first.
    Lz4Lines,
}

impl SegmentEncoding {
    pub fn code(self) -> i16 {
        match self {
            SegmentEncoding::Lines => 0,
            SegmentEncoding::Lz4Lines => 1,
        }
    }

    pub fn from_code(code: i16) -> Result<Self, StoreError> {
        match code {
            0 => Ok(SegmentEncoding::Lines),
            1 => Ok(SegmentEncoding::Lz4Lines),
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

/// What a line says of its event before the tab: the fields LookupEvents filters on,
/// borrowed from wherever the event is.
#[derive(Debug, Serialize)]
pub struct EventFields<'a> {
    pub event_id: &'a str,
    /// Microseconds since the Unix epoch.
    #[serde(rename = "event_time")]
    pub event_time_us: i64,
    pub account_id: Option<&'a str>,
    pub event_source: &'a str,
    pub event_name: &'a str,
    pub read_only: bool,
    pub username: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub resources: &'a [EventResource],
}

impl EventFields<'_> {
    /// Appends the event's line to `out`: these fields as JSON, a tab, the record that
    /// `record` writes, a line break. Returns where the record is in `out`.
    pub fn write_line(
        &self,
        out: &mut Vec<u8>,
        record: impl FnOnce(&mut Vec<u8>),
    ) -> std::ops::Range<usize> {
        // Strings, numbers and booleans: writing them to memory cannot fail.
        serde_json::to_writer(&mut *out, self).expect("an event's fields serialize");
        out.push(b'\t');
        let start = out.len();
        record(out);
        let end = out.len();
        out.push(b'\n');
        start..end
    }
}

/// [`EventFields`], read back.
#[derive(Deserialize)]
struct ReadFields {
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

/// A segment being written, one line at a time, as events come: nothing of an event is kept
/// but its line and, when new to the segment, its keys.
#[derive(Debug, Default)]
pub struct SegmentBuilder {
    lines: Vec<u8>,
    /// Each event's time and where its record is in `lines`, for the audit stream.
    records: Vec<(i64, std::ops::Range<usize>)>,
    /// account → attribute → values.
    keys: BTreeMap<String, BTreeMap<&'static str, BTreeSet<String>>>,
    first_us: i64,
    last_us: i64,
}

impl SegmentBuilder {
    /// A builder for `events` events whose records take about `bytes`.
    pub fn with_capacity(events: usize, bytes: usize) -> Self {
        SegmentBuilder {
            lines: Vec::with_capacity(bytes + events * 256),
            records: Vec::with_capacity(events),
            ..SegmentBuilder::default()
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether it holds [`MAX_SEGMENT_EVENTS`] events: the next one starts a new segment.
    pub fn is_full(&self) -> bool {
        self.len() >= MAX_SEGMENT_EVENTS
    }

    /// Adds an event whose line (from [`EventFields::write_line`]) is `line`, its record at
    /// `record` within it.
    pub fn push(&mut self, fields: &EventFields<'_>, line: &[u8], record: std::ops::Range<usize>) {
        let at = fields.event_time_us;
        if self.is_empty() {
            if self.lines.capacity() == 0 {
                // A segment filled as events come: room for a full one of events like this,
                // so that filling it does not copy it over and over as it grows.
                self.lines.reserve(MAX_SEGMENT_EVENTS * (line.len() + 64));
                self.records.reserve(MAX_SEGMENT_EVENTS);
            }
            (self.first_us, self.last_us) = (at, at);
        } else {
            self.first_us = self.first_us.min(at);
            self.last_us = self.last_us.max(at);
        }
        let offset = self.lines.len();
        self.lines.extend_from_slice(line);
        self.records
            .push((at, offset + record.start..offset + record.end));
        let Some(account) = fields.account_id else {
            // No account can look it up: it is kept, under no key.
            return;
        };
        let attributes = match self.keys.get_mut(account) {
            Some(attributes) => attributes,
            None => self.keys.entry(account.to_owned()).or_default(),
        };
        let mut key = |attribute: &'static str, value: &str| {
            let values = attributes.entry(attribute).or_default();
            if !values.contains(value) {
                values.insert(value.to_owned());
            }
        };
        key(ANY_ATTRIBUTE, "");
        key("EventName", fields.event_name);
        key("EventSource", fields.event_source);
        key("ReadOnly", if fields.read_only { "true" } else { "false" });
        if let Some(username) = fields.username {
            key("Username", username);
        }
        if let Some(access_key_id) = fields.access_key_id {
            key("AccessKeyId", access_key_id);
        }
        for resource in fields.resources {
            key("ResourceName", &resource.name);
        }
    }

    /// Adds a finished event.
    pub fn push_event(&mut self, event: &AuditEvent) {
        let fields = EventFields {
            event_id: &event.event_id,
            event_time_us: event.event_time.timestamp_micros(),
            account_id: event.account_id.as_deref(),
            event_source: &event.event_source,
            event_name: &event.event_name,
            read_only: event.read_only,
            username: event.username.as_deref(),
            access_key_id: event.access_key_id.as_deref(),
            resources: &event.resources,
        };
        let mut line = Vec::with_capacity(event.record.len() + 256);
        let record = fields.write_line(&mut line, |out| {
            out.extend_from_slice(event.record.as_bytes());
        });
        self.push(&fields, &line, record);
    }

    /// The records written so far, with their times, in the order they came.
    pub fn records(&self) -> impl Iterator<Item = (i64, &str)> {
        self.records.iter().map(|(at, range)| {
            // Every range is a record written whole from a `&str` or a JSON serializer.
            let record = std::str::from_utf8(&self.lines[range.clone()]).unwrap_or_default();
            (*at, record)
        })
    }

    /// The segment, compressed.
    pub fn finish(self) -> AuditSegment {
        AuditSegment {
            segment_id: super::time_ordered_id(self.first_us / 1000),
            first_us: self.first_us,
            last_us: self.last_us,
            event_count: self.len() as i64,
            encoding: SegmentEncoding::Lz4Lines,
            data: lz4_flex::block::compress_prepend_size(&self.lines),
            keys: self
                .keys
                .into_iter()
                .flat_map(|(account_id, attributes)| {
                    attributes.into_iter().flat_map(move |(attribute, values)| {
                        let account_id = account_id.clone();
                        values.into_iter().map(move |value| SegmentKey {
                            account_id: account_id.clone(),
                            attribute,
                            value,
                        })
                    })
                })
                .collect(),
        }
    }
}

/// The events as segments of at most [`MAX_SEGMENT_EVENTS`].
pub fn encode(events: &[AuditEvent]) -> Vec<AuditSegment> {
    events
        .chunks(MAX_SEGMENT_EVENTS)
        .map(|chunk| {
            let bytes = chunk.iter().map(|event| event.record.len()).sum();
            let mut builder = SegmentBuilder::with_capacity(chunk.len(), bytes);
            chunk.iter().for_each(|event| builder.push_event(event));
            builder.finish()
        })
        .collect()
}

/// A segment's events, as they were saved.
pub fn decode(encoding: SegmentEncoding, data: &[u8]) -> Result<Vec<AuditEvent>, StoreError> {
    let damaged = |what: String| StoreError::Backend(format!("damaged audit segment: {what}"));
    let lines = match encoding {
        SegmentEncoding::Lines => Cow::Borrowed(data),
        SegmentEncoding::Lz4Lines => {
            let size = data
                .get(..4)
                .map(|prefix| u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]));
            if size.is_none_or(|size| size as usize > MAX_DECODED_BYTES) {
                return Err(damaged("its size is missing or too large".into()));
            }
            Cow::Owned(
                lz4_flex::block::decompress_size_prepended(data)
                    .map_err(|e| damaged(e.to_string()))?,
            )
        }
    };
    lines
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let tab = line
                .iter()
                .position(|byte| *byte == b'\t')
                .ok_or_else(|| damaged("a line without its record".into()))?;
            let fields: ReadFields =
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
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::audit::EventResource;

    fn event(n: i64, account: Option<&str>) -> AuditEvent {
        AuditEvent {
            event_id: format!("e{n}"),
            event_time: Utc.timestamp_micros(1_700_000_000_000_000 + n).unwrap(),
            account_id: account.map(str::to_owned),
            event_source: "iam.amazonaws.com".into(),
            event_name: if n % 2 == 0 { "GetUser" } else { "CreateUser" }.into(),
            read_only: n % 2 == 0,
            username: Some("bob".into()),
            access_key_id: None,
            resources: vec![EventResource {
                resource_type: "AWS::IAM::User".into(),
                name: format!("user-{n}"),
            }],
            record: format!("{{\"eventID\":\"e{n}\",\"note\":\"line\\nbreak\"}}"),
        }
    }

    #[test]
    fn a_segment_gives_back_its_events_and_keys_them_once() {
        let events: Vec<_> = (0..5).map(|n| event(n, Some("111111111111"))).collect();
        let mut with_unknown = events.clone();
        with_unknown.push(event(5, None));
        let [segment] = encode(&with_unknown).try_into().unwrap();
        assert_eq!(segment.event_count, 6);
        assert_eq!(
            (segment.first_us, segment.last_us),
            (1_700_000_000_000_000, 1_700_000_000_000_005)
        );
        assert_eq!(
            decode(segment.encoding, &segment.data).unwrap(),
            with_unknown
        );
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

    #[test]
    fn a_large_flush_is_cut_into_segments() {
        let events: Vec<_> = (0..(MAX_SEGMENT_EVENTS as i64 * 2 + 1))
            .map(|n| event(n, Some("111111111111")))
            .collect();
        let segments = encode(&events);
        assert_eq!(
            segments.iter().map(|s| s.event_count).collect::<Vec<_>>(),
            vec![1024, 1024, 1]
        );
        assert_ne!(segments[0].segment_id, segments[1].segment_id);
    }

    #[test]
    fn damaged_data_is_an_error_not_a_panic() {
        let [segment] = encode(&[event(1, Some("111111111111"))])
            .try_into()
            .unwrap();
        for data in [
            &segment.data[..2],
            &segment.data[..segment.data.len() - 3],
            &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3][..],
        ] {
            assert!(decode(SegmentEncoding::Lz4Lines, data).is_err());
        }
        assert!(decode(SegmentEncoding::Lines, b"{not json}\t{}\n").is_err());
        assert!(decode(SegmentEncoding::Lines, b"{\"no\":\"tab\"}\n").is_err());
        assert!(SegmentEncoding::from_code(7).is_err());
    }
}
