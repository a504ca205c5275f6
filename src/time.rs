//! Timestamps: RFC 3339 (with an offset) to Unix milliseconds, and back for reports.

/// Parse an RFC 3339 timestamp with an offset (`Z` or `±HH:MM`) into Unix
/// milliseconds (sub-millisecond digits truncated toward the past). `None` when the
/// text is not such a timestamp or names an impossible date.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let ts: jiff::Timestamp = s.parse().ok()?;
    Some(ts.as_millisecond())
}

/// Format Unix milliseconds as RFC 3339 in UTC (`2026-11-26T07:31:02.120Z`, the
/// fraction only when non-zero).
pub fn format_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{ms}ms"),
    }
}

/// The wall clock as Unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_applied() {
        let a = parse_timestamp("2026-11-26T07:31:02.120+08:00").unwrap();
        let b = parse_timestamp("2026-11-25T23:31:02.120Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, civil_ms(2026, 11, 25, 23, 31, 2, 120));
    }

    #[test]
    fn rejects_impossible_and_offsetless() {
        assert_eq!(parse_timestamp("2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-11-26T25:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-11-26T07:00:00"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }

    #[test]
    fn sub_millisecond_digits_truncate() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.999999Z"), Some(1999));
    }

    #[test]
    fn format_round_trips() {
        let ms = civil_ms(2026, 11, 26, 7, 31, 2, 120);
        assert_eq!(parse_timestamp(&format_ms(ms)), Some(ms));
    }

    /// Independent civil-date → epoch conversion (Howard Hinnant's days_from_civil).
    pub(crate) fn civil_ms(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64, ms: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        ((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms
    }
}
