//! The shipped `LaneStalled` alert rule (deploy/prometheus/alerts.yml) evaluated
//! in-process on one lane's cells, without its `for: 1m`: the board shows the
//! condition the page is raised on, not the page's own pending/firing state.
//!
//! The rule, per lane, with `gap` the seconds by which the lane's newest departure
//! trails its direction's newest (event time) and `rate` its departures per second
//! over the last 30 minutes:
//!
//! ```text
//! ( passed_over > inspection_max − 60
//!   or gap > max(silence_headways / rate, 210) − 60  and  gap > inspection_max − 60 )
//! and rate >= 1/120 and scheduled_open
//! ```
//!
//! and `passed_over` the seconds by which the direction's newest departure trails the
//! arrival that made the lane passed over by more vehicles than it has neighbour
//! lanes (`lanewatch_lane_passed_over_timestamp_seconds`; NaN while fewer did).
//!
//! with `silence_headways` = 12 for a lane alone of its kind, else 6 (recording rule
//! `lanewatch_lane_silence_headways`).

/// What the rule reads of one lane.
#[derive(Debug, Clone, Copy)]
pub struct StallInputs {
    /// Direction's newest departure minus the lane's (seconds).
    pub gap_s: f64,
    pub inspection_max_s: f64,
    /// Direction's newest departure minus the lane's passed-over time (seconds; NaN
    /// while it was passed over by no more vehicles than it has neighbours).
    pub passed_over_s: f64,
    pub lanes_of_kind: f64,
    /// Departures per second over the last 30 minutes (`None`: not yet measurable).
    pub rate_per_s: Option<f64>,
    pub scheduled_open: bool,
}

/// The `for:` head start the rule gives both tests (seconds).
const HEAD_START_S: f64 = 60.0;

/// Whether `LaneStalled`'s expression holds for the lane.
pub fn stalled(i: &StallInputs) -> bool {
    let Some(rate) = i.rate_per_s else {
        return false;
    };
    let in_service = rate >= 1.0 / 120.0;
    if !in_service || !i.scheduled_open || !i.gap_s.is_finite() {
        return false;
    }
    let longer_than_inspection = i.gap_s > i.inspection_max_s - HEAD_START_S;
    let passed_over = i.passed_over_s > i.inspection_max_s - HEAD_START_S;
    let headways = 6.0 + 6.0 * f64::from(u8::from(i.lanes_of_kind == 1.0));
    let silent = i.gap_s > (headways / rate).max(210.0) - HEAD_START_S && longer_than_inspection;
    passed_over || silent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane() -> StallInputs {
        StallInputs {
            gap_s: 0.0,
            inspection_max_s: 150.0,
            passed_over_s: f64::NAN,
            lanes_of_kind: 4.0,
            rate_per_s: Some(1.0 / 30.0),
            scheduled_open: true,
        }
    }

    #[test]
    fn silent_test_needs_six_headways_and_at_least_210_s() {
        // 6 headways of 30 s = 180 s < 210 s: threshold 210 − 60 = 150 s.
        let mut l = lane();
        l.gap_s = 150.0;
        assert!(!stalled(&l), "equal is not more");
        l.gap_s = 151.0;
        assert!(stalled(&l));
        // A lane alone of its kind: 12 headways = 360 s − 60.
        l.lanes_of_kind = 1.0;
        assert!(!stalled(&l));
        l.gap_s = 300.0;
        assert!(!stalled(&l), "equal is not more");
        l.gap_s = 300.5;
        assert!(stalled(&l));
    }

    #[test]
    fn both_tests_need_longer_than_an_inspection() {
        let mut l = lane();
        l.inspection_max_s = 400.0;
        l.gap_s = 340.0;
        assert!(!stalled(&l), "340 s inspection head start not exceeded");
        l.gap_s = 341.0;
        assert!(stalled(&l));
        // Passed over: the vehicle that made it more than its neighbours arrived
        // longer than the head start before the direction's newest departure.
        l.gap_s = 600.0;
        l.rate_per_s = Some(1.0 / 110.0); // silent test: 6 × 110 − 60 = 600 s
        l.passed_over_s = 340.0;
        assert!(!stalled(&l));
        l.passed_over_s = 341.0;
        assert!(stalled(&l));
    }

    #[test]
    fn passed_over_test_pages_before_the_silent_one() {
        let mut l = lane();
        l.inspection_max_s = 150.0;
        l.gap_s = 120.0; // < 150 of the silent test
        l.passed_over_s = f64::NAN;
        assert!(!stalled(&l), "passed over by no more than its neighbours");
        l.passed_over_s = 90.0;
        assert!(
            !stalled(&l),
            "the lane may be inspecting a vehicle not seen yet"
        );
        l.passed_over_s = 91.0;
        assert!(stalled(&l));
    }

    #[test]
    fn a_quiet_closed_or_new_lane_does_not_page() {
        let mut l = lane();
        l.gap_s = 3600.0;
        l.rate_per_s = Some(1.0 / 121.0);
        assert!(!stalled(&l), "fewer than one departure per two minutes");
        l.rate_per_s = None;
        assert!(!stalled(&l), "no rate yet");
        l.rate_per_s = Some(0.1);
        l.scheduled_open = false;
        assert!(!stalled(&l), "the schedule closes it");
    }
}
