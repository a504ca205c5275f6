//! The day profile in Beijing time: local clock helpers and the non-homogeneous Poisson
//! arrival process (piecewise-constant rate per profile slot, sampled exactly by
//! inverting the cumulative intensity).

use rand::Rng;
use rand_distr::{Distribution, Exp1};

use crate::simulate::traffic::Demand;

/// Beijing time's offset from UTC ([`crate::engine::time::DEFAULT_OFFSET_HOURS`]).
pub const OFFSET_MS: i64 = crate::engine::time::DEFAULT_OFFSET_HOURS as i64 * 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
const HOUR_MS: f64 = 3_600_000.0;

/// Milliseconds since local (Beijing) midnight.
pub fn local_ms_of_day(utc_ms: i64) -> i64 {
    (utc_ms + OFFSET_MS).rem_euclid(DAY_MS)
}

/// Minutes since local (Beijing) midnight (what lane schedules use).
pub fn local_minute(utc_ms: i64) -> u32 {
    (local_ms_of_day(utc_ms) / 60_000) as u32
}

/// Whether a daily window `[start, start + duration)` (local milliseconds of day,
/// possibly wrapping past midnight) covers `utc_ms`.
pub fn in_daily_window(utc_ms: i64, start_ms: i64, duration_ms: i64) -> bool {
    (local_ms_of_day(utc_ms) - start_ms).rem_euclid(DAY_MS) < duration_ms
}

/// The local (Beijing) midnight at or before `utc_ms`, as Unix milliseconds.
pub fn local_midnight(utc_ms: i64) -> i64 {
    utc_ms - local_ms_of_day(utc_ms)
}

/// The latest local 06:00 at or before `now_ms` (the default start of a run).
pub fn latest_six_am(now_ms: i64) -> i64 {
    let six = local_midnight(now_ms) + 6 * 3_600_000;
    if six > now_ms { six - DAY_MS } else { six }
}

/// Arrivals of one checkpoint direction: rate `peak × profile[slot] × scale` per hour.
#[derive(Debug, Clone)]
pub struct Arrivals {
    /// Rate per millisecond of each profile slot.
    per_ms: Vec<f64>,
    slot_ms: i64,
}

impl Arrivals {
    pub fn new(demand: &Demand, scale: f64) -> Self {
        let n = demand.profile.len().max(1);
        let per_ms = demand
            .profile
            .iter()
            .map(|f| demand.peak_per_hour * f * scale / HOUR_MS)
            .collect();
        Arrivals {
            per_ms,
            slot_ms: DAY_MS / n as i64,
        }
    }

    /// Expected arrivals in `[from_ms, to_ms)` (UTC milliseconds): the integral of the rate.
    pub fn expected(&self, from_ms: i64, to_ms: i64) -> f64 {
        let mut total = 0.0;
        let mut t = from_ms;
        while t < to_ms {
            let (rate, slot_end) = self.slot(t as f64);
            let end = (slot_end as i64).min(to_ms);
            total += rate * (end - t) as f64;
            t = end;
        }
        total
    }

    /// The next arrival after `t` (UTC ms, fractional), or `None` if none before `end_ms`.
    pub fn next<R: Rng + ?Sized>(&self, t: f64, end_ms: i64, rng: &mut R) -> Option<f64> {
        if self.per_ms.iter().all(|r| *r <= 0.0) {
            return None;
        }
        // Unit-rate exponential budget spent against the cumulative intensity.
        let mut budget: f64 = Exp1.sample(rng);
        let mut t = t;
        let end = end_ms as f64;
        while t < end {
            let (rate, slot_end) = self.slot(t);
            // The last slot is cut at the end: no arrival at or after `end_ms`.
            let stop = slot_end.min(end);
            let mass = rate * (stop - t);
            if budget < mass {
                let at = t + budget / rate;
                return (at < end).then_some(at);
            }
            budget -= mass;
            t = stop;
        }
        None
    }

    /// Rate of the slot containing `t` and the slot's end (UTC ms).
    fn slot(&self, t: f64) -> (f64, f64) {
        let local = t + OFFSET_MS as f64;
        let idx = (local / self.slot_ms as f64).floor() as i64;
        let rate = self.per_ms[idx.rem_euclid(self.per_ms.len() as i64) as usize];
        ((rate), ((idx + 1) * self.slot_ms - OFFSET_MS) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const T0: i64 = 1_795_968_000_000; // 2026-11-30T00:00:00+08:00

    #[test]
    fn local_clock() {
        assert_eq!(local_ms_of_day(T0), 0);
        assert_eq!(local_minute(T0 + 90 * 60_000), 90);
        assert_eq!(latest_six_am(T0 + 7 * 3_600_000), T0 + 6 * 3_600_000);
        assert_eq!(
            latest_six_am(T0 + 5 * 3_600_000),
            T0 + 6 * 3_600_000 - DAY_MS
        );
        assert!(in_daily_window(
            T0 + 23 * 3_600_000 + 1,
            23 * 3_600_000,
            2 * 3_600_000
        ));
        assert!(in_daily_window(
            T0 + 30 * 60_000,
            23 * 3_600_000,
            2 * 3_600_000
        ));
        assert!(!in_daily_window(
            T0 + 61 * 60_000,
            23 * 3_600_000,
            2 * 3_600_000
        ));
        let jiff_midnight: jiff::Timestamp = "2026-11-30T00:00:00+08:00".parse().unwrap();
        assert_eq!(jiff_midnight.as_millisecond(), T0);
    }

    #[test]
    fn counts_per_slot_match_the_rate() {
        // Slot h has rate 100·h per hour: count over 10 days per slot ≈ 1000·h.
        let demand = Demand {
            peak_per_hour: 100.0,
            profile: (0..24).map(f64::from).collect(),
            service_factor: 1.0,
        };
        let a = Arrivals::new(&demand, 1.0);
        let end = T0 + 10 * DAY_MS;
        assert!((a.expected(T0, end) - 10.0 * 100.0 * 276.0).abs() < 1e-6);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut counts = [0u32; 24];
        let mut t = T0 as f64;
        while let Some(n) = a.next(t, end, &mut rng) {
            counts[(local_ms_of_day(n as i64) / 3_600_000) as usize] += 1;
            t = n;
        }
        for (h, &c) in counts.iter().enumerate() {
            let expected = 1000.0 * h as f64;
            assert!(
                (c as f64 - expected).abs() <= 4.0 * expected.sqrt() + 1.0,
                "hour {h}: {c} vs {expected}"
            );
        }
    }

    #[test]
    fn no_arrival_at_or_after_the_end() {
        // A rate of 3600/h (one a second): the range ends mid-slot, many times over.
        let demand = Demand {
            peak_per_hour: 3600.0,
            profile: vec![1.0; 24],
            service_factor: 1.0,
        };
        let a = Arrivals::new(&demand, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for k in 0..200 {
            let end = T0 + 60_000 + k * 137;
            let (mut t, mut last, mut n) = (T0 as f64, T0 as f64, 0);
            while let Some(next) = a.next(t, end, &mut rng) {
                assert!(next >= t);
                (t, last, n) = (next, next, n + 1);
            }
            assert!((last as i64) < end, "arrival at {last} after the end {end}");
            assert!(n > 20);
        }
    }

    #[test]
    fn zero_profile_has_no_arrivals() {
        let a = Arrivals::new(
            &Demand {
                peak_per_hour: 100.0,
                profile: vec![0.0; 24],
                service_factor: 1.0,
            },
            1.0,
        );
        assert_eq!(
            a.next(T0 as f64, T0 + DAY_MS, &mut ChaCha8Rng::seed_from_u64(1)),
            None
        );
    }
}
