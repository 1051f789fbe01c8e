//! Date formats used on the wire.

use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 1123 (`Thu, 26 Nov 2026 15:27:40 GMT`), for `getlastmodified` and `Last-Modified`.
pub fn http_date(t: SystemTime) -> String {
    // Times before 1970 cannot be expressed by httpdate; clamp instead of failing a listing.
    let t = if t < UNIX_EPOCH { UNIX_EPOCH } else { t };
    httpdate::fmt_http_date(t)
}

/// Parses an RFC 1123 / RFC 850 / asctime date.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// RFC 3339 in UTC (`2026-11-26T15:27:40Z`), for `creationdate`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_707_660);
        assert_eq!(rfc3339(t), "2026-11-26T15:41:00Z");
        assert_eq!(http_date(t), "Thu, 26 Nov 2026 15:41:00 GMT");
        assert_eq!(parse_http_date("Thu, 26 Nov 2026 15:41:00 GMT"), Some(t));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
