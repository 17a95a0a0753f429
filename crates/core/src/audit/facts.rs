//! An event as a segment keeps it (docs/design/audit-trail.md): its facts, in a compact
//! binary form, rendered as the CloudTrail record only when it is read.
//!
//! A segment's events mostly repeat a few callers, services and clients, so a segment writes
//! each distinct string (service, operation, region, user agent, error code, resource name)
//! and each distinct caller (its `userIdentity`, rendered once per access key and snapshot)
//! once, in a table ahead of its events, and an event names them by their place in it. An
//! event is then about a hundred bytes written with no JSON at all when it has no parameters
//! (GetCallerIdentity, most reads), where its record is a kilobyte; and an event nobody looks
//! up is never rendered.
//!
//! A segment, before compression:
//!
//! ```text
//! strings      count, then each: length, UTF-8
//! identities   count, then each: account, user name, access key id (optional strings),
//!              the userIdentity JSON (string)
//! events       to the end, each:
//!   event id (string), time (i64 microseconds, little-endian), identity (index),
//!   event source, event name, region (string indexes), source address (0 | 4 + 4 bytes
//!   | 6 + 16 bytes), user agent (0 or string index + 1), flags (read-only, parameters,
//!   response, error), request id (string), [parameters JSON], [response JSON],
//!   [error code (string index), error message (string)], resource count, then each:
//!   resource type, resource name (string indexes)
//! ```
//!
//! Counts, lengths and indexes are unsigned LEB128; a JSON document's length is four bytes,
//! little-endian, ahead of it (filled in once the document is written in place).

use std::net::IpAddr;

use chrono::DateTime;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{AuditEvent, EventResource};
use crate::store::StoreError;

const READ_ONLY: u8 = 1;
const PARAMETERS: u8 = 2;
const RESPONSE: u8 = 4;
const ERROR: u8 = 8;

pub(crate) fn put_var(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_var(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// `None` is a zero length; a string is its length plus one, then its bytes.
pub(crate) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => put_var(out, 0),
        Some(s) => {
            put_var(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Writes `value` as compact JSON in place, its length in four bytes ahead of it.
fn put_json(out: &mut Vec<u8>, value: &serde_json::Value) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    // A JSON value written to memory cannot fail.
    serde_json::to_writer(&mut *out, value).expect("a JSON value serializes");
    let length = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&length.to_le_bytes());
}

fn put_ip(out: &mut Vec<u8>, ip: Option<IpAddr>) {
    match ip {
        None => out.push(0),
        Some(IpAddr::V4(v4)) => {
            out.push(4);
            out.extend_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            out.push(6);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// An event's facts, with its strings and identity already given their indexes.
pub(crate) struct EventEntry<'a> {
    pub event_id: &'a str,
    pub time_us: i64,
    pub identity: u32,
    pub event_source: u32,
    pub event_name: u32,
    pub region: u32,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<u32>,
    pub read_only: bool,
    pub request_id: &'a str,
    /// `None` when the call had none (the record's `null`).
    pub parameters: Option<&'a serde_json::Value>,
    pub response: Option<&'a serde_json::Value>,
    /// The error code's index and the message.
    pub error: Option<(u32, &'a str)>,
    /// Each resource's type and name indexes.
    pub resources: &'a [(u32, u32)],
}

impl EventEntry<'_> {
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        put_str(out, self.event_id);
        out.extend_from_slice(&self.time_us.to_le_bytes());
        put_var(out, self.identity.into());
        put_var(out, self.event_source.into());
        put_var(out, self.event_name.into());
        put_var(out, self.region.into());
        put_ip(out, self.source_ip);
        put_var(out, self.user_agent.map_or(0, |i| u64::from(i) + 1));
        let mut flags = 0;
        for (set, flag) in [
            (self.read_only, READ_ONLY),
            (self.parameters.is_some(), PARAMETERS),
            (self.response.is_some(), RESPONSE),
            (self.error.is_some(), ERROR),
        ] {
            if set {
                flags |= flag;
            }
        }
        out.push(flags);
        put_str(out, self.request_id);
        if let Some(parameters) = self.parameters {
            put_json(out, parameters);
        }
        if let Some(response) = self.response {
            put_json(out, response);
        }
        if let Some((code, message)) = self.error {
            put_var(out, code.into());
            put_str(out, message);
        }
        put_var(out, self.resources.len() as u64);
        for (kind, name) in self.resources {
            put_var(out, (*kind).into());
            put_var(out, (*name).into());
        }
    }
}

fn damaged(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("damaged audit segment: {what}"))
}

/// Reads what the writers above wrote, checking every length and index against the data.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if n > self.data.len() {
            return Err(damaged("it ends inside an event"));
        }
        let (taken, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        Ok(self.bytes(1)?[0])
    }

    fn var(&mut self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(damaged("a number is too long"))
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        usize::try_from(self.var()?).map_err(|_| damaged("a length is too large"))
    }

    fn str(&mut self) -> Result<&'a str, StoreError> {
        let n = self.len()?;
        let bytes = self.bytes(n)?;
        std::str::from_utf8(bytes).map_err(damaged)
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>, StoreError> {
        match self.len()? {
            0 => Ok(None),
            n => {
                let bytes = self.bytes(n - 1)?;
                std::str::from_utf8(bytes).map(Some).map_err(damaged)
            }
        }
    }

    fn json(&mut self) -> Result<&'a RawValue, StoreError> {
        let length = self.bytes(4)?;
        let n = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let text = std::str::from_utf8(self.bytes(n)?).map_err(damaged)?;
        serde_json::from_str(text).map_err(damaged)
    }

    /// A count of entries that take a byte at least: one past the data's length is damage,
    /// and must not size an allocation.
    fn count(&mut self) -> Result<usize, StoreError> {
        let n = self.len()?;
        if n > self.data.len() {
            return Err(damaged("a count is larger than the segment"));
        }
        Ok(n)
    }

    fn index<T: Copy>(&mut self, table: &[T]) -> Result<T, StoreError> {
        let i = self.len()?;
        table
            .get(i)
            .copied()
            .ok_or_else(|| damaged(format!("index {i} is past its table")))
    }

    fn ip(&mut self) -> Result<Option<IpAddr>, StoreError> {
        match self.byte()? {
            0 => Ok(None),
            4 => {
                let b = self.bytes(4)?;
                Ok(Some(IpAddr::from([b[0], b[1], b[2], b[3]])))
            }
            6 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(self.bytes(16)?);
                Ok(Some(IpAddr::from(octets)))
            }
            other => Err(damaged(format!("address kind {other}"))),
        }
    }
}

/// A caller as a segment's table has it.
#[derive(Clone, Copy)]
struct TableIdentity<'a> {
    account_id: Option<&'a str>,
    username: Option<&'a str>,
    access_key_id: Option<&'a str>,
    user_identity: &'a RawValue,
}

/// Writes an identity's table entry.
pub(crate) fn identity_entry(
    account_id: Option<&str>,
    username: Option<&str>,
    access_key_id: Option<&str>,
    user_identity: &str,
) -> Box<[u8]> {
    let mut out = Vec::with_capacity(user_identity.len() + 64);
    put_opt_str(&mut out, account_id);
    put_opt_str(&mut out, username);
    put_opt_str(&mut out, access_key_id);
    put_str(&mut out, user_identity);
    out.into_boxed_slice()
}

/// Writes a segment's tables ahead of its events.
pub(crate) fn write_tables<'a>(
    out: &mut Vec<u8>,
    strings: impl ExactSizeIterator<Item = &'a str>,
    identities: impl ExactSizeIterator<Item = &'a [u8]>,
) {
    put_var(out, strings.len() as u64);
    for s in strings {
        put_str(out, s);
    }
    put_var(out, identities.len() as u64);
    for entry in identities {
        out.extend_from_slice(entry);
    }
}

/// A segment's events (its plain bytes), each rendered as its CloudTrail record.
pub(crate) fn decode(plain: &[u8]) -> Result<Vec<AuditEvent>, StoreError> {
    let mut reader = Reader { data: plain };
    let strings = (0..reader.count()?)
        .map(|_| reader.str())
        .collect::<Result<Vec<_>, _>>()?;
    let identities = (0..reader.count()?)
        .map(|_| {
            Ok(TableIdentity {
                account_id: reader.opt_str()?,
                username: reader.opt_str()?,
                access_key_id: reader.opt_str()?,
                user_identity: serde_json::from_str(reader.str()?).map_err(damaged)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut events = Vec::new();
    while !reader.is_empty() {
        events.push(read_event(&mut reader, &strings, &identities)?);
    }
    Ok(events)
}

fn read_event(
    reader: &mut Reader<'_>,
    strings: &[&str],
    identities: &[TableIdentity<'_>],
) -> Result<AuditEvent, StoreError> {
    let event_id = reader.str()?;
    let time = reader.bytes(8)?;
    let time_us = i64::from_le_bytes(time.try_into().map_err(damaged)?);
    let event_time = DateTime::from_timestamp_micros(time_us)
        .ok_or_else(|| damaged(format!("time {time_us} out of range")))?;
    let identity = reader.index(identities)?;
    let event_source = reader.index(strings)?;
    let event_name = reader.index(strings)?;
    let region = reader.index(strings)?;
    let source_ip = reader.ip()?;
    let user_agent = match reader.len()? {
        0 => None,
        i => Some(
            *strings
                .get(i - 1)
                .ok_or_else(|| damaged("a user agent past the table"))?,
        ),
    };
    let flags = reader.byte()?;
    let request_id = reader.str()?;
    let parameters = if flags & PARAMETERS != 0 {
        Some(reader.json()?)
    } else {
        None
    };
    let response = if flags & RESPONSE != 0 {
        Some(reader.json()?)
    } else {
        None
    };
    let error = if flags & ERROR != 0 {
        Some((reader.index(strings)?, reader.str()?))
    } else {
        None
    };
    let resources = (0..reader.count()?)
        .map(|_| {
            Ok(EventResource {
                resource_type: reader.index(strings)?.to_owned(),
                name: reader.index(strings)?.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let read_only = flags & READ_ONLY != 0;
    let record = Record {
        event_version: "1.08",
        user_identity: identity.user_identity,
        event_time: super::timestamp(&event_time),
        event_source,
        event_name,
        aws_region: region,
        source_ip_address: source_ip.map(|ip| ip.to_string()),
        user_agent,
        request_parameters: parameters,
        response_elements: response,
        request_id,
        event_id,
        read_only,
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: identity.account_id,
        event_category: "Management",
        error_code: error.map(|(code, _)| code),
        error_message: error.map(|(_, message)| message),
    };
    Ok(AuditEvent {
        event_id: event_id.to_owned(),
        event_time,
        account_id: identity.account_id.map(str::to_owned),
        event_source: event_source.to_owned(),
        event_name: event_name.to_owned(),
        read_only,
        username: identity.username.map(str::to_owned),
        access_key_id: identity.access_key_id.map(str::to_owned),
        resources,
        record: serde_json::to_string(&record).map_err(damaged)?,
    })
}

/// A CloudTrail record (eventVersion 1.08).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: &'a RawValue,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<String>,
    user_agent: Option<&'a str>,
    request_parameters: Option<&'a RawValue>,
    response_elements: Option<&'a RawValue>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: Option<&'a str>,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
}
