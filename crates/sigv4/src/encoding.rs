//! AWS's URI encoding (RFC 3986 unreserved bytes pass, every other byte becomes `%XX`
//! with uppercase hex), percent-decoding, hex, and the byte sinks the canonicalizer
//! streams into.

use std::borrow::Cow;

use subtle::ConstantTimeEq;

use crate::sha256::{Hmac, Sha256};

/// Where canonical bytes go: a buffer for the string-returning API, straight into a
/// hash or MAC on the verification path so nothing is materialized.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    /// Separators are most of the writes; a sink can take them without a memcpy.
    fn put_byte(&mut self, byte: u8) {
        self.put(&[byte]);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_byte(&mut self, byte: u8) {
        self.push(byte);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }

    fn put_byte(&mut self, byte: u8) {
        self.update_byte(byte);
    }
}

impl Sink for Hmac {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }

    fn put_byte(&mut self, byte: u8) {
        self.update_byte(byte);
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

/// Hex digit values (either case); 0xff marks a non-digit.
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[UPPER_HEX[i] as usize] = i as u8;
        table[LOWER_HEX[i] as usize] = i as u8;
        i += 1;
    }
    table
};

fn hex_val(b: u8) -> Option<u8> {
    let v = HEX_VALUES[usize::from(b)];
    (v < 16).then_some(v)
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
        Self { rest: s.as_bytes() }
    }
}

impl Iterator for Decode<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, tail) = self.rest.split_first()?;
        if first == b'%'
            && let [hi, lo, after @ ..] = tail
            && let (Some(hi), Some(lo)) = (hex_val(*hi), hex_val(*lo))
        {
            self.rest = after;
            return Some(hi << 4 | lo);
        }
        self.rest = tail;
        Some(first)
    }
}

/// Header-name equality. Names nearly always arrive lowercase on both sides, so an
/// exact comparison settles most cases before the byte-wise case folding.
#[inline]
pub(crate) fn same_header_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a == b || a.eq_ignore_ascii_case(b))
}

/// Equality whose timing depends only on the lengths: the differences are OR-ed
/// without branching and only the total goes through `subtle`'s barrier.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && bool::from(diff.ct_eq(&0))
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
    // Branch-free: any non-digit sets a bit above the low nibble.
    let mut invalid = 0u8;
    let (pairs, _) = bytes.as_chunks::<2>();
    for (o, [hi, lo]) in out.iter_mut().zip(pairs) {
        let (hi, lo) = (HEX_VALUES[usize::from(*hi)], HEX_VALUES[usize::from(*lo)]);
        invalid |= hi | lo;
        *o = hi << 4 | (lo & 0x0f);
    }
    (invalid < 16).then_some(out)
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
        let escape = escape(self.sep);
        let mut from = 0;
        loop {
            let at = from + find_either(bytes.get(from..)?, self.sep, b'%')?;
            if bytes.get(at) == Some(&self.sep) {
                return Some((at, 1));
            }
            if bytes
                .get(at..at + 3)
                .is_some_and(|w| w.eq_ignore_ascii_case(&escape))
            {
                return Some((at, 3));
            }
            from = at + 1;
        }
    }
}

impl<'a> Iterator for SplitSep<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        let split = if self.escaped {
            self.find_separator(rest)
                .and_then(|(at, len)| Some((rest.get(..at)?, rest.get(at + len..)?)))
        } else {
            split_once_byte(rest, self.sep)
        };
        match split {
            Some((head, tail)) => {
                self.rest = Some(tail);
                Some(head)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// `str::split_once` for an ASCII byte.
pub(crate) fn split_once_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let at = find_either(s.as_bytes(), sep, sep)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// Index of the first byte equal to `a` or `b`. The whole `Authorization` header
/// is scanned this way, and a byte loop over it was one of the larger costs of a
/// verification.
pub(crate) fn find_either(haystack: &[u8], a: u8, b: u8) -> Option<usize> {
    let (a_word, b_word) = (LO * u64::from(a), LO * u64::from(b));
    swar_find(
        haystack,
        |word| zero_bytes(word ^ a_word) | zero_bytes(word ^ b_word),
        |c| c == a || c == b,
    )
}

/// Index of the first byte below `limit` (at most 0x80), i.e. of the first space or
/// control byte when `limit` is 0x21.
pub(crate) fn find_below(haystack: &[u8], limit: u8) -> Option<usize> {
    let limit_word = LO * u64::from(limit);
    swar_find(
        haystack,
        |word| word.wrapping_sub(limit_word) & !word & HI,
        |c| c < limit,
    )
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Flags the zero bytes of `word`.
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LO) & !word & HI
}

/// Eight bytes per step. `flags` marks matching bytes of a little-endian word; such
/// borrow-based flags can be spurious only above a true match, so the lowest flag
/// is always exact, which is all a first-match search needs.
fn swar_find(
    haystack: &[u8],
    flags: impl Fn(u64) -> u64,
    matches: impl Fn(u8) -> bool,
) -> Option<usize> {
    let (chunks, tail) = haystack.as_chunks::<8>();
    for (i, chunk) in chunks.iter().enumerate() {
        let found = flags(u64::from_le_bytes(*chunk));
        if found != 0 {
            return Some(i * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    let at = tail.iter().position(|&c| matches(c))?;
    Some(chunks.len() * 8 + at)
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
    fn finds_the_first_match_in_every_position() {
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'x'; len];
                hay[at] = b';';
                if let Some(later) = hay.get_mut(at + 1) {
                    // needle ^ 1 right after a match is where the borrow makes a false flag.
                    *later = b';' ^ 1;
                }
                assert_eq!(find_either(&hay, b';', b';'), Some(at), "{len} {at}");
                assert_eq!(find_either(&hay, b'%', b';'), Some(at), "{len} {at}");
            }
            assert_eq!(find_either(&vec![b'x'; len], b';', b'%'), None);
        }
        assert_eq!(find_either(b"\x80\x01;", b';', b';'), Some(2));
    }

    #[test]
    fn finds_the_first_byte_below_a_limit() {
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'x'; len];
                hay[at] = b'\t';
                if let Some(later) = hay.get_mut(at + 1) {
                    *later = 0x21;
                }
                assert_eq!(find_below(&hay, 0x21), Some(at), "{len} {at}");
            }
            assert_eq!(find_below(&vec![0x21; len], 0x21), None);
            assert_eq!(find_below(&vec![0xe2; len], 0x21), None);
        }
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
