//! SigV4 in the `Authorization` header: any request, written as HTTP/1.1 text, through
//! parse, the scope and time checks and verification. Seeds: the AWS SigV4 test suites'
//! signed requests.
#![no_main]

use latchkey_fuzz::{RawRequest, SUITE_TIME, check_signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The last 8 bytes, when there are that many, also pick the verifier's clock so the
    // time window is exercised around and far from the signing time.
    let now = data
        .last_chunk::<8>()
        .map_or(SUITE_TIME, |b| i64::from_le_bytes(*b));
    RawRequest::parse(data).with(|req| check_signature(req, now));
});
