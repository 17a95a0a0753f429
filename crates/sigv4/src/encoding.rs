//! AWS's URI encoding (RFC 3986 unreserved bytes pass, every other byte becomes `%XX`
//! with uppercase hex), percent-decoding, hex, and the byte sinks the canonicalizer
//! streams into.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Where canonical bytes go: a buffer for the string-returning API, straight into a
/// hash or MAC on the verification path so nothing is materialized.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        Digest::update(self, bytes);
    }
}

impl Sink for Hmac<Sha256> {
    fn put(&mut self, bytes: &[u8]) {
        Mac::update(self, bytes);
    }
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn escape(b: u8) -> [u8; 3] {
    [
        b'%',
        UPPER_HEX[usize::from(b >> 4)],
        UPPER_HEX[usize::from(b & 0x0f)],
    ]
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Streams `bytes` URI-encoded into `out`; `/` survives when `keep_slash` (paths).
pub(crate) fn encode_into(out: &mut impl Sink, bytes: &[u8], keep_slash: bool) {
    let escaped = |b: &u8| !(is_unreserved(*b) || (keep_slash && *b == b'/'));
    for chunk in bytes.split_inclusive(escaped) {
        match chunk.split_last() {
            Some((last, head)) if escaped(last) => {
                out.put(head);
                out.put(&escape(*last));
            }
            _ => out.put(chunk),
        }
    }
}

/// Appends the URI encoding of `bytes` to `out`.
fn push_encoded(out: &mut String, bytes: impl Iterator<Item = u8>) {
    for b in bytes {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.extend(escape(b).map(char::from));
        }
    }
}

/// URI-encodes `input` the way SigV4 canonicalization does: `A-Za-z0-9-_.~` pass,
/// every other byte (including `/`) becomes `%XX` with uppercase hex.
pub fn uri_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len());
    push_encoded(&mut out, input.iter().copied());
    out
}

/// Decodes `%XX` escapes; malformed escapes and `+` stay literal (RFC 3986, not forms).
pub fn uri_decode(input: &str) -> Cow<'_, [u8]> {
    if input.contains('%') {
        Cow::Owned(Decode::new(input).collect())
    } else {
        Cow::Borrowed(input.as_bytes())
    }
}

/// [`uri_decode`] for values the caller wants as text (access key id, session token);
/// invalid UTF-8 is replaced rather than rejected since such values never match a stored one.
pub(crate) fn decode_str(input: &str) -> Cow<'_, str> {
    match uri_decode(input) {
        Cow::Borrowed(_) => Cow::Borrowed(input),
        Cow::Owned(bytes) => Cow::Owned(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
    }
}

/// Decodes a raw query component and re-encodes it canonically in one pass.
pub(crate) fn reencode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    push_encoded(&mut out, Decode::new(raw));
    out
}

/// Percent-decoding as an iterator so re-encoding needs no intermediate buffer.
struct Decode<'a> {
    rest: &'a [u8],
}

impl<'a> Decode<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            rest: s.as_bytes(),
        }
    }
}

impl Iterator for Decode<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, tail) = self.rest.split_first()?;
        if first == b'%' {
            if let [hi, lo, after @ ..] = tail {
                if let (Some(hi), Some(lo)) = (hex_val(*hi), hex_val(*lo)) {
                    self.rest = after;
                    return Some(hi << 4 | lo);
                }
            }
        }
        self.rest = tail;
        Some(first)
    }
}

pub(crate) fn hex_lower(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = LOWER_HEX[usize::from(b >> 4)];
            *lo = LOWER_HEX[usize::from(b & 0x0f)];
        }
    }
    out
}

/// Exactly 64 hex digits (either case) to 32 bytes.
pub(crate) fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *o = hex_val(*hi)? << 4 | hex_val(*lo)?;
    }
    Some(out)
}

/// Splits on `sep` and, for values taken from a query string, on its escape too
/// (`%2F` for `/`, `%3B` for `;`), so encoded values can be split without decoding.
pub(crate) struct SplitSep<'a> {
    rest: Option<&'a str>,
    sep: u8,
    escaped: bool,
}

impl<'a> SplitSep<'a> {
    pub(crate) fn new(s: &'a str, sep: u8, escaped: bool) -> Self {
        Self {
            rest: Some(s),
            sep,
            escaped,
        }
    }

    fn find_separator(&self, s: &str) -> Option<(usize, usize)> {
        let bytes = s.as_bytes();
        let esc = escape(self.sep);
        bytes.iter().enumerate().find_map(|(i, &b)| {
            if b == self.sep {
                Some((i, 1))
            } else if self.escaped
                && b == b'%'
                && bytes
                    .get(i..i + 3)
                    .is_some_and(|w| w.eq_ignore_ascii_case(&esc))
            {
                Some((i, 3))
            } else {
                None
            }
        })
    }
}

impl<'a> Iterator for SplitSep<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match self.find_separator(rest) {
            Some((at, len)) => {
                self.rest = rest.get(at + len..);
                rest.get(..at)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_everything_but_unreserved() {
        assert_eq!(uri_encode(b"a b/~-_.*"), "a%20b%2F~-_.%2A");
        let mut out = Vec::new();
        encode_into(&mut out, "/a b/%41".as_bytes(), true);
        assert_eq!(out, b"/a%20b/%2541");
    }

    #[test]
    fn decodes_valid_escapes_only() {
        assert_eq!(&*uri_decode("%41%4a%zz+%"), b"AJ%zz+%");
        assert_eq!(reencode("%e1%88%b4=x"), "%E1%88%B4%3Dx");
    }

    #[test]
    fn splits_on_separator_and_its_escape() {
        let parts: Vec<&str> = SplitSep::new("a/b%2Fc%2fd", b'/', true).collect();
        assert_eq!(parts, ["a", "b", "c", "d"]);
        let parts: Vec<&str> = SplitSep::new("a%3Bb;c", b';', false).collect();
        assert_eq!(parts, ["a%3Bb", "c"]);
        let parts: Vec<&str> = SplitSep::new("x;", b';', false).collect();
        assert_eq!(parts, ["x", ""]);
    }

    #[test]
    fn hex_round_trip() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        let hex = hex_lower(&bytes);
        let text = std::str::from_utf8(&hex).unwrap_or_default();
        assert_eq!(decode_hex32(text), Some(bytes));
        assert_eq!(decode_hex32(&text.to_uppercase()), Some(bytes));
        assert_eq!(decode_hex32(&text[1..]), None);
        assert_eq!(decode_hex32(&format!("g{}", &text[1..])), None);
    }
}
