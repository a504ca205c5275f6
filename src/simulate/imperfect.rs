//! Sensor imperfections on request: re-sent duplicates, late (out-of-order) delivery and
//! malformed messages, one builder per rejection reason of [`crate::engine::event::Reason`].
//!
//! What each malformed message is (every one is rejected by [`crate::engine::event::parse`]
//! with its reason; the tests check it):
//! - `too_large`: a valid event padded with an unknown field past `max_event_bytes`
//!   (default 64 KiB);
//! - `not_utf8`: a byte 0xFF inside the `event_id`;
//! - `invalid_json`: the event cut off halfway;
//! - `missing_field`: no `departed_at`;
//! - `invalid_field`: an unknown `vehicle_class`;
//! - `departed_before_arrived`: `arrived_at` and `departed_at` swapped;
//! - `inspection_out_of_range`: `inspection_started_at` one second before `arrived_at`;
//! - `passage_too_long`: `arrived_at` 30 h before `departed_at` (over the default 6 h);
//! - `future_event`: every time one year ahead. Only a live consumer whose clock is
//!   within a year of the simulated time rejects it (a replay accepts it), so it is not
//!   in the default set of reasons.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::payload::{Fields, Writer};
use crate::engine::event::Reason;

/// Malformed reasons produced unless others are asked for: all but `future_event`.
pub const DEFAULT_MALFORMED: [Reason; 8] = [
    Reason::TooLarge,
    Reason::NotUtf8,
    Reason::InvalidJson,
    Reason::MissingField,
    Reason::InvalidField,
    Reason::DepartedBeforeArrived,
    Reason::InspectionOutOfRange,
    Reason::PassageTooLong,
];

/// Which imperfections to add, as fractions of simulated passages.
#[derive(Debug, Clone, PartialEq)]
pub struct Imperfections {
    /// Passages whose event is sent twice (the copy 1–60 s after the original).
    pub duplicates: f64,
    /// Passages delivered late, by a uniform delay in `(0, late_by_ms]`.
    pub late: f64,
    pub late_by_ms: i64,
    /// Passages whose event is replaced by a malformed message.
    pub malformed: f64,
    /// Reasons the malformed messages are spread over, evenly at random.
    pub malformed_reasons: Vec<Reason>,
    /// Size a `too_large` message must exceed (the consumer's `events.max_event_bytes`).
    pub max_event_bytes: usize,
}

impl Default for Imperfections {
    fn default() -> Self {
        Imperfections {
            duplicates: 0.0,
            late: 0.0,
            late_by_ms: 300_000,
            malformed: 0.0,
            malformed_reasons: DEFAULT_MALFORMED.to_vec(),
            max_event_bytes: 64 * 1024,
        }
    }
}

/// What happens to one passage's event on the way to the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    pub malformed: Option<Reason>,
    /// Extra delay before delivery (late delivery), 0 when on time.
    pub delay_ms: i64,
    /// Delay of a re-sent copy after the original, if any.
    pub duplicate_after_ms: Option<i64>,
}

impl Imperfections {
    /// Draw the fate of one passage. Always consumes the same number of random draws,
    /// so changing one fraction does not reshuffle the others.
    pub fn fate(&self, rng: &mut ChaCha8Rng) -> Fate {
        let (m, pick, l, delay, d, after): (f64, f64, f64, f64, f64, f64) = (
            rng.random(),
            rng.random(),
            rng.random(),
            rng.random(),
            rng.random(),
            rng.random(),
        );
        let malformed = (m < self.malformed && !self.malformed_reasons.is_empty()).then(|| {
            let i = ((pick * self.malformed_reasons.len() as f64) as usize)
                .min(self.malformed_reasons.len() - 1);
            self.malformed_reasons[i]
        });
        if malformed.is_some() {
            return Fate {
                malformed,
                delay_ms: 0,
                duplicate_after_ms: None,
            };
        }
        let delay_ms = if l < self.late {
            1 + (delay * self.late_by_ms as f64) as i64
        } else {
            0
        };
        let duplicate_after_ms = (d < self.duplicates).then(|| 1_000 + (after * 59_000.0) as i64);
        Fate {
            malformed: None,
            delay_ms,
            duplicate_after_ms,
        }
    }
}

/// Write the message of a passage corrupted for `reason` (see the module doc).
pub fn write_malformed(
    w: &mut Writer,
    out: &mut Vec<u8>,
    f: &Fields<'_>,
    reason: Reason,
    max_event_bytes: usize,
) {
    const HOUR_MS: i64 = 3_600_000;
    let mut g = *f;
    match reason {
        Reason::TooLarge => {
            let start = out.len();
            w.write(out, f);
            out.pop();
            out.extend_from_slice(b",\"sensor_dump\":\"");
            let pad = (max_event_bytes + 1).saturating_sub(out.len() - start + 2);
            out.resize(out.len() + pad, b'A');
            out.extend_from_slice(b"\"}");
            return;
        }
        Reason::NotUtf8 => {
            let start = out.len();
            w.write(out, f);
            // The first byte of the event_id value (after `{"event_id":"`).
            out[start + 13] = 0xFF;
            return;
        }
        Reason::InvalidJson => {
            let start = out.len();
            w.write(out, f);
            let half = start + (out.len() - start) / 2;
            out.truncate(half);
            return;
        }
        Reason::MissingField => g.departed_ms = None,
        Reason::InvalidField => g.vehicle_class = "hovercraft",
        Reason::DepartedBeforeArrived => {
            g.arrived_ms = f.departed_ms;
            g.departed_ms = f.arrived_ms;
            g.inspection_ms = None;
        }
        Reason::InspectionOutOfRange => g.inspection_ms = f.arrived_ms.map(|a| a - 1000),
        Reason::PassageTooLong => {
            g.arrived_ms = f.departed_ms.map(|d| d - 30 * HOUR_MS);
            g.inspection_ms = None;
        }
        Reason::FutureEvent => {
            let year = 366 * 24 * HOUR_MS;
            g.arrived_ms = f.arrived_ms.map(|t| t + year);
            g.inspection_ms = f.inspection_ms.map(|t| t + year);
            g.departed_ms = f.departed_ms.map(|t| t + year);
        }
    }
    w.write(out, &g);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Registry};
    use crate::simulate::payload::lane_parts;
    use rand::SeedableRng;

    #[test]
    fn every_malformed_message_is_rejected_with_its_reason() {
        let limits = Config::with_registry(Registry::default()).events;
        let (head, middle) = lane_parts("baimiao", "inbound", "B1");
        let departed = 1_795_996_800_000 + 8 * 3_600_000;
        let f = Fields {
            head: &head,
            seq: 42,
            middle: &middle,
            vehicle_class: "bus",
            arrived_ms: Some(departed - 300_000),
            inspection_ms: Some(departed - 200_000),
            departed_ms: Some(departed),
        };
        let mut w = Writer::default();
        let mut valid = Vec::new();
        w.write(&mut valid, &f);
        assert!(crate::engine::event::parse(&valid, &limits, Some(departed)).is_ok());
        for reason in Reason::ALL {
            let mut out = b"junk before".to_vec();
            let start = out.len();
            write_malformed(&mut w, &mut out, &f, reason, limits.max_event_bytes);
            let msg = &out[start..];
            assert!(
                !msg.contains(&b'\n'),
                "{reason}: JSONL needs one message per line"
            );
            // Live (clock at the simulated time) and, except future_event, replay.
            let live = crate::engine::event::parse(msg, &limits, Some(departed))
                .expect_err(reason.as_str());
            assert_eq!(live.reason, reason, "{}", String::from_utf8_lossy(msg));
            if reason != Reason::FutureEvent {
                assert_eq!(
                    crate::engine::event::parse(msg, &limits, None)
                        .unwrap_err()
                        .reason,
                    reason
                );
            }
        }
    }

    #[test]
    fn fates_follow_the_fractions() {
        let imp = Imperfections {
            duplicates: 0.1,
            late: 0.2,
            malformed: 0.05,
            ..Imperfections::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let n = 100_000;
        let (mut dup, mut late, mut bad) = (0, 0, 0);
        let mut per_reason = [0u32; 9];
        for _ in 0..n {
            let f = imp.fate(&mut rng);
            if let Some(r) = f.malformed {
                bad += 1;
                per_reason[r.index()] += 1;
                continue;
            }
            assert!((0..=imp.late_by_ms).contains(&f.delay_ms));
            late += usize::from(f.delay_ms > 0);
            dup += usize::from(f.duplicate_after_ms.is_some());
        }
        let near = |got: usize, p: f64, of: usize| {
            let e = p * of as f64;
            (got as f64 - e).abs() <= 4.0 * (e * (1.0 - p)).sqrt()
        };
        assert!(near(bad, 0.05, n), "{bad}");
        assert!(near(late, 0.2, n - bad), "{late}");
        assert!(near(dup, 0.1, n - bad), "{dup}");
        assert_eq!(per_reason[Reason::FutureEvent.index()], 0);
        for r in DEFAULT_MALFORMED {
            assert!(near(per_reason[r.index()] as usize, 1.0 / 8.0, bad), "{r}");
        }
    }
}
