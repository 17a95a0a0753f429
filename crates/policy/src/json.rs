//! A JSON tree that keeps object members in document order and rejects duplicate member names.
//!
//! `serde_json::Value` silently keeps the last of two equal keys; a policy with two `Effect`s
//! means different things to different readers, so IAM refuses it and so do we. Document order
//! also lets [`crate::Policy::context_keys`] list keys the way they were written.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// Numbers keep the text serde_json would print for them; policies only ever use them as
    /// condition values, which AWS compares as strings.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn parse(text: &str) -> Option<Json> {
        serde_json::from_str(text).ok()
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value()?;
            members.push((key, value));
        }
        // Sorted, not compared pairwise: documents arrive before any size quota is checked
        // (SimulateCustomPolicy has none), and an object of tens of thousands of members
        // made the pairwise check take seconds.
        let mut names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom("duplicate member"));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::Json;

    #[test]
    fn keeps_member_order_and_rejects_duplicates() {
        let Some(Json::Object(members)) = Json::parse(r#"{"b":1,"a":[true,null,"x",1.5]}"#) else {
            panic!("not an object");
        };
        assert_eq!(members[0].0, "b");
        assert_eq!(members[1].0, "a");
        assert!(Json::parse(r#"{"a":1,"a":2}"#).is_none());
        assert!(Json::parse("{").is_none());
    }

    /// 70,000 members, about what a 1 MiB request body can carry: the pairwise duplicate
    /// check made this quadratic (2.5e9 comparisons).
    #[test]
    fn many_members_cost_n_log_n() {
        let members: Vec<String> = (0..70_000).map(|i| format!("\"k{i}\":0")).collect();
        let document = format!("{{{}}}", members.join(","));
        let Some(Json::Object(parsed)) = Json::parse(&document) else {
            panic!("not an object");
        };
        assert_eq!(parsed.len(), 70_000);
        let duplicated = format!("{{{},\"k5\":1}}", members.join(","));
        assert!(Json::parse(&duplicated).is_none());
    }
}
