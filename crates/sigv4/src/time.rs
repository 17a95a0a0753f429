use chrono::{DateTime, NaiveDate};

use crate::{AuthLocation, Presented, SigV4Error};

/// How far header-auth request time may be from the server clock (AWS: 15 minutes).
pub const MAX_SKEW_SECONDS: i64 = 900;

/// Upper bound of `X-Amz-Expires` (one week), as AWS enforces.
pub const MAX_PRESIGNED_EXPIRES: u32 = 604_800;

/// Checks the request time against the server clock.
///
/// Header auth: `|request_time - now| <= 900 s`, else `RequestTimeTooSkewed`.
/// Presigned: `request_time - 900 s <= now` (else `RequestTimeTooSkewed`) and
/// `now <= request_time + X-Amz-Expires` (else `RequestExpired`); without
/// `X-Amz-Expires` the URL lives [`MAX_SKEW_SECONDS`].
pub fn check_time(p: &Presented<'_>, now_unix: i64) -> Result<(), SigV4Error> {
    let skewed = |in_future| SigV4Error::RequestTimeTooSkewed {
        amz_date: p.amz_date.clone().into_owned(),
        now_unix,
        in_future,
    };
    if p.request_time.saturating_sub(MAX_SKEW_SECONDS) > now_unix {
        return Err(skewed(true));
    }
    match p.location {
        AuthLocation::Header => {
            if p.request_time < now_unix.saturating_sub(MAX_SKEW_SECONDS) {
                return Err(skewed(false));
            }
        }
        AuthLocation::Query => {
            let lifetime = p.expires_in.map_or(MAX_SKEW_SECONDS, i64::from);
            if now_unix > p.request_time.saturating_add(lifetime) {
                return Err(SigV4Error::RequestExpired);
            }
        }
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` to unix seconds; `None` unless it is a real UTC instant.
pub(crate) fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let [
        y0,
        y1,
        y2,
        y3,
        mo0,
        mo1,
        d0,
        d1,
        b'T',
        h0,
        h1,
        mi0,
        mi1,
        s0,
        s1,
        b'Z',
    ] = *b
    else {
        return None;
    };
    let num = |digits: &[u8]| -> Option<u32> {
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(num(&[y0, y1, y2, y3])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(&[mo0, mo1])?, num(&[d0, d1])?)?;
    let time = date.and_hms_opt(num(&[h0, h1])?, num(&[mi0, mi1])?, num(&[s0, s1])?)?;
    Some(time.and_utc().timestamp())
}

/// An RFC 7231 `Date` header (IMF-fixdate, which RFC 2822 parsing covers).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(s).ok().map(|d| d.timestamp())
}

pub(crate) fn format_amz_date(unix: i64) -> String {
    match DateTime::from_timestamp(unix, 0) {
        Some(t) => t.format("%Y%m%dT%H%M%SZ").to_string(),
        None => unix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_parsing() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015083OT123600Z",
            "20150230T123600Z",
            "20150830T246000Z",
            "20150830T123660Z",
            "+0150830T123600Z",
            "20150830T123600Zx",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_date_parsing_and_formatting() {
        let t = parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT");
        assert_eq!(t, Some(1_440_938_160));
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(format_amz_date(i64::MAX), i64::MAX.to_string());
    }
}
