//! CloudTrail's LookupEvents (awsJson1_1): the audit trail of the caller's account
//! (docs/design/audit-trail.md).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use latchkey_core::audit::{AuditEvent, EventQuery, LookupAttribute};
use latchkey_core::{Directory, ErrorCode, IamError};
use serde_json::{Value, json};

use super::base_context;
use crate::auth::Caller;
use crate::operation::Operation;

/// LookupEvents' page size when MaxResults is not given, and its largest.
const MAX_RESULTS: u64 = 50;

/// Runs a CloudTrail operation: events of the caller's own account only.
pub fn execute(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &Value,
) -> Result<Value, IamError> {
    let state = directory.snapshot();
    directory.authorize(
        &state,
        &caller.principal,
        op.action(),
        "*",
        &base_context(caller),
        caller.at,
    )?;
    drop(state);
    match op {
        Operation::LookupEvents => lookup_events(directory, caller, input),
        other => Err(IamError::new(
            ErrorCode::InvalidAction,
            format!("Operation {} is not supported.", other.name()),
        )),
    }
}

fn lookup_events(directory: &Directory, caller: &Caller, input: &Value) -> Result<Value, IamError> {
    let limit = match input.get("MaxResults") {
        None | Some(Value::Null) => MAX_RESULTS,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=MAX_RESULTS).contains(n))
            .ok_or_else(|| {
                IamError::new(
                    ErrorCode::InvalidMaxResults,
                    "MaxResults must be between 1 and 50.",
                )
            })?,
    };
    let start = time(input, "StartTime")?;
    let end = time(input, "EndTime")?;
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return Err(IamError::new(
            ErrorCode::InvalidTimeRange,
            "Start time must not be after end time.",
        ));
    }
    let after = match input.get("NextToken").and_then(Value::as_str) {
        None => None,
        Some(token) => Some(parse_token(token)?),
    };
    let query = EventQuery {
        account_id: caller.principal.account_id().to_owned(),
        attribute: lookup_attribute(input)?,
        start,
        end,
        after,
        // One more than the page, to tell whether another page follows.
        limit: limit as usize + 1,
    };
    let mut events = directory.lookup_events(&query)?;
    let next_token = if events.len() > limit as usize {
        events.truncate(limit as usize);
        events.last().map(token)
    } else {
        None
    };
    let mut output = json!({ "Events": events.iter().map(event_json).collect::<Vec<_>>() });
    if let Some(next_token) = next_token {
        output["NextToken"] = next_token.into();
    }
    Ok(output)
}

fn lookup_attribute(input: &Value) -> Result<Option<LookupAttribute>, IamError> {
    let invalid = |message: &str| IamError::new(ErrorCode::InvalidLookupAttributes, message);
    let attributes = match input.get("LookupAttributes") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(attributes)) => attributes,
        Some(_) => return Err(invalid("LookupAttributes must be a list.")),
    };
    let attribute = match attributes.as_slice() {
        [] => return Ok(None),
        [attribute] => attribute,
        _ => return Err(invalid("You can specify only one lookup attribute.")),
    };
    let key = attribute.get("AttributeKey").and_then(Value::as_str);
    let value = attribute
        .get("AttributeValue")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty() && v.len() <= 2000)
        .ok_or_else(|| invalid("AttributeValue must be 1 to 2000 characters."))?
        .to_owned();
    Ok(Some(match key {
        Some("EventId") => LookupAttribute::EventId(value),
        Some("EventName") => LookupAttribute::EventName(value),
        Some("Username") => LookupAttribute::Username(value),
        Some("AccessKeyId") => LookupAttribute::AccessKeyId(value),
        Some("ResourceName") => LookupAttribute::ResourceName(value),
        Some("EventSource") => LookupAttribute::EventSource(value),
        Some("ReadOnly") => match value.as_str() {
            "true" => LookupAttribute::ReadOnly(true),
            "false" => LookupAttribute::ReadOnly(false),
            _ => return Err(invalid("ReadOnly must be true or false.")),
        },
        Some("ResourceType") => {
            return Err(invalid(
                "Lookup by ResourceType is not supported by this server.",
            ));
        }
        _ => return Err(invalid("AttributeKey is not a valid lookup attribute.")),
    }))
}

/// An awsJson timestamp: seconds since the epoch, possibly with a fraction.
fn time(input: &Value, name: &str) -> Result<Option<DateTime<Utc>>, IamError> {
    let Some(value) = input.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    value
        .as_f64()
        .and_then(|seconds| DateTime::from_timestamp_micros((seconds * 1e6) as i64))
        .map(Some)
        .ok_or_else(|| {
            IamError::new(
                ErrorCode::SerializationException,
                format!("{name} must be a timestamp."),
            )
        })
}

/// The next page starts after this event: its time and id, opaque to the client.
fn token(event: &AuditEvent) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        event.event_time.timestamp_micros(),
        event.event_id
    ))
}

fn parse_token(token: &str) -> Result<(DateTime<Utc>, String), IamError> {
    let invalid = || IamError::new(ErrorCode::InvalidNextToken, "The NextToken is not valid.");
    let text = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    Ok((at, id.to_owned()))
}

fn event_json(event: &AuditEvent) -> Value {
    let mut output = json!({
        "EventId": event.event_id,
        "EventName": event.event_name,
        "ReadOnly": event.read_only.to_string(),
        "EventTime": event.event_time.timestamp_micros() as f64 / 1e6,
        "EventSource": event.event_source,
        "Resources": event.resources.iter().map(|r| json!({
            "ResourceType": r.resource_type,
            "ResourceName": r.name,
        })).collect::<Vec<_>>(),
        "CloudTrailEvent": event.record,
    });
    if let Some(key) = &event.access_key_id {
        output["AccessKeyId"] = key.as_str().into();
    }
    if let Some(name) = &event.username {
        output["Username"] = name.as_str().into();
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_the_event_a_page_ended_with_and_nothing_else_passes() {
        let event = AuditEvent {
            event_id: "9b6e".into(),
            event_time: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            account_id: None,
            event_source: "iam.amazonaws.com".into(),
            event_name: "GetUser".into(),
            read_only: true,
            username: None,
            access_key_id: None,
            resources: vec![],
            record: "{}".into(),
        };
        assert_eq!(
            parse_token(&token(&event)).unwrap(),
            (event.event_time, "9b6e".to_owned())
        );
        for bad in ["", "!!", "bm9jb2xvbg", "YWJjOmRlZg"] {
            assert_eq!(
                parse_token(bad).unwrap_err().code,
                ErrorCode::InvalidNextToken
            );
        }
    }
}
