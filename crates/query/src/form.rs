use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986 unreserved characters are left alone; everything else is encoded.
pub(crate) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A fault in the request's parameters, reported to the client as `code` with HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub code: &'static str,
    pub message: String,
}

impl QueryError {
    fn validation(message: String) -> Self {
        QueryError {
            code: "ValidationError",
            message,
        }
    }
}

/// The parameters of an awsQuery request (`Action=...&Version=...&Name.member.1=...`).
///
/// Parameters are kept flat, as the wire has them; typed accessors read scalars and the
/// `.member.N` lists that the query protocol flattens structures into.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    params: BTreeMap<String, String>,
}

impl QueryRequest {
    /// Decodes an `application/x-www-form-urlencoded` body or a URL query string.
    ///
    /// A parameter given twice is refused: AWS would take one of them, and guessing which one a
    /// client meant is how authorization bugs are born.
    pub fn parse(form: &[u8]) -> Result<Self, QueryError> {
        let mut params = BTreeMap::new();
        // Whether the whole form decodes to valid UTF-8, worked out once, at the first U+FFFD:
        // doing it for every such pair made a large form cost quadratic time, and forms are
        // decoded before the request is authenticated.
        let mut form_is_utf8 = None;
        for (key, value) in form_urlencoded::parse(form) {
            if key.is_empty() {
                continue;
            }
            // form_urlencoded substitutes U+FFFD for invalid UTF-8; the original bytes are gone.
            if (key.contains('\u{FFFD}') || value.contains('\u{FFFD}'))
                && !*form_is_utf8.get_or_insert_with(|| decodes_to_utf8(form))
            {
                return Err(QueryError {
                    code: "MalformedQueryString",
                    message: "The query string contains a syntax error: parameters must be \
                              valid UTF-8 once percent-decoded."
                        .into(),
                });
            }
            if params
                .insert(key.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(QueryError::validation(format!(
                    "The parameter {key} was given more than once."
                )));
            }
        }
        Ok(QueryRequest { params })
    }

    /// Builds a request from already-decoded pairs (tests, and the presigned GET path that
    /// has the pairs at hand).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, QueryError> {
        let mut params = BTreeMap::new();
        for (key, value) in pairs {
            let key = key.into();
            if params.insert(key.clone(), value.into()).is_some() {
                return Err(QueryError::validation(format!(
                    "The parameter {key} was given more than once."
                )));
            }
        }
        Ok(QueryRequest { params })
    }

    /// Every parameter as the wire had it, sorted by name.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    pub fn version(&self) -> Option<&str> {
        self.get("Version")
    }

    /// A scalar parameter; an empty value counts as present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A parameter the operation cannot do without.
    pub fn required(&self, name: &str) -> Result<&str, QueryError> {
        self.get(name).ok_or_else(|| {
            QueryError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))
        })
    }

    /// An integer parameter within `min..=max`, with AWS's validation message when it is not.
    pub fn int_in(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, QueryError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let value: i64 = raw.trim().parse().map_err(|_| {
            QueryError::validation(format!("Value '{raw}' for parameter {name} is invalid."))
        })?;
        if value < min {
            return Err(QueryError::validation(format!(
                "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must have value greater than or equal to {min}",
                lower_first(name)
            )));
        }
        if value > max {
            return Err(QueryError::validation(format!(
                "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must have value less than or equal to {max}",
                lower_first(name)
            )));
        }
        Ok(Some(value))
    }

    /// A boolean parameter (`true`/`false`, as botocore sends them).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, QueryError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(QueryError::validation(format!(
                "Value '{v}' for parameter {name} is invalid. Expected true or false."
            ))),
        }
    }

    /// A list of strings flattened as `Name.member.1`, `Name.member.2`, ...
    pub fn string_list(&self, name: &str) -> Result<Vec<&str>, QueryError> {
        let prefix = format!("{name}.member.");
        self.members(&prefix, |index| self.get(&format!("{prefix}{index}")))
    }

    /// A list of structures flattened as `Name.member.N.Field`; `read` builds one element from
    /// an accessor for its fields.
    pub fn struct_list<T>(
        &self,
        name: &str,
        mut read: impl FnMut(Member<'_>) -> Result<T, QueryError>,
    ) -> Result<Vec<T>, QueryError> {
        let prefix = format!("{name}.member.");
        let count = self.member_count(&prefix)?;
        let mut out = Vec::with_capacity(count);
        for index in 1..=count {
            out.push(read(Member {
                request: self,
                prefix: format!("{prefix}{index}."),
            })?);
        }
        Ok(out)
    }

    fn members<'a>(
        &'a self,
        prefix: &str,
        get: impl Fn(usize) -> Option<&'a str>,
    ) -> Result<Vec<&'a str>, QueryError> {
        let count = self.member_count(prefix)?;
        (1..=count)
            .map(|index| {
                get(index).ok_or_else(|| {
                    QueryError::validation(format!("Missing list member {prefix}{index}."))
                })
            })
            .collect()
    }

    /// Members must be numbered 1..=n without gaps; a gap means a client bug or tampering.
    fn member_count(&self, prefix: &str) -> Result<usize, QueryError> {
        let mut indices: Vec<usize> = Vec::new();
        for key in self.params.range(prefix.to_owned()..).map(|(k, _)| k) {
            let Some(rest) = key.strip_prefix(prefix) else {
                break;
            };
            let digits = rest.split('.').next().unwrap_or(rest);
            let index: usize = digits
                .parse()
                .map_err(|_| QueryError::validation(format!("Invalid list parameter {key}.")))?;
            if !indices.contains(&index) {
                indices.push(index);
            }
        }
        indices.sort_unstable();
        for (position, index) in indices.iter().enumerate() {
            if *index != position + 1 {
                return Err(QueryError::validation(format!(
                    "List parameter {prefix}N must be numbered from 1 without gaps."
                )));
            }
        }
        Ok(indices.len())
    }
}

/// One element of a flattened structure list.
#[derive(Debug)]
pub struct Member<'a> {
    request: &'a QueryRequest,
    prefix: String,
}

impl<'a> Member<'a> {
    pub fn get(&self, field: &str) -> Option<&'a str> {
        self.request.get(&format!("{}{field}", self.prefix))
    }
}

/// A client may legitimately send U+FFFD percent-encoded; only bytes that were invalid UTF-8
/// are a fault.
fn decodes_to_utf8(form: &[u8]) -> bool {
    let decoded: Vec<u8> = percent_encoding::percent_decode(form).collect();
    std::str::from_utf8(&decoded).is_ok()
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_action_version_and_scalars() {
        let req = QueryRequest::parse(
            b"Action=CreateUser&Version=2010-05-08&UserName=al%2Bice&Path=%2Feng%2F",
        )
        .unwrap();
        assert_eq!(req.action(), Some("CreateUser"));
        assert_eq!(req.version(), Some("2010-05-08"));
        assert_eq!(req.get("UserName"), Some("al+ice"));
        assert_eq!(req.get("Path"), Some("/eng/"));
        assert_eq!(req.get("Missing"), None);
    }

    #[test]
    fn plus_in_a_form_body_is_a_space() {
        let req = QueryRequest::parse(b"Description=a+b").unwrap();
        assert_eq!(req.get("Description"), Some("a b"));
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        let err = QueryRequest::parse(b"UserName=a&UserName=b").unwrap_err();
        assert_eq!(err.code, "ValidationError");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let err = QueryRequest::parse(b"UserName=%FF%FE").unwrap_err();
        assert_eq!(err.code, "MalformedQueryString");
        let err = QueryRequest::parse(b"Action=GetUser&\xC3(=x").unwrap_err();
        assert_eq!(err.code, "MalformedQueryString");
        // U+FFFD itself, properly encoded, is fine.
        let ok = QueryRequest::parse("UserName=%EF%BF%BD".as_bytes()).unwrap();
        assert_eq!(ok.get("UserName"), Some("\u{FFFD}"));
    }

    /// A form of many pairs that each hold U+FFFD once made `parse` re-decode the whole form
    /// per pair: about 60,000 pairs in a 1 MiB body, before authentication. This finishes in
    /// milliseconds now and took minutes before.
    #[test]
    fn many_replacement_characters_cost_linear_time() {
        let form: String = (0..60_000)
            .map(|i| format!("k{i}=%EF%BF%BD"))
            .collect::<Vec<_>>()
            .join("&");
        let req = QueryRequest::parse(form.as_bytes()).unwrap();
        assert_eq!(req.get("k59999"), Some("\u{FFFD}"));
    }

    #[test]
    fn missing_required_parameter_names_the_member() {
        let req = QueryRequest::parse(b"Action=GetUser").unwrap();
        let err = req.required("UserName").unwrap_err();
        assert!(err.message.contains("'userName'"), "{}", err.message);
    }

    #[test]
    fn struct_lists_come_back_in_member_order() {
        let req = QueryRequest::parse(
            b"Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.10.Key=j&Tags.member.10.Value=10&Tags.member.3.Key=c&Tags.member.3.Value=3&Tags.member.4.Key=d&Tags.member.4.Value=4&Tags.member.5.Key=e&Tags.member.5.Value=5&Tags.member.6.Key=f&Tags.member.6.Value=6&Tags.member.7.Key=g&Tags.member.7.Value=7&Tags.member.8.Key=h&Tags.member.8.Value=8&Tags.member.9.Key=i&Tags.member.9.Value=9",
        )
        .unwrap();
        let tags = req
            .struct_list("Tags", |f| {
                Ok((
                    f.get("Key").unwrap_or("").to_owned(),
                    f.get("Value").unwrap_or("").to_owned(),
                ))
            })
            .unwrap();
        let keys: Vec<_> = tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
    }

    #[test]
    fn a_gap_in_a_list_is_refused() {
        let req = QueryRequest::parse(b"Names.member.1=a&Names.member.3=c").unwrap();
        assert!(req.string_list("Names").is_err());
        let req = QueryRequest::parse(b"Names.member.x=a").unwrap();
        assert!(req.string_list("Names").is_err());
    }

    #[test]
    fn integers_are_range_checked() {
        let req = QueryRequest::parse(b"MaxItems=0&Other=abc").unwrap();
        assert!(
            req.int_in("MaxItems", 1, 1000)
                .unwrap_err()
                .message
                .contains("greater than or equal to 1")
        );
        assert!(req.int_in("Other", 1, 10).is_err());
        assert_eq!(req.int_in("Absent", 1, 10).unwrap(), None);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(req) = QueryRequest::parse(&bytes) {
                let _ = req.string_list("A");
                let _ = req.int_in("MaxItems", 1, 1000);
            }
        }

        #[test]
        fn encoded_values_round_trip(value in ".{0,64}") {
            let body = format!("Action=X&Value={}", percent_encoding::utf8_percent_encode(&value, UNRESERVED));
            let req = QueryRequest::parse(body.as_bytes()).unwrap();
            prop_assert_eq!(req.get("Value"), Some(value.as_str()));
        }
    }
}
