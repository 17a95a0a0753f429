//! The request context: condition keys and their values.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};

/// Condition keys and their values for one request.
///
/// Keys are case-insensitive (`aws:SourceIp` and `AWS:sourceip` are one key) and stored
/// lowercase; values are strings as AWS passes them and compared case-sensitively unless the
/// operator says otherwise. The caller fills every key, including `aws:username`,
/// `aws:userid`, `aws:PrincipalTag/<k>`, `aws:CurrentTime` and `aws:EpochTime`.
#[derive(Clone, Debug, Default)]
pub struct Context {
    entries: HashMap<String, ContextValue, BuildHasherDefault<Fnv>>,
}

/// FNV-1a: every condition is a lookup here, and for keys of ~20 bytes SipHash costs more than
/// the rest of the condition. Flooding is no concern for a map of one request's few keys.
#[derive(Clone, Copy, Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The values of one key and whether the key is multivalued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextValue {
    values: Vec<String>,
    multivalued: bool,
}

impl ContextValue {
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Multivalued keys (`aws:TagKeys`, `aws:CalledVia`, ...) are meant for the
    /// `ForAllValues`/`ForAnyValue` qualifiers and cannot be policy variables.
    pub fn is_multivalued(&self) -> bool {
        self.multivalued
    }
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// A context with room for `keys` keys, so a request's context is built without rehashing.
    pub fn with_capacity(keys: usize) -> Context {
        Context {
            entries: HashMap::with_capacity_and_hasher(keys, BuildHasherDefault::default()),
        }
    }

    /// Sets a single-valued key, replacing any earlier value.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.put(key, vec![value.into()], false);
    }

    /// Sets a multivalued key. An empty list is kept, and conditions treat it like an absent key.
    pub fn insert_multi<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.put(key, values.into_iter().map(Into::into).collect(), true);
    }

    /// `true`/`false`, the spelling the `Bool` operator compares.
    pub fn insert_bool(&mut self, key: &str, value: bool) {
        self.insert(key, if value { "true" } else { "false" });
    }

    pub fn insert_number(&mut self, key: &str, value: i64) {
        self.insert(key, value.to_string());
    }

    /// ISO 8601 in UTC (`2024-01-01T12:00:00Z`), as AWS renders date keys.
    pub fn insert_time(&mut self, key: &str, value: DateTime<Utc>) {
        self.insert(key, value.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }

    pub fn insert_ip(&mut self, key: &str, value: IpAddr) {
        self.insert(key, value.to_string());
    }

    /// Sets `aws:CurrentTime` and `aws:EpochTime` from one instant.
    pub fn set_request_time(&mut self, now: DateTime<Utc>) {
        self.insert_time("aws:CurrentTime", now);
        self.insert_number("aws:EpochTime", now.timestamp());
    }

    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.entries.get(key.to_lowercase().as_str())
    }

    pub fn remove(&mut self, key: &str) -> Option<ContextValue> {
        self.entries.remove(key.to_lowercase().as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lowercase keys and their values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn put(&mut self, key: &str, values: Vec<String>, multivalued: bool) {
        self.entries.insert(
            key.to_lowercase(),
            ContextValue {
                values,
                multivalued,
            },
        );
    }

    /// Values of a key already lowercased at compile time; `None` when absent or empty, which
    /// the condition operators treat alike.
    pub(crate) fn lookup(&self, key_lower: &str) -> Option<&[String]> {
        self.entries
            .get(key_lower)
            .map(|v| v.values.as_slice())
            .filter(|v| !v.is_empty())
    }

    /// The value a `${key}` substitutes: only a single-valued key with a value qualifies.
    pub(crate) fn variable(&self, key_lower: &str) -> Option<&str> {
        match self.entries.get(key_lower) {
            Some(ContextValue {
                values,
                multivalued: false,
            }) => values.first().map(String::as_str),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_typed_helpers_format_like_aws() {
        let mut ctx = Context::new();
        ctx.insert_bool("aws:SecureTransport", true);
        ctx.insert_ip(
            "aws:SourceIp",
            "203.0.113.5".parse().unwrap_or(IpAddr::from([0; 4])),
        );
        let now = DateTime::from_timestamp(1_704_110_400, 0).unwrap_or_default();
        ctx.set_request_time(now);
        ctx.insert_multi("aws:TagKeys", ["a", "b"]);
        assert_eq!(
            ctx.get("AWS:securetransport").map(|v| v.values()),
            Some(&["true".to_owned()][..])
        );
        assert_eq!(
            ctx.lookup("aws:currenttime"),
            Some(&["2024-01-01T12:00:00Z".to_owned()][..])
        );
        assert_eq!(ctx.variable("aws:epochtime"), Some("1704110400"));
        assert_eq!(ctx.variable("aws:tagkeys"), None);
        assert!(
            ctx.get("aws:tagkeys")
                .is_some_and(ContextValue::is_multivalued)
        );
        ctx.insert_multi("aws:TagKeys", Vec::<String>::new());
        assert_eq!(ctx.lookup("aws:tagkeys"), None);
        assert_eq!(ctx.len(), 5);
        assert!(ctx.remove("aws:sourceip").is_some());
        assert!(!ctx.is_empty());
        assert_eq!(ctx.iter().count(), 4);
    }
}
