//! awsQuery form decoding: any body (or query string) through `QueryRequest::parse` and
//! every accessor the operations use, on the names the form itself holds. Seeds: request
//! bodies as botocore sends them.
#![no_main]

use latchkey_query::QueryRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = QueryRequest::parse(data) else {
        return;
    };
    let _ = (request.action(), request.version());
    // Every key of the form, as a scalar and, up to `.member.`, as a list's name.
    let keys: Vec<String> = form_urlencoded_keys(data);
    for key in &keys {
        let value = request.get(key);
        assert!(value.is_some(), "a parsed key is readable: {key:?}");
        assert_eq!(request.required(key).ok(), value);
        let _ = request.int_in(key, 1, 1000);
        let _ = request.int_in(key, i64::MIN, i64::MAX);
        let _ = request.bool(key);
        if let Some((list, _)) = key.split_once(".member.") {
            if let Ok(items) = request.string_list(list) {
                for (index, item) in items.iter().enumerate() {
                    let name = format!("{list}.member.{}", index + 1);
                    assert_eq!(request.get(&name), Some(*item));
                }
            }
            let _ = request.struct_list(list, |member| {
                Ok((
                    member.get("Key").map(str::to_owned),
                    member.get("Value").map(str::to_owned),
                ))
            });
        }
    }
    let _ = request.required("Action");
    let _ = request.string_list("Tags");
    let _ = request.struct_list("Tags", |member| Ok(member.get("Key").map(str::to_owned)));
});

/// The keys as the form lists them (the parser keeps them in a map it does not expose).
fn form_urlencoded_keys(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == b'&')
        .map(|pair| pair.split(|&b| b == b'=').next().unwrap_or_default())
        .filter(|key| !key.is_empty())
        .filter_map(|key| {
            let plus_as_space: Vec<u8> = key
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            String::from_utf8(percent_decode(&plus_as_space)).ok()
        })
        .collect()
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}
