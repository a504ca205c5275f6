//! The event JSON (README, The event) of a simulated passage: RFC 3339 timestamps in
//! Beijing time (`+08:00`, milliseconds), written without allocation beyond the output
//! buffer. The time of day is formatted by hand (a hot path at >1M events/s); the date
//! comes from jiff and is cached per local day, and a test checks the result against
//! jiff.

use jiff::tz::{Offset, TimeZone};

use super::profile::{DAY_MS, OFFSET_MS};

/// Everything an event carries. `None` leaves a field out (used for malformed messages).
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    /// `{"event_id":"<checkpoint>-<in|out>-<lane>-`: precomputed per lane.
    pub head: &'a str,
    pub seq: u64,
    /// `","checkpoint":"…","direction":"…","lane":"…"`: precomputed per lane.
    pub middle: &'a str,
    pub vehicle_class: &'a str,
    pub arrived_ms: Option<i64>,
    pub inspection_ms: Option<i64>,
    pub departed_ms: Option<i64>,
}

/// The per-lane constant parts of the JSON.
pub fn lane_parts(checkpoint: &str, direction: &str, lane: &str) -> (String, String) {
    let short = if direction == "inbound" { "in" } else { "out" };
    (
        format!("{{\"event_id\":\"{checkpoint}-{short}-{lane}-"),
        format!(
            "\",\"checkpoint\":\"{checkpoint}\",\"direction\":\"{direction}\",\"lane\":\"{lane}\""
        ),
    )
}

/// Formats timestamps; remembers the date of the last local day it saw.
#[derive(Debug, Default)]
pub struct Writer {
    day: Option<i64>,
    date: [u8; 10],
}

impl Writer {
    /// Append the event JSON to `out` (no trailing newline).
    pub fn write(&mut self, out: &mut Vec<u8>, f: &Fields<'_>) {
        out.extend_from_slice(f.head.as_bytes());
        push_padded(out, f.seq, 9);
        out.extend_from_slice(f.middle.as_bytes());
        out.extend_from_slice(b",\"vehicle_class\":\"");
        out.extend_from_slice(f.vehicle_class.as_bytes());
        out.push(b'"');
        for (name, v) in [
            (&b",\"arrived_at\":\""[..], f.arrived_ms),
            (&b",\"inspection_started_at\":\""[..], f.inspection_ms),
            (&b",\"departed_at\":\""[..], f.departed_ms),
        ] {
            if let Some(ms) = v {
                out.extend_from_slice(name);
                self.timestamp(out, ms);
                out.push(b'"');
            }
        }
        out.push(b'}');
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmm+08:00` for Unix milliseconds `ms`.
    pub fn timestamp(&mut self, out: &mut Vec<u8>, ms: i64) {
        let local = ms + OFFSET_MS;
        let day = local.div_euclid(DAY_MS);
        if self.day != Some(day) {
            self.day = Some(day);
            self.date = date_of(ms);
        }
        let t = local.rem_euclid(DAY_MS);
        let mut b = *b"YYYY-MM-DDTHH:MM:SS.mmm+08:00";
        b[..10].copy_from_slice(&self.date);
        let two = |b: &mut [u8], v: i64| {
            b[0] = b'0' + (v / 10) as u8;
            b[1] = b'0' + (v % 10) as u8;
        };
        two(&mut b[11..13], t / 3_600_000);
        two(&mut b[14..16], t / 60_000 % 60);
        two(&mut b[17..19], t / 1000 % 60);
        let ms = t % 1000;
        b[20] = b'0' + (ms / 100) as u8;
        two(&mut b[21..23], ms % 100);
        out.extend_from_slice(&b);
    }
}

/// The local (UTC+8) date of `ms` as `YYYY-MM-DD`, from jiff. Years outside 0000–9999
/// cannot be written in RFC 3339 and are clamped to 9999-12-31 (never produced by a
/// run whose range validated).
fn date_of(ms: i64) -> [u8; 10] {
    let tz = TimeZone::fixed(Offset::constant(8));
    let mut out = *b"9999-12-31";
    if let Ok(ts) = jiff::Timestamp::from_millisecond(ms) {
        let s = ts.to_zoned(tz).date().strftime("%Y-%m-%d").to_string();
        if s.len() == 10 {
            out.copy_from_slice(s.as_bytes());
        }
    }
    out
}

/// Append `v` in decimal, left-padded with zeros to at least `width` digits.
fn push_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let start = i.min(buf.len() - width);
    out.extend_from_slice(&buf[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn timestamps_agree_with_jiff() {
        let tz = TimeZone::fixed(Offset::constant(8));
        let mut w = Writer::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut cases: Vec<i64> = (0..2000)
            .map(|_| rng.random_range(0..253_402_000_000_000i64))
            .collect();
        cases.extend([
            0,
            1,
            999,
            1_795_967_999_999,
            1_795_968_000_000,
            951_782_400_000,
        ]);
        for ms in cases {
            let mut out = Vec::new();
            w.timestamp(&mut out, ms);
            let ours = String::from_utf8(out).unwrap();
            let theirs = jiff::Timestamp::from_millisecond(ms)
                .unwrap()
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string();
            assert_eq!(ours, theirs);
            assert_eq!(crate::engine::time::parse_timestamp(&ours), Some(ms));
        }
    }

    #[test]
    fn writes_the_design_example() {
        let (head, middle) = lane_parts("baimiao", "inbound", "03");
        let at = |s: &str| Some(crate::engine::time::parse_timestamp(s).unwrap());
        let mut out = Vec::new();
        Writer::default().write(
            &mut out,
            &Fields {
                head: &head,
                seq: 184_223,
                middle: &middle,
                vehicle_class: "car",
                arrived_ms: at("2026-11-26T07:31:02.120+08:00"),
                inspection_ms: at("2026-11-26T07:33:10.000+08:00"),
                departed_ms: at("2026-11-26T07:33:40.500+08:00"),
            },
        );
        let design = r#"{"event_id":"baimiao-in-03-000184223","checkpoint":"baimiao","direction":"inbound","lane":"03","vehicle_class":"car","arrived_at":"2026-11-26T07:31:02.120+08:00","inspection_started_at":"2026-11-26T07:33:10.000+08:00","departed_at":"2026-11-26T07:33:40.500+08:00"}"#;
        assert_eq!(String::from_utf8(out).unwrap(), design);
    }

    #[test]
    fn padding() {
        let mut out = Vec::new();
        push_padded(&mut out, 7, 3);
        push_padded(&mut out, 1_234_567_890, 9);
        assert_eq!(out, b"0071234567890");
    }
}
