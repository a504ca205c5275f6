//! Level-of-service bands and the congestion state with hysteresis, so that alerts and
//! dashboards do not flap on a noisy boundary.

use crate::engine::settings::CongestionConfig;

/// Level of service 1 (A) … 6 (F) of a mean passage time: the first band whose upper
/// bound is not exceeded, F above the last.
pub fn level_of_service(mean_passage_ms: f64, bands_ms: &[i64]) -> u8 {
    let i = bands_ms
        .iter()
        .position(|&b| mean_passage_ms <= b as f64)
        .unwrap_or(bands_ms.len());
    (i + 1) as u8
}

/// Letter of a level of service (1 → 'A').
pub fn los_letter(los: u8) -> char {
    (b'A' + los.saturating_sub(1).min(5)) as char
}

/// Congested or not, changing only across two thresholds and after a minimum dwell.
#[derive(Debug, Clone, Copy)]
pub struct Hysteresis {
    congested: bool,
    since_ms: i64,
}

impl Default for Hysteresis {
    fn default() -> Self {
        Hysteresis {
            congested: false,
            since_ms: i64::MIN,
        }
    }
}

impl Hysteresis {
    pub fn congested(&self) -> bool {
        self.congested
    }

    /// Event time (end of the window) at which the state last changed; `None` before
    /// the first change.
    pub fn since_ms(&self) -> Option<i64> {
        (self.since_ms != i64::MIN).then_some(self.since_ms)
    }

    /// Feed the p95 passage time of a window of `passages` departures ending at `at_ms`;
    /// `None` (no passages) is no evidence either way and keeps the state. Entering
    /// needs at least `congestion.min_passages` departures (below, the nearest-rank p95
    /// is just the slowest vehicle); leaving does not: a window whose slowest vehicles
    /// passed quickly is evidence enough.
    pub fn update(
        &mut self,
        p95_ms: Option<f64>,
        passages: u64,
        at_ms: i64,
        cfg: &CongestionConfig,
    ) -> bool {
        let Some(p95) = p95_ms else {
            return self.congested;
        };
        let dwelt = at_ms.saturating_sub(self.since_ms) >= cfg.min_dwell_ms;
        let flip = if self.congested {
            p95 < cfg.leave_p95_ms as f64
        } else {
            p95 >= cfg.enter_p95_ms as f64 && passages >= cfg.min_passages
        };
        if flip && dwelt {
            self.congested = !self.congested;
            self.since_ms = at_ms;
        }
        self.congested
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> CongestionConfig {
        CongestionConfig {
            window_idx: 0,
            target_wait_ms: 600_000,
            risk: 0.1,
            enter_p95_ms: 600_000,
            leave_p95_ms: 420_000,
            min_dwell_ms: 600_000,
            min_passages: 1,
            settle_ms: 300_000,
            settle_max_ms: 3_600_000,
            los_bands_ms: vec![75_000, 150_000, 262_000, 412_000, 600_000],
        }
    }

    #[test]
    fn bands_are_inclusive_upper_bounds() {
        let b = cfg().los_bands_ms;
        assert_eq!(level_of_service(0.0, &b), 1);
        assert_eq!(level_of_service(75_000.0, &b), 1);
        assert_eq!(level_of_service(75_001.0, &b), 2);
        assert_eq!(level_of_service(600_000.0, &b), 5);
        assert_eq!(level_of_service(3_600_000.0, &b), 6);
        assert_eq!(los_letter(1), 'A');
        assert_eq!(los_letter(6), 'F');
    }

    #[test]
    fn hysteresis_does_not_flap_on_a_noisy_boundary() {
        let c = cfg();
        let mut h = Hysteresis::default();
        let w = 300_000;
        // p95 oscillates around the enter threshold every window.
        let noisy = [
            590.0, 610.0, 595.0, 605.0, 598.0, 620.0, 580.0, 615.0, 600.0, 590.0,
        ];
        let mut flips = 0;
        let mut last = false;
        for (i, s) in noisy.iter().enumerate() {
            let now = h.update(Some(s * 1000.0), 100, i as i64 * w, &c);
            flips += usize::from(now != last);
            last = now;
        }
        assert_eq!(
            flips, 1,
            "enters once and stays: it never fell below the leave threshold"
        );
        // Falling below leave exits (dwell satisfied), and a single window back above
        // enter within the dwell does not re-enter.
        let t = 20 * w;
        assert!(!h.update(Some(400_000.0), 100, t, &c));
        assert!(
            !h.update(Some(650_000.0), 100, t + w, &c),
            "within the minimum dwell"
        );
        assert!(
            h.update(Some(650_000.0), 100, t + 2 * w, &c),
            "after the dwell"
        );
        // No passages: no evidence, state kept.
        assert!(h.update(None, 0, t + 3 * w, &c));
    }
}
