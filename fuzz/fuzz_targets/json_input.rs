//! The awsJson input path (Organizations): any body through `latchkey_query::json_input`,
//! which the server calls before the operation reads its fields. Seeds: the bodies botocore
//! sends for the Organizations operations latchkey serves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = latchkey_query::json_input(data) else {
        return;
    };
    assert!(input.is_object(), "the input is always an object");
    // The reads the Organizations operations make of their input.
    for name in [
        "Email",
        "AccountName",
        "RoleName",
        "CreateAccountRequestId",
        "AccountId",
        "NextToken",
    ] {
        let _ = input.get(name).and_then(Value::as_str);
    }
    let _ = input.get("MaxResults").and_then(Value::as_u64);
});
