//! Condition operators ("IAM JSON policy elements: Condition operators").
//!
//! One [`Condition`] is one operator applied to one key, with the policy's values already parsed
//! into the operator's type. Within a key the values are OR'ed; a statement AND's its conditions.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::PolicyError;
use crate::context::Context;
use crate::json::Json;
use crate::pattern::{Flavor, Pattern, Text, Var};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qualifier {
    /// No set operator: positive operators need one request value to match one policy value;
    /// negated operators need no request value to match any policy value.
    Single,
    ForAllValues,
    ForAnyValue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn test<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The operator family, which fixes how values are parsed and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Base {
    String { ignore_case: bool },
    Like,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// Operator names, lowercase, with their family and whether they are the negated form.
const OPERATORS: &[(&str, Base, bool)] = &[
    ("stringequals", Base::String { ignore_case: false }, false),
    ("stringnotequals", Base::String { ignore_case: false }, true),
    (
        "stringequalsignorecase",
        Base::String { ignore_case: true },
        false,
    ),
    (
        "stringnotequalsignorecase",
        Base::String { ignore_case: true },
        true,
    ),
    ("stringlike", Base::Like, false),
    ("stringnotlike", Base::Like, true),
    ("numericequals", Base::Numeric(Cmp::Eq), false),
    ("numericnotequals", Base::Numeric(Cmp::Eq), true),
    ("numericlessthan", Base::Numeric(Cmp::Lt), false),
    ("numericlessthanequals", Base::Numeric(Cmp::Le), false),
    ("numericgreaterthan", Base::Numeric(Cmp::Gt), false),
    ("numericgreaterthanequals", Base::Numeric(Cmp::Ge), false),
    ("dateequals", Base::Date(Cmp::Eq), false),
    ("datenotequals", Base::Date(Cmp::Eq), true),
    ("datelessthan", Base::Date(Cmp::Lt), false),
    ("datelessthanequals", Base::Date(Cmp::Le), false),
    ("dategreaterthan", Base::Date(Cmp::Gt), false),
    ("dategreaterthanequals", Base::Date(Cmp::Ge), false),
    ("bool", Base::Bool, false),
    ("binaryequals", Base::Binary, false),
    ("ipaddress", Base::Ip, false),
    ("notipaddress", Base::Ip, true),
    ("arnequals", Base::Arn, false),
    ("arnlike", Base::Arn, false),
    ("arnnotequals", Base::Arn, true),
    ("arnnotlike", Base::Arn, true),
    ("null", Base::Null, false),
];

/// Policy values, parsed for the operator.
#[derive(Clone, Debug)]
enum Values {
    Text(Box<[Text]>),
    Patterns(Box<[Pattern]>),
    Numbers(Box<[f64]>),
    /// Milliseconds since the epoch.
    Dates(Box<[i64]>),
    Bools(Box<[bool]>),
    Binary(Box<[Vec<u8>]>),
    Networks(Box<[Network]>),
    /// A policy value the operator cannot read (`"abc"` for a Numeric operator): the condition
    /// never matches a present key.
    Unparsable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Option<Network> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Network { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        // Clients reaching a dual-stack listener over IPv4 show up as ::ffff:a.b.c.d.
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(net.to_bits()) << 96,
                u128::from(ip.to_bits()) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(net.to_bits(), ip.to_bits(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    a & mask == b & mask
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The date forms AWS accepts: ISO 8601 (with or without offset, fraction or time of day) and
/// epoch seconds, which is how `aws:EpochTime` is passed.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

fn parse_binary(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text.trim()).ok()
}

fn all<T>(raw: &[String], parse: impl Fn(&str) -> Option<T>) -> Option<Box<[T]>> {
    raw.iter().map(|s| parse(s)).collect()
}

/// One operator on one key.
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    /// Lowercase, for context lookups.
    key: Box<str>,
    /// As written, for `context_keys` and missing-key reports.
    name: Box<str>,
    base: Base,
    negated: bool,
    qualifier: Qualifier,
    if_exists: bool,
    values: Values,
}

impl Condition {
    /// Reads one `"Operator": {"key": value(s)}` member into one condition per key.
    pub(crate) fn compile(
        operator: &str,
        body: &Json,
        variables: bool,
        out: &mut Vec<Condition>,
    ) -> Result<(), PolicyError> {
        let invalid = || PolicyError::new(format!("Invalid Condition type : {operator}"));
        let (qualifier, rest) = match operator.split_once(':') {
            None => (Qualifier::Single, operator),
            Some((q, rest)) if q.eq_ignore_ascii_case("ForAllValues") => {
                (Qualifier::ForAllValues, rest)
            }
            Some((q, rest)) if q.eq_ignore_ascii_case("ForAnyValue") => {
                (Qualifier::ForAnyValue, rest)
            }
            Some(_) => return Err(invalid()),
        };
        let lower = rest.to_ascii_lowercase();
        let (name, if_exists) = match lower.strip_suffix("ifexists") {
            Some(name) => (name, true),
            None => (lower.as_str(), false),
        };
        let &(_, base, negated) = OPERATORS
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(invalid)?;
        // Null asks whether the key is there at all, so "if it exists" and set qualifiers have
        // nothing to qualify.
        if base == Base::Null && (if_exists || qualifier != Qualifier::Single) {
            return Err(invalid());
        }
        let Json::Object(keys) = body else {
            return Err(PolicyError::syntax());
        };
        for (key, value) in keys {
            if !key.contains(':') || key.starts_with(':') {
                return Err(PolicyError::vendor());
            }
            let raw = scalar_list(value).ok_or_else(PolicyError::syntax)?;
            out.push(Condition {
                key: key.to_lowercase().into_boxed_str(),
                name: key.as_str().into(),
                base,
                negated,
                qualifier,
                if_exists,
                values: compile_values(base, &raw, variables),
            });
        }
        Ok(())
    }

    /// The key as written.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Variables used in the values.
    pub(crate) fn vars(&self) -> Box<dyn Iterator<Item = &Var> + '_> {
        match &self.values {
            Values::Text(v) => Box::new(v.iter().flat_map(Text::vars)),
            Values::Patterns(v) => Box::new(v.iter().flat_map(Pattern::vars)),
            _ => Box::new(std::iter::empty()),
        }
    }

    pub(crate) fn evaluate(&self, context: &Context) -> bool {
        let found = context.lookup(&self.key);
        if let Values::Bools(expected) = &self.values
            && self.base == Base::Null
        {
            // `"Null": {"k": "true"}` asks "is k absent?".
            return expected.iter().any(|&absent| absent == found.is_none());
        }
        let Some(request) = found else {
            return self.if_exists
                || match self.qualifier {
                    Qualifier::ForAllValues => true,
                    Qualifier::ForAnyValue => false,
                    Qualifier::Single => self.negated,
                };
        };
        self.decide(request, context).unwrap_or(false)
    }

    /// Each request value either matches some policy value, matches none, or cannot be read
    /// (`None`); a value that cannot be read fails the whole condition, negated or not.
    fn decide(&self, request: &[String], context: &Context) -> Option<bool> {
        let matches = request.iter().map(|v| self.any_value_matches(v, context));
        Some(match self.qualifier {
            Qualifier::Single => {
                let mut any = false;
                for m in matches {
                    any |= m?;
                }
                any != self.negated
            }
            Qualifier::ForAnyValue => {
                let mut any = false;
                for m in matches {
                    any |= m? != self.negated;
                }
                any
            }
            Qualifier::ForAllValues => {
                let mut every = true;
                for m in matches {
                    every &= m? != self.negated;
                }
                every
            }
        })
    }

    /// Whether one request value equals/matches/compares true with any policy value.
    fn any_value_matches(&self, v: &str, context: &Context) -> Option<bool> {
        Some(match (&self.values, self.base) {
            (Values::Text(policy), Base::String { ignore_case }) => {
                policy.iter().any(|p| p.equals(v, ignore_case, context))
            }
            (Values::Patterns(policy), Base::Like) => {
                policy.iter().any(|p| p.matches(v, Flavor::Like, context))
            }
            (Values::Patterns(policy), _) => {
                policy.iter().any(|p| p.matches(v, Flavor::Arn, context))
            }
            (Values::Numbers(policy), Base::Numeric(cmp)) => {
                let v = parse_number(v)?;
                policy.iter().any(|&p| cmp.test(v, p))
            }
            (Values::Dates(policy), Base::Date(cmp)) => {
                let v = parse_date(v)?;
                policy.iter().any(|&p| cmp.test(v, p))
            }
            (Values::Bools(policy), _) => {
                let v = parse_bool(v)?;
                policy.contains(&v)
            }
            (Values::Binary(policy), _) => {
                let v = parse_binary(v)?;
                policy.contains(&v)
            }
            (Values::Networks(policy), _) => {
                let v: IpAddr = v.trim().parse().ok()?;
                policy.iter().any(|n| n.contains(v))
            }
            _ => return None,
        })
    }
}

/// A condition value is a string, number or boolean, or a list of them.
fn scalar_list(value: &Json) -> Option<Vec<String>> {
    let scalar = |v: &Json| match v {
        Json::String(s) | Json::Number(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Json::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|s| vec![s]),
    }
}

fn compile_values(base: Base, raw: &[String], variables: bool) -> Values {
    let parsed = match base {
        Base::String { .. } => Some(Values::Text(
            raw.iter().map(|s| Text::compile(s, variables)).collect(),
        )),
        Base::Like => Some(Values::Patterns(
            raw.iter()
                .map(|s| Pattern::compile(s, Flavor::Like, variables))
                .collect(),
        )),
        Base::Arn => Some(Values::Patterns(
            raw.iter()
                .map(|s| Pattern::compile(s, Flavor::Arn, variables))
                .collect(),
        )),
        Base::Numeric(_) => all(raw, parse_number).map(Values::Numbers),
        Base::Date(_) => all(raw, parse_date).map(Values::Dates),
        Base::Bool | Base::Null => all(raw, parse_bool).map(Values::Bools),
        Base::Binary => all(raw, parse_binary).map(Values::Binary),
        Base::Ip => all(raw, Network::parse).map(Values::Networks),
    };
    parsed.unwrap_or(Values::Unparsable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = Network::parse("203.0.113.0/24").unwrap_or(Network {
            addr: IpAddr::from([0; 4]),
            prefix: 32,
        });
        assert!(n.contains("203.0.113.77".parse().unwrap_or(n.addr)));
        assert!(n.contains("::ffff:203.0.113.9".parse().unwrap_or(n.addr)));
        assert!(!n.contains("203.0.114.1".parse().unwrap_or(n.addr)));
        assert!(Network::parse("1.2.3.4/33").is_none());
        assert!(
            Network::parse("::/0")
                .is_some_and(|n| n.contains("2001:db8::1".parse().unwrap_or(n.addr)))
        );
        assert!(
            Network::parse("0.0.0.0/0")
                .is_some_and(|n| n.contains("8.8.8.8".parse().unwrap_or(n.addr)))
        );
        assert!(
            Network::parse("2001:db8::/32")
                .is_some_and(|n| !n.contains("1.2.3.4".parse().unwrap_or(n.addr)))
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1704110400"), Some(1_704_110_400_000));
        assert_eq!(parse_date("2024-01-01T12:00:00Z"), Some(1_704_110_400_000));
        assert_eq!(
            parse_date("2024-01-01T13:00:00+01:00"),
            Some(1_704_110_400_000)
        );
        assert_eq!(
            parse_date("2024-01-01T12:00:00.500Z"),
            Some(1_704_110_400_500)
        );
        assert_eq!(parse_date("2024-01-01T12:00:00"), Some(1_704_110_400_000));
        assert_eq!(parse_date("2024-01-01"), Some(1_704_067_200_000));
        assert_eq!(parse_date("99999999999999999999"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("-"), None);
    }
}
