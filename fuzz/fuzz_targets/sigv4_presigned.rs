//! SigV4 in a presigned query (`X-Amz-Algorithm`, `X-Amz-Credential`, ...): the input is
//! the query string of `GET /?<input>` with the suites' `Host`, through parse, the time
//! check and verification. Seeds: the suites' presigned requests' query strings.
#![no_main]

use latchkey_fuzz::{RawRequest, SUITE_TIME, check_signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A query string reaches the server as bytes; hyper only lets ASCII through the URI,
    // but percent-escapes of anything may follow.
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let request = RawRequest {
        method: "GET".into(),
        path: "/".into(),
        query: query.to_owned(),
        headers: vec![("host".into(), "example.amazonaws.com".into())],
        body: Vec::new(),
    };
    request.with(|req| {
        check_signature(req, SUITE_TIME);
        // Within the week a presigned URL may live, as well as after it.
        check_signature(req, SUITE_TIME + 604_800);
    });
});
