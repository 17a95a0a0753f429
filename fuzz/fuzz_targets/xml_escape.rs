//! XML response escaping: any text written with `escape_into` must parse back, as an element's
//! text, to the same text, except characters XML 1.0 cannot carry, which become U+FFFD.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut document = String::from("<a>");
    latchkey_query::escape_into(&mut document, text);
    document.push_str("</a>");
    let parsed = match roxmltree::Document::parse(&document) {
        Ok(parsed) => parsed,
        Err(error) => panic!("escaped text is not well-formed XML ({error}): {document:?}"),
    };
    let read_back = parsed.root_element().text().unwrap_or_default();
    let expected: String = text
        .chars()
        .map(|c| if xml_char(c) { c } else { '\u{FFFD}' })
        .collect();
    assert_eq!(
        read_back, expected,
        "escaping must round-trip: {document:?}"
    );
});

/// XML 1.0's `Char` production.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
