//! The audit trail: one CloudTrail-shaped event for every call (docs/design/audit-trail.md).
//!
//! The server opens an audit scope around each operation ([`scoped`]) with the event's
//! draft: who, from where, what was asked. A write the operation makes
//! ([`crate::Directory`]'s `write_or`) takes the draft and commits its event in the same
//! transaction as its changes, so a change never exists without its event. A call that wrote
//! nothing (a read, a denial, a failure) gets its event back from the scope, and the server
//! hands it to [`crate::Directory::record_event`], which buffers it in memory for the
//! background flush: the request path makes no database round trip for it.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::model::Principal;

mod facts;
pub mod response;
pub mod segment;

/// What CloudTrail writes in place of a secret.
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// How long events are kept when the configuration does not say.
pub const DEFAULT_RETENTION: chrono::Duration = chrono::Duration::days(90);

/// How many events may wait in memory for the background flush; past it, new events that
/// wrote nothing are dropped (and counted) rather than let memory grow without bound.
pub const MAX_PENDING_EVENTS: usize = 100_000;

/// Request and response fields whose values never reach the trail, compared ignoring case
/// (`Password` of the query protocol is `password` in the record).
const SECRET_FIELDS: &[&str] = &[
    "password",
    "oldpassword",
    "newpassword",
    "secretaccesskey",
    "sessiontoken",
    "authenticationcode1",
    "authenticationcode2",
    "base32stringseed",
    "qrcodepng",
    "clientsecret",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "devicecode",
    "code",
    "codeverifier",
    "token",
    "tokencode",
    "samlassertion",
    "webidentitytoken",
    "bearertoken",
];

/// Replaces every secret field's value, at any depth, with [`HIDDEN`].
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if SECRET_FIELDS
                    .iter()
                    .any(|secret| key.eq_ignore_ascii_case(secret))
                {
                    *field = Value::from(HIDDEN);
                } else {
                    redact(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// A resource an event names, for LookupEvents' `ResourceName` and `Resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResource {
    pub resource_type: String,
    pub name: String,
}

/// A stored event: the CloudTrail record and the fields LookupEvents filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// A UUID (version 7), as CloudTrail's eventID.
    pub event_id: String,
    /// Kept to the microsecond, as the stores compare times.
    pub event_time: DateTime<Utc>,
    /// The account the event belongs to; `None` when the caller could not be told (a request
    /// signed with an unknown key): such events are kept, but no account can look them up.
    pub account_id: Option<String>,
    pub event_source: String,
    pub event_name: String,
    pub read_only: bool,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub resources: Vec<EventResource>,
    /// The CloudTrail record, as JSON, with every secret redacted.
    pub record: String,
}

/// Who made a call, as CloudTrail's `userIdentity` tells it. Made once per caller and
/// snapshot where it can be (an access key's is kept with the key), and written once per
/// segment however many of its calls the segment holds.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account_id: Option<String>,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    /// The `userIdentity` object, as compact JSON.
    pub user_identity: String,
    /// All of it as a segment's table keeps it (also what tells identities apart there).
    entry: Box<[u8]>,
}

/// CloudTrail's `userIdentity`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<Value>,
}

impl Identity {
    fn new(
        account_id: Option<String>,
        username: Option<String>,
        access_key_id: Option<String>,
        record: &UserIdentity,
    ) -> Self {
        // Strings and JSON values: serializing them to memory cannot fail.
        let user_identity = serde_json::to_string(record).expect("a userIdentity serializes");
        let entry = facts::identity_entry(
            account_id.as_deref(),
            username.as_deref(),
            access_key_id.as_deref(),
            &user_identity,
        );
        Identity {
            account_id,
            username,
            access_key_id,
            user_identity,
            entry,
        }
    }

    /// Its entry in a segment's table of identities.
    pub(crate) fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// The identity of a verified principal and the access key it signed with.
    pub fn of(principal: &Principal, access_key_id: &str) -> Self {
        let account_id = principal.account_id().to_owned();
        let mut record = UserIdentity {
            principal_id: Some(principal.user_id().to_owned()),
            arn: Some(principal.arn()),
            account_id: Some(account_id.clone()),
            access_key_id: Some(access_key_id.to_owned()),
            ..UserIdentity::default()
        };
        let username = match principal {
            Principal::Root { .. } => {
                record.kind = "Root";
                None
            }
            Principal::User(user) => {
                record.kind = "IAMUser";
                record.user_name = Some(user.name.clone());
                Some(user.name.clone())
            }
            Principal::UserSession { user, session } => {
                record.kind = "IAMUser";
                record.user_name = Some(user.name.clone());
                record.session_context = Some(session_context(session, None));
                Some(user.name.clone())
            }
            Principal::RoleSession { role, session } => {
                record.kind = "AssumedRole";
                let issuer = json!({
                    "type": "Role",
                    "principalId": role.id,
                    "arn": role.arn(),
                    "accountId": role.account_id,
                    "userName": role.name,
                });
                record.session_context = Some(session_context(session, Some(issuer)));
                session.session_name.clone()
            }
            Principal::FederatedSession { user, session } => {
                record.kind = "FederatedUser";
                let issuer = json!({
                    "type": "IAMUser",
                    "principalId": user.id,
                    "arn": user.arn(),
                    "accountId": user.account_id,
                    "userName": user.name,
                });
                record.session_context = Some(session_context(session, Some(issuer)));
                session.federated_name.clone()
            }
        };
        Identity::new(
            Some(account_id),
            username,
            Some(access_key_id.to_owned()),
            &record,
        )
    }

    /// A caller that did not prove who it is: only the key id it presented, and the account
    /// and user name when the key exists.
    pub fn unverified(
        access_key_id: Option<&str>,
        account_id: Option<&str>,
        username: Option<&str>,
    ) -> Self {
        Identity::new(
            account_id.map(str::to_owned),
            username.map(str::to_owned),
            access_key_id.map(str::to_owned),
            &UserIdentity {
                kind: "Unknown",
                account_id: account_id.map(str::to_owned),
                access_key_id: access_key_id.map(str::to_owned),
                user_name: username.map(str::to_owned),
                ..UserIdentity::default()
            },
        )
    }

    /// A person of the identity store acting through the access portal or SSO OIDC.
    pub fn identity_center_user(account_id: &str, user_id: &str, user_name: &str) -> Self {
        Identity::new(
            Some(account_id.to_owned()),
            Some(user_name.to_owned()),
            None,
            &UserIdentity {
                kind: "IdentityCenterUser",
                account_id: Some(account_id.to_owned()),
                principal_id: Some(user_id.to_owned()),
                user_name: Some(user_name.to_owned()),
                ..UserIdentity::default()
            },
        )
    }
}

fn session_context(session: &crate::model::Session, issuer: Option<Value>) -> Value {
    let mut context = json!({
        "attributes": {
            "creationDate": timestamp(&session.issued),
            "mfaAuthenticated": session.mfa_authenticated.is_some().to_string(),
        }
    });
    if let Some(issuer) = issuer {
        context["sessionIssuer"] = issuer;
    }
    if let Some(source) = &session.source_identity {
        context["sourceIdentity"] = source.clone().into();
    }
    context
}

pub(crate) fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An event before the call's outcome is known: the facts its record is rendered from when
/// it is read.
#[derive(Debug, Clone)]
pub struct EventDraft {
    /// A UUID (version 7) of the event's time, as CloudTrail's eventID.
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    /// `iam.amazonaws.com`, `sts.amazonaws.com`, ...
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub identity: Arc<Identity>,
    /// Redacted by [`EventDraft::new`].
    pub request_parameters: Value,
    pub request_id: String,
    pub read_only: bool,
}

impl EventDraft {
    /// A draft with the request parameters redacted and everything else as given.
    pub fn new(
        event_source: &str,
        event_name: &str,
        aws_region: &str,
        identity: impl Into<Arc<Identity>>,
        mut request_parameters: Value,
        request_id: &str,
        read_only: bool,
    ) -> Self {
        redact(&mut request_parameters);
        let event_time = Utc::now().trunc_subsecs(6);
        EventDraft {
            event_id: time_ordered_id(event_time.timestamp_millis()),
            event_time,
            event_source: event_source.to_owned(),
            event_name: event_name.to_owned(),
            aws_region: aws_region.to_owned(),
            source_ip: None,
            user_agent: None,
            identity: identity.into(),
            request_parameters,
            request_id: request_id.to_owned(),
            read_only,
        }
    }

    /// When the call arrived (the draft's creation, unless told).
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.event_time = at.trunc_subsecs(6);
        self.event_id = time_ordered_id(self.event_time.timestamp_millis());
        self
    }

    /// The request's origin as the transport saw it.
    pub fn from_client(mut self, source_ip: Option<IpAddr>, user_agent: Option<String>) -> Self {
        self.source_ip = source_ip;
        self.user_agent = user_agent;
        self
    }
}

/// A UUID of version 7 made at `millis` since the Unix epoch: its first bits are that time,
/// so LookupEvents finds an event by its id among the segments of that millisecond.
pub(crate) fn time_ordered_id(millis: i64) -> String {
    let mut random = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
    let millis = u64::try_from(millis).unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

/// The resources a call's parameters name, by the parameter that names them: their types
/// and names.
fn resources_of(parameters: &Value) -> impl Iterator<Item = (&'static str, &str)> {
    const NAMING: &[(&str, &str)] = &[
        ("userName", "AWS::IAM::User"),
        ("groupName", "AWS::IAM::Group"),
        ("roleName", "AWS::IAM::Role"),
        ("policyArn", "AWS::IAM::Policy"),
        ("policyName", "AWS::IAM::Policy"),
        ("accessKeyId", "AWS::IAM::AccessKey"),
        ("serialNumber", "AWS::IAM::MFADevice"),
        ("virtualMFADeviceName", "AWS::IAM::MFADevice"),
        ("roleArn", "AWS::IAM::Role"),
        ("UserId", "AWS::IdentityStore::User"),
        ("GroupId", "AWS::IdentityStore::Group"),
        ("UserName", "AWS::IdentityStore::User"),
        ("PermissionSetArn", "AWS::SSO::PermissionSet"),
        ("AccountId", "AWS::Organizations::Account"),
        (
            "OrganizationalUnitId",
            "AWS::Organizations::OrganizationalUnit",
        ),
    ];
    let map = match parameters {
        Value::Object(map) if !map.is_empty() => Some(map),
        _ => None,
    };
    map.into_iter().flat_map(|map| {
        NAMING.iter().filter_map(|(field, resource_type)| {
            map.get(*field)
                .and_then(Value::as_str)
                .map(|name| (*resource_type, name))
        })
    })
}

/// Query-protocol parameters as CloudTrail shows them: names in lowerCamelCase, without
/// `Action`, `Version` and a presigned URL's signature parameters (`X-Amz-*`, among them
/// the session token).
pub fn query_parameters<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let mut map = Map::new();
    for (name, value) in pairs {
        if name == "Action"
            || name == "Version"
            || name.len() >= 6 && name[..6].eq_ignore_ascii_case("x-amz-")
        {
            continue;
        }
        let mut chars = name.chars();
        let camel = match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect::<String>(),
            None => continue,
        };
        map.insert(camel, Value::from(value));
    }
    Value::Object(map)
}

thread_local! {
    /// The draft of the call the current thread is serving, until a write takes it.
    static SCOPE: RefCell<Option<EventDraft>> = const { RefCell::new(None) };
}

/// Runs `call` with `draft` as the current call's event. Returns the call's result and the
/// draft back unless a write committed its event.
pub fn scoped<T>(draft: EventDraft, call: impl FnOnce() -> T) -> (T, Option<EventDraft>) {
    let outer = SCOPE.with(|scope| scope.replace(Some(draft)));
    let result = call();
    let draft = SCOPE.with(|scope| scope.replace(outer));
    (result, draft)
}

/// The event a write about to commit must carry, as the segment it commits with: the
/// current call's, a success, with what the changes create as its `responseElements`.
pub(crate) fn event_for_write(
    changes: &[crate::store::Change],
    state: &crate::state::State,
) -> Option<segment::SegmentBuilder> {
    SCOPE.with(|scope| {
        scope.borrow().as_ref().map(|draft| {
            // CloudTrail leaves a read's response out.
            let response = (!draft.read_only)
                .then(|| response::of_changes(changes, state))
                .flatten()
                .map(|mut response| {
                    redact(&mut response);
                    response
                });
            let mut segment = segment::SegmentBuilder::default();
            segment.push(draft, None, response.as_ref());
            segment
        })
    })
}

/// The write carrying the current call's event committed: the call's event is written.
pub(crate) fn written() {
    SCOPE.with(|scope| scope.borrow_mut().take());
}

/// Events waiting in memory for the next flush: those that wrote nothing as segments being
/// written (`building`, and `built` once full), the records of those committed with their
/// write (for the audit stream only), and `unsaved`: segments a flush could not save, saved
/// again as they are (the same ids) by the next one.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) building: segment::SegmentBuilder,
    pub(crate) built: Vec<segment::SegmentBuilder>,
    /// (time in microseconds, record).
    pub(crate) committed: Vec<(i64, String)>,
    pub(crate) unsaved: Vec<segment::AuditSegment>,
    pub(crate) dropped: u64,
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        let unsaved: i64 = self.unsaved.iter().map(|s| s.event_count).sum();
        self.building.len()
            + self
                .built
                .iter()
                .map(segment::SegmentBuilder::len)
                .sum::<usize>()
            + self.committed.len()
            + unsaved as usize
    }
}

/// A LookupEvents attribute: at most one per call, as CloudTrail allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAttribute {
    EventId(String),
    Username(String),
    EventName(String),
    AccessKeyId(String),
    ResourceName(String),
    EventSource(String),
    ReadOnly(bool),
}

/// Which events LookupEvents wants, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub account_id: String,
    pub attribute: Option<LookupAttribute>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Only events before this one in the order (its time and id): the next page.
    pub after: Option<(DateTime<Utc>, String)>,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_at_any_depth_whatever_their_case() {
        let mut value = json!({
            "userName": "alice",
            "password": "hunter2",
            "NewPassword": "x",
            "nested": [{"SecretAccessKey": "s", "keep": "k"}],
            "clientSecret": {"a": 1},
        });
        redact(&mut value);
        assert_eq!(value["userName"], "alice");
        assert_eq!(value["password"], HIDDEN);
        assert_eq!(value["NewPassword"], HIDDEN);
        assert_eq!(value["nested"][0]["SecretAccessKey"], HIDDEN);
        assert_eq!(value["nested"][0]["keep"], "k");
        assert_eq!(value["clientSecret"], HIDDEN);
    }

    #[test]
    fn a_write_takes_the_draft_and_a_read_gives_it_back() {
        let draft = EventDraft::new(
            "iam.amazonaws.com",
            "CreateUser",
            "us-east-1",
            Identity::unverified(Some("AKIA"), Some("123456789012"), Some("bob")),
            query_parameters([
                ("Action", "CreateUser"),
                ("UserName", "carol"),
                ("X-Amz-Security-Token", "secret-token"),
            ]),
            "req",
            false,
        );
        let (segment, back) = scoped(draft.clone(), || {
            let segment = event_for_write(&[], &crate::state::State::default()).unwrap();
            written();
            segment.finish()
        });
        assert!(back.is_none());
        let [event] = segment::decode(segment.encoding, &segment.data)
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(event.resources[0].name, "carol");
        let record: Value = serde_json::from_str(&event.record).unwrap();
        assert_eq!(record["requestParameters"], json!({"userName": "carol"}));
        assert_eq!(record["eventID"], event.event_id);
        let ((), back) = scoped(draft, || ());
        assert!(back.is_some());
        assert!(
            event_for_write(&[], &crate::state::State::default()).is_none(),
            "the scope ends with the call"
        );
    }
}
