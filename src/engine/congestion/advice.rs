//! The arrival side of the congestion analysis: vehicles counted by *arrival* time
//! (`arrived_at`) per window, what each lane's departures prove about its arrivals, and
//! the estimators of λ, μ and open lanes for one window.
//!
//! A lane is a FIFO queue: when a vehicle that arrived at `a` departs, every vehicle
//! that arrived on that lane before `a` has departed too. So a lane's arrivals are
//! known exactly up to its *frontier* (the newest arrival among its departures), and
//! further when the lane has been quiet long enough that anything arriving would have
//! left already. A window's arrivals beyond the frontier (still queued when the window
//! is analysed) are estimated from the lane's recent arrival rate.

use std::collections::VecDeque;

use crate::engine::event::{Event, VehicleClass};
use crate::engine::registry::LaneKind;

/// A vehicle whose queue wait exceeds this found someone ahead of it.
pub const QUEUED_MS: i64 = 30_000;
/// Recent arrivals kept per lane for its arrival rate.
const RECENT: usize = 32;
/// How far back a lane's recent arrivals count for its rate.
const RATE_HORIZON_MS: i64 = 15 * 60_000;
/// Inspection samples a window needs before its own mean is used for μ.
const MIN_INSPECTIONS: u32 = 5;

/// What a lane's departures have shown, for its arrivals.
#[derive(Debug, Clone)]
pub struct LaneTrack {
    /// Position among its direction's lanes.
    pub pos: usize,
    pub kind: LaneKind,
    /// Registry schedule (minutes since local midnight; empty: always open);
    /// `None` for a lane not in the registry.
    pub schedule: Option<Vec<(u32, u32)>>,
    /// Newest arrival among the lane's departures: every earlier arrival is known.
    pub frontier_ms: i64,
    /// Newest departure.
    pub last_departure_ms: i64,
    /// Smoothed inspection time (ms) on this lane, for how long a vehicle arriving at
    /// an empty lane takes to leave.
    pub inspection_ms: f64,
    /// Recent arrival times, newest last.
    recent: VecDeque<i64>,
}

impl LaneTrack {
    pub fn new(
        pos: usize,
        kind: LaneKind,
        schedule: Option<Vec<(u32, u32)>>,
        inspection_ms: f64,
    ) -> Self {
        LaneTrack {
            pos,
            kind,
            schedule,
            frontier_ms: i64::MIN,
            last_departure_ms: i64::MIN,
            inspection_ms,
            recent: VecDeque::new(),
        }
    }

    /// Whether the registry has the lane open at `local_minute`.
    pub fn scheduled(&self, local_minute: u32) -> bool {
        self.schedule.as_ref().is_some_and(|s| {
            s.is_empty()
                || s.iter()
                    .any(|&(a, b)| local_minute >= a && local_minute < b)
        })
    }

    pub fn observe(&mut self, ev: &Event<'_>) {
        self.frontier_ms = self.frontier_ms.max(ev.arrived_ms);
        self.last_departure_ms = self.last_departure_ms.max(ev.departed_ms);
        if let Some(i) = ev.inspection_duration_ms() {
            self.inspection_ms = 0.9 * self.inspection_ms + 0.1 * i as f64;
        }
        if self.recent.back().is_none_or(|&b| ev.arrived_ms >= b) {
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back(ev.arrived_ms);
        }
    }

    /// Up to when the lane's arrivals are known, given that its direction's departures
    /// are known up to `known_ms`: the frontier, or — when the lane has been quiet
    /// longer than a vehicle takes to cross an empty lane (a minute plus six times its
    /// usual inspection, at most 20 minutes) — everything up to that long ago.
    pub fn coverage_ms(&self, known_ms: i64) -> i64 {
        let empty_lane_ms = 60_000 + ((6.0 * self.inspection_ms) as i64).min(19 * 60_000);
        let quiet_since = self.last_departure_ms.max(self.frontier_ms);
        if known_ms.saturating_sub(quiet_since) >= empty_lane_ms {
            self.frontier_ms.max(known_ms - empty_lane_ms)
        } else {
            self.frontier_ms
        }
    }

    /// Arrivals per ms over the recent arrivals before `until_ms`.
    pub fn rate_per_ms(&self, until_ms: i64) -> f64 {
        let from = until_ms - RATE_HORIZON_MS;
        let n = self
            .recent
            .iter()
            .filter(|&&a| a > from && a <= until_ms)
            .count();
        n as f64 / RATE_HORIZON_MS as f64
    }
}

/// Arrivals of one direction over one window, as known so far.
#[derive(Debug, Clone, Default)]
pub struct ArrivalWindow {
    /// Known arrivals per lane (by position in the direction).
    pub per_lane: Vec<u32>,
    pub inspection_sum_ms: i64,
    pub inspection_n: u32,
    /// Arrivals per vehicle class (`VehicleClass::ALL` order).
    pub classes: [u32; 6],
    /// Arrivals that queued (waited more than [`QUEUED_MS`]) per lane kind.
    pub queued: [u32; 4],
}

pub fn kind_index(k: LaneKind) -> usize {
    match k {
        LaneKind::Car => 0,
        LaneKind::Bus => 1,
        LaneKind::Truck => 2,
        LaneKind::Mixed => 3,
    }
}

fn class_index(c: VehicleClass) -> usize {
    VehicleClass::ALL.iter().position(|&x| x == c).unwrap_or(5)
}

impl ArrivalWindow {
    pub fn add(&mut self, pos: usize, kind: LaneKind, ev: &Event<'_>) {
        if self.per_lane.len() <= pos {
            self.per_lane.resize(pos + 1, 0);
        }
        self.per_lane[pos] += 1;
        if let Some(i) = ev.inspection_duration_ms() {
            self.inspection_sum_ms += i;
            self.inspection_n += 1;
        }
        self.classes[class_index(ev.vehicle_class)] += 1;
        if ev.queue_wait_ms().unwrap_or_else(|| ev.passage_ms()) > QUEUED_MS {
            self.queued[kind_index(kind)] += 1;
        }
    }

    pub fn known(&self) -> u32 {
        self.per_lane.iter().sum()
    }
}

/// The inspections of a direction's analysed windows (`(start, sum ms, count)`,
/// newest last): complete once analysed, so what they lend to a later window does
/// not depend on how far the source has read.
#[derive(Debug, Clone, Default)]
pub struct InspectionHistory(VecDeque<(i64, i64, u32)>);

/// Analysed windows kept for [`InspectionHistory`].
const HISTORY: usize = 12;

impl InspectionHistory {
    pub fn push(&mut self, start_ms: i64, w: &ArrivalWindow) {
        if w.inspection_n == 0 {
            return;
        }
        if self.0.len() == HISTORY {
            self.0.pop_front();
        }
        self.0
            .push_back((start_ms, w.inspection_sum_ms, w.inspection_n));
    }

    /// Sum and count of the newest analysed windows before `start_ms` (at most
    /// [`INSPECTION_HORIZON_MS`] before it) until at least `want` inspections.
    fn before(&self, start_ms: i64, want: u32) -> (i64, u32) {
        let (mut sum, mut n) = (0, 0);
        for &(s, sm, c) in self.0.iter().rev() {
            if n >= want || s < start_ms - INSPECTION_HORIZON_MS {
                break;
            }
            if s < start_ms {
                sum += sm;
                n += c;
            }
        }
        (sum, n)
    }
}

/// How far back earlier windows lend their inspections.
const INSPECTION_HORIZON_MS: i64 = 60 * 60_000;

/// The estimates for one window of one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Arrivals in the window, known plus estimated (still queued).
    pub arrivals: f64,
    /// Mean inspection time, seconds (`None`: nothing to go by).
    pub inspection_mean_s: Option<f64>,
    pub open_lanes: u32,
}

/// Whether every lane's arrivals are known to the end of the window.
pub fn covered(lanes: &[&LaneTrack], end_ms: i64, known_ms: i64) -> bool {
    lanes.iter().all(|l| l.coverage_ms(known_ms) >= end_ms)
}

/// Which window is estimated, and when.
#[derive(Debug, Clone, Copy)]
pub struct At {
    pub start_ms: i64,
    pub size_ms: i64,
    /// Departures are known up to here.
    pub known_ms: i64,
    /// Local minute of the window's midpoint (registry schedules).
    pub local_minute: u32,
}

/// Estimate the window `at` from its known arrivals `w`. `lanes` are the direction's
/// lanes in position order; `class_inspection_s` the registry's per-class means (no
/// inspection data).
pub fn estimate(
    w: &ArrivalWindow,
    at: At,
    lanes: &[&LaneTrack],
    history: &InspectionHistory,
    class_inspection_s: &[f64; 6],
) -> Estimate {
    let At {
        start_ms,
        size_ms,
        known_ms,
        local_minute,
    } = at;
    let end = start_ms + size_ms;
    let mut arrivals = 0.0;
    let mut open = 0;
    for l in lanes {
        let known = f64::from(w.per_lane.get(l.pos).copied().unwrap_or(0));
        let cov = l.coverage_ms(known_ms);
        let missing_ms = (end - cov.max(start_ms)).max(0);
        arrivals += known + l.rate_per_ms(cov) * missing_ms as f64;
        // Open: it took vehicles, or the registry has it open and no vehicle of its
        // kind had to queue elsewhere (shortest-queue drivers would have used it).
        let took = known > 0.0;
        let others_queued = w.queued[kind_index(l.kind)] > 0;
        if took || (l.scheduled(local_minute) && !others_queued) {
            open += 1;
        }
    }
    // The window's own inspections; below five, completed with the newest earlier
    // windows'; its vehicles still queued (estimated) at the resulting mean.
    let mut sum = w.inspection_sum_ms as f64;
    let mut n = f64::from(w.inspection_n);
    if w.inspection_n < MIN_INSPECTIONS {
        let (hs, hn) = history.before(start_ms, MIN_INSPECTIONS - w.inspection_n);
        sum += hs as f64;
        n += f64::from(hn);
    }
    let missing = (arrivals - f64::from(w.known())).max(0.0);
    if n > 0.0 {
        sum += missing * sum / n;
        n += missing;
    }
    let inspection_mean_s = if n > 0.0 {
        Some(sum / n / 1000.0)
    } else {
        // No inspection data: the registry's per-class means over the window's mix.
        let total: u32 = w.classes.iter().sum();
        (total > 0).then(|| {
            w.classes
                .iter()
                .zip(class_inspection_s)
                .map(|(&c, &s)| f64::from(c) * s)
                .sum::<f64>()
                / f64::from(total)
        })
    };
    Estimate {
        arrivals,
        inspection_mean_s,
        open_lanes: open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::Direction;
    use std::borrow::Cow;

    fn ev(arrived: i64, insp: Option<i64>, departed: i64) -> Event<'static> {
        Event {
            event_id: Cow::Borrowed("x"),
            checkpoint: Cow::Borrowed("c"),
            direction: Direction::Inbound,
            lane: Cow::Borrowed("01"),
            vehicle_class: VehicleClass::Car,
            arrived_ms: arrived,
            inspection_ms: insp,
            departed_ms: departed,
        }
    }

    #[test]
    fn a_busy_lane_is_known_to_its_frontier_and_a_quiet_one_up_to_an_empty_crossing() {
        let mut l = LaneTrack::new(0, LaneKind::Car, Some(vec![]), 30_000.0);
        l.observe(&ev(100_000, Some(400_000), 430_000));
        // Departures known to 440 s: busy (departed 10 s ago), known to its frontier.
        assert_eq!(l.coverage_ms(440_000), 100_000);
        // Quiet for 10 minutes: an arrival would have left within 60 s + 6 × 30 s.
        assert_eq!(l.coverage_ms(1_030_000), 1_030_000 - 240_000);
    }

    #[test]
    fn still_queued_arrivals_are_estimated_from_the_lane_rate() {
        let mut l = LaneTrack::new(0, LaneKind::Car, Some(vec![]), 30_000.0);
        let mut w = ArrivalWindow::default();
        // One arrival a minute for 20 minutes; the window is the last 5 of them, and
        // the lane's frontier is 2 minutes before the window ends (a queue).
        for m in 0..18 {
            let a = m * 60_000;
            l.observe(&ev(a, Some(a + 200_000), a + 230_000));
            if a >= 15 * 60_000 {
                w.add(0, LaneKind::Car, &ev(a, Some(a + 200_000), a + 230_000));
            }
        }
        let at = At {
            start_ms: 15 * 60_000,
            size_ms: 5 * 60_000,
            known_ms: 17 * 60_000 + 230_000,
            local_minute: 0,
        };
        let e = estimate(&w, at, &[&l], &InspectionHistory::default(), &[30.0; 6]);
        // 3 known (15, 16, 17 min) + the 3 minutes after the frontier at the lane's
        // recent 1/min.
        assert!((e.arrivals - 6.0).abs() < 0.01, "{e:?}");
        assert_eq!(e.open_lanes, 1);
    }
}
