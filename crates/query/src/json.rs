//! The awsJson request body (Organizations): the operation's input as one JSON object.

use serde_json::Value;

use crate::QueryError;

/// Decodes an awsJson 1.1 request body into the operation's input.
///
/// An empty body stands for `{}` (an operation without input); anything else must be one JSON
/// object. serde_json bounds nesting (128 levels), so a deeply nested body fails here instead
/// of exhausting the stack.
pub fn json_input(body: &[u8]) -> Result<Value, QueryError> {
    if body.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_slice(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(serialization("The request body must be a JSON object.")),
        Err(error) => Err(serialization(&format!(
            "The request body is not valid JSON: {error}"
        ))),
    }
}

fn serialization(message: &str) -> QueryError {
    QueryError {
        code: "SerializationException",
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_is_an_empty_input() {
        assert_eq!(json_input(b"").unwrap(), serde_json::json!({}));
    }

    #[test]
    fn an_object_is_the_input() {
        let input = json_input(br#"{"MaxResults": 5, "NextToken": "1"}"#).unwrap();
        assert_eq!(input["NextToken"], "1");
    }

    #[test]
    fn anything_but_an_object_is_a_serialization_error() {
        for body in [&b"[]"[..], b"\"x\"", b"null", b"{", b"\xff\xfe", b"{} {}"] {
            let error = json_input(body).unwrap_err();
            assert_eq!(error.code, "SerializationException", "{body:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let body = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            json_input(body.as_bytes()).unwrap_err().code,
            "SerializationException"
        );
    }
}
