//! Timestamps: RFC 3339 (with an offset) to Unix milliseconds, and back in the time
//! zone of the people who read them (IANA zones; a checkpoint's is named in the registry).

/// Parse an RFC 3339 timestamp with an offset (`Z` or `±HH:MM`) into Unix
/// milliseconds (sub-millisecond digits truncated toward the past). `None` when the
/// text is not such a timestamp or names an impossible date.
///
/// The strict form sensors send (`YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`) is parsed
/// by hand — it was the costliest step of parsing an event — and anything else goes to
/// `jiff`, the reference; a property test holds the two equal.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    match fast_rfc3339(s.as_bytes()) {
        Fast::Ok(ms) => Some(ms),
        Fast::Invalid => None,
        Fast::Other => parse_timestamp_reference(s),
    }
}

/// The reference parser (`jiff`).
pub fn parse_timestamp_reference(s: &str) -> Option<i64> {
    let ts: jiff::Timestamp = s.parse().ok()?;
    Some(ts.as_millisecond())
}

enum Fast {
    Ok(i64),
    /// The strict shape with impossible values (month 13, Feb 30, hour 25).
    Invalid,
    /// Not the strict shape: let the reference decide.
    Other,
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    Some(v)
}

fn fast_rfc3339(b: &[u8]) -> Fast {
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Fast::Other;
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        digits(&b[0..4]),
        digits(&b[5..7]),
        digits(&b[8..10]),
        digits(&b[11..13]),
        digits(&b[14..16]),
        digits(&b[17..19]),
    ) else {
        return Fast::Other;
    };
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let n = end - start;
        if n == 0 || n > 9 {
            return Fast::Other;
        }
        let take = n.min(3);
        let Some(v) = digits(&b[start..start + take]) else {
            return Fast::Other;
        };
        frac_ms = i64::from(v) * [100, 10, 1][take - 1];
        i = end;
    }
    let offset_min: i64 = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (Some(oh), Some(om)) = (digits(&[*h1, *h2]), digits(&[*m1, *m2])) else {
                return Fast::Other;
            };
            if oh > 23 || om > 59 {
                return Fast::Other;
            }
            let m = i64::from(oh * 60 + om);
            if *sign == b'-' { -m } else { m }
        }
        _ => return Fast::Other,
    };
    if !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || sec > 59
    {
        // Leap seconds (":60") and the like: the reference decides.
        return if sec == 60 {
            Fast::Other
        } else {
            Fast::Invalid
        };
    }
    if y < 1971 {
        // Near or before the epoch the reference's rounding of fractions (toward zero)
        // differs from flooring: let it decide.
        return Fast::Other;
    }
    let days = days_from_civil(i64::from(y), i64::from(mo), i64::from(d));
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset_min * 60;
    Fast::Ok(secs * 1000 + frac_ms)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

/// A time zone for people: an IANA zone (`Asia/Shanghai`) or a fixed offset.
pub type Zone = jiff::tz::TimeZone;

/// The zone of a checkpoint the registry names none for.
pub const DEFAULT_ZONE: &str = "Asia/Shanghai";
/// The UTC offset of [`DEFAULT_ZONE`], Beijing time: UTC+8 all year (no daylight saving
/// since 1991). The one place it is written; the simulator's day is on it.
pub const DEFAULT_OFFSET_HOURS: i8 = 8;

/// The IANA zone `name` (`Asia/Shanghai`, `Europe/Berlin`, `UTC`), or why not, naming
/// the fix.
pub fn zone(name: &str) -> Result<Zone, String> {
    if name.is_empty() {
        return Err("empty: name an IANA time zone such as \"Asia/Shanghai\"".into());
    }
    Zone::get(name).map_err(|_| {
        format!(
            "{name:?} is not an IANA time zone: use a name from the tz database such as \"Asia/Shanghai\" or \"UTC\""
        )
    })
}

/// The zone of checkpoints the registry names none for.
pub fn default_zone() -> Zone {
    Zone::get(DEFAULT_ZONE).unwrap_or(Zone::fixed(jiff::tz::offset(DEFAULT_OFFSET_HOURS)))
}

/// The zone's name as a person reads it (`Asia/Shanghai`, or `+08:00` for a fixed one).
pub fn zone_name(z: &Zone) -> String {
    match z.iana_name() {
        Some(n) => n.to_string(),
        None => z.to_fixed_offset().map_or("UTC".into(), |o| o.to_string()),
    }
}

/// Unix milliseconds as RFC 3339 with the offset `zone` has at that instant
/// (`2026-11-26T07:31:02.120+08:00`, the fraction only when non-zero).
pub fn format_in(ms: i64, zone: &Zone) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.display_with_offset(zone.to_offset(t)).to_string(),
        Err(_) => format!("{ms}ms"),
    }
}

/// Unix milliseconds for a person: `2026-05-12 07:27 +08:00` (seconds when not zero).
pub fn human_in(ms: i64, zone: &Zone) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => {
            let z = t.to_zoned(zone.clone());
            let fmt = if t.as_millisecond().rem_euclid(60_000) == 0 {
                "%Y-%m-%d %H:%M %:z"
            } else {
                "%Y-%m-%d %H:%M:%S %:z"
            };
            z.strftime(fmt).to_string()
        }
        Err(_) => format!("{ms}ms"),
    }
}

/// Minutes since local midnight in `zone` of Unix milliseconds: the clock of the
/// registry's `open` hours. On a day a zone leaves or enters daylight saving time this
/// is the wall clock (an hour repeats or is skipped).
pub fn local_minute(t_ms: i64, zone: &Zone) -> u32 {
    let offset_s = match jiff::Timestamp::from_millisecond(t_ms) {
        Ok(t) => i64::from(zone.to_offset(t).seconds()),
        Err(_) => 0,
    };
    ((t_ms.div_euclid(1000) + offset_s).div_euclid(60)).rem_euclid(1440) as u32
}

/// Log timestamps in a zone, with its offset (`2026-11-26T07:31:02.120+08:00`): the
/// human log format's timer.
pub struct LogTime(pub Zone);

impl tracing_subscriber::fmt::time::FormatTime for LogTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let t = jiff::Timestamp::now();
        let z = t.to_zoned(self.0.clone());
        write!(w, "{}", z.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z"))
    }
}

/// A lane's open hours in its checkpoint's zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Open intervals in local minutes, `[start, end)`; empty: always open.
    pub hours: Vec<(u32, u32)>,
    pub zone: Zone,
}

impl Schedule {
    /// Whether the lane is scheduled open at Unix milliseconds `t_ms`.
    pub fn open_at(&self, t_ms: i64) -> bool {
        scheduled_open(&self.hours, t_ms, &self.zone)
    }
}

/// Whether `schedule` (open intervals in local minutes of `zone`, `[start, end)`;
/// empty: always open) has a lane open at Unix milliseconds `t_ms`.
pub fn scheduled_open(schedule: &[(u32, u32)], t_ms: i64, zone: &Zone) -> bool {
    if schedule.is_empty() {
        return true;
    }
    let m = local_minute(t_ms, zone);
    schedule.iter().any(|&(a, b)| m >= a && m < b)
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

    proptest::proptest! {
        /// The hand parser agrees with the reference on every strict timestamp,
        /// valid or not, and on mutations of them.
        #[test]
        fn fast_parser_equals_reference(
            y in 1u32..9999, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..61, s in 0u32..61,
            frac in proptest::option::of("[0-9]{1,9}"),
            off in proptest::option::of((proptest::bool::ANY, 0u32..25, 0u32..61)),
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let off = match off {
                None => "Z".to_string(),
                Some((neg, oh, om)) => format!("{}{oh:02}:{om:02}", if neg { '-' } else { '+' }),
            };
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}");
            proptest::prop_assert_eq!(parse_timestamp(&text), parse_timestamp_reference(&text), "{}", text);
        }

        #[test]
        fn fast_parser_equals_reference_on_arbitrary_text(text in "[0-9T:.Z+ -]{0,40}") {
            proptest::prop_assert_eq!(parse_timestamp(&text), parse_timestamp_reference(&text));
        }
    }

    #[test]
    fn local_times_carry_the_offset_of_their_instant() {
        let sh = zone("Asia/Shanghai").unwrap();
        let ms = civil_ms(2026, 5, 11, 22, 0, 0, 0);
        assert_eq!(format_in(ms, &sh), "2026-05-12T06:00:00+08:00");
        assert_eq!(human_in(ms, &sh), "2026-05-12 06:00 +08:00");
        assert_eq!(human_in(ms + 1500, &sh), "2026-05-12 06:00:01 +08:00");
        assert_eq!(parse_timestamp(&format_in(ms + 120, &sh)), Some(ms + 120));
        assert_eq!(local_minute(ms, &sh), 6 * 60);
        // Berlin leaves summer time at 03:00 CEST on 2026-10-25 (01:00 UTC): the
        // offsets on either side differ within one report.
        let be = zone("Europe/Berlin").unwrap();
        let before = civil_ms(2026, 10, 25, 0, 30, 0, 0);
        let after = civil_ms(2026, 10, 25, 1, 30, 0, 0);
        assert_eq!(format_in(before, &be), "2026-10-25T02:30:00+02:00");
        assert_eq!(format_in(after, &be), "2026-10-25T02:30:00+01:00");
        assert_eq!(local_minute(before, &be), local_minute(after, &be));
        assert!(scheduled_open(&[(120, 180)], after, &be));
        assert!(!scheduled_open(&[(120, 180)], after + 3_600_000, &be));
    }

    #[test]
    fn log_lines_carry_the_zone_offset() {
        use tracing_subscriber::fmt::time::FormatTime;
        let mut s = String::new();
        LogTime(zone("Asia/Shanghai").unwrap())
            .format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut s))
            .unwrap();
        assert!(s.ends_with("+08:00") && s.len() == 29, "{s}");
        let ms = parse_timestamp(&s).unwrap();
        assert!((now_ms() - ms).abs() < 60_000, "{s} is now");
    }

    #[test]
    fn unknown_zones_are_refused_naming_the_fix() {
        let e = zone("Asia/Peking").unwrap_err();
        assert!(e.contains("IANA") && e.contains("Asia/Shanghai"), "{e}");
        assert!(zone("").is_err());
        assert_eq!(zone_name(&default_zone()), "Asia/Shanghai");
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
