//! What a replay collects while the shared pipeline runs: the `[--from, --to)` scope,
//! whole-range statistics per lane ([`Dist`]), each lane's closed windows (from the pipeline's
//! own windows), per-window histogram buckets for OpenMetrics, per-minute departures
//! for the peak hour, and the congestion analysis of every checkpoint-direction window.
//! What grows with the range is kept in the [`spill`](super::spill).

use std::collections::BTreeMap;
use std::io;

pub use super::dist::Dist;
pub use super::lane::{BucketWindow, LaneData, WindowStat};
use super::lane::{Newest, OPEN_MS};
pub use super::lane::{SLOT_MS, slot_of};
use super::rows::Rows;
use super::spill::Spill;
use crate::engine::congestion::CheckpointWindow;
use crate::engine::event::{Direction, Event};
use crate::engine::lanes::{ClosedWindow, Observer, window_start};

/// Whether a departure at `t_ms` is in the replay's `[from, to)` (either end open).
#[inline]
pub fn in_range(from_ms: Option<i64>, to_ms: Option<i64>, t_ms: i64) -> bool {
    from_ms.is_none_or(|f| t_ms >= f) && to_ms.is_none_or(|t| t_ms < t)
}

const DAY_MS: i64 = 86_400_000;
/// Days without events after which a later (or earlier) event is not part of the
/// same replay but an outlier (see [`ReplayObserver::core_ms`]).
pub const OUTLIER_GAP_DAYS: i64 = 7;
/// Outliers listed in a report (all are counted).
const MAX_LISTED: usize = 20;
/// Events kept per day for the outlier list.
const KEPT_PER_DAY: usize = 3;

/// The events of one UTC day (see `ReplayObserver::days`).
#[derive(Debug, Clone, Default)]
pub struct Day {
    pub events: u64,
    /// First and last departure (ms).
    pub first_ms: i64,
    pub last_ms: i64,
    /// The first few events, to list them as outliers.
    pub first: Vec<Outlier>,
}

/// An event far from the others in time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outlier {
    pub event_id: String,
    pub checkpoint: String,
    pub direction: &'static str,
    pub lane: String,
    pub departed_at: String,
}

/// The replay's observer of the shared pipeline.
#[derive(Debug)]
pub struct ReplayObserver {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    window_ms: i64,
    /// Bucket upper bounds in ms (passage-time histogram of the configuration).
    bounds_ms: Vec<i64>,
    /// The same for the inspection-time, queue-wait and headway histograms.
    inspection_bounds_ms: Vec<i64>,
    queue_bounds_ms: Vec<i64>,
    headway_bounds_ms: Vec<i64>,
    pub lanes: Vec<LaneData>,
    /// Where the lanes' range-long series are kept.
    spill: Spill,
    /// Buckets (`+Inf` included) of the passage, inspection, queue-wait and headway
    /// histograms.
    sizes: [usize; 4],
    /// Event time of the first and last accepted departure.
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    /// Departures per UTC day, with the first few events of the day: the report's
    /// time axis covers the days where the events are, not a stray one far away
    /// ([`ReplayObserver::core_ms`]).
    pub days: BTreeMap<i64, Day>,
    /// The congestion analysis (the live service's, on the report window) of every
    /// checkpoint-direction window, by (checkpoint, direction).
    analysis: BTreeMap<(String, Direction), Rows>,
}

impl ReplayObserver {
    /// The passage-duration and inspection-duration histogram buckets (seconds).
    pub fn new(
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        window_ms: i64,
        buckets: &crate::config::Buckets,
    ) -> Self {
        let ms =
            |v: &[f64]| -> Vec<i64> { v.iter().map(|s| (s * 1000.0).floor() as i64).collect() };
        ReplayObserver {
            from_ms,
            to_ms,
            window_ms,
            bounds_ms: ms(&buckets.passage),
            inspection_bounds_ms: ms(&buckets.inspection),
            queue_bounds_ms: ms(&buckets.queue_wait),
            headway_bounds_ms: ms(&buckets.headway),
            lanes: Vec::new(),
            spill: Spill::default(),
            sizes: [
                buckets.passage.len() + 1,
                buckets.inspection.len() + 1,
                buckets.queue_wait.len() + 1,
                buckets.headway.len() + 1,
            ],
            first_ms: None,
            last_ms: None,
            days: BTreeMap::new(),
            analysis: BTreeMap::new(),
        }
    }

    /// The time of the events, as `[first, last + 1)` ms: the largest run of days (by
    /// events) in which no two consecutive days with events are more than
    /// [`OUTLIER_GAP_DAYS`] apart. Events outside are outliers: counted and listed,
    /// and the report's windows do not stretch to them (a year-9999 timestamp would
    /// otherwise ask for millions of windows per lane).
    pub fn core_ms(&self) -> Option<(i64, i64)> {
        // (events, first day, last day) of the current run and of the largest.
        let mut best: Option<(u64, i64, i64)> = None;
        let mut run: Option<(u64, i64, i64)> = None;
        for (&day, d) in &self.days {
            run = match run {
                Some((m, first, last)) if day - last <= OUTLIER_GAP_DAYS => {
                    Some((m + d.events, first, day))
                }
                _ => Some((d.events, day, day)),
            };
            if let Some(r) = run
                && best.is_none_or(|b| r.0 > b.0)
            {
                best = Some(r);
            }
        }
        best.map(|(_, first, last)| (self.days[&first].first_ms, self.days[&last].last_ms + 1))
    }

    /// Events outside [`ReplayObserver::core_ms`]: how many, and the first few.
    pub fn outliers(&self) -> (u64, Vec<Outlier>) {
        let Some((start, end)) = self.core_ms() else {
            return (0, Vec::new());
        };
        let mut n = 0;
        let mut listed = Vec::new();
        for d in self.days.values() {
            if d.first_ms >= start && d.last_ms < end {
                continue;
            }
            n += d.events;
            let room = MAX_LISTED - listed.len().min(MAX_LISTED);
            listed.extend(d.first.iter().take(room).cloned());
        }
        (n, listed)
    }

    pub fn bucket_bounds_ms(&self) -> &[i64] {
        &self.bounds_ms
    }

    pub fn inspection_bounds_ms(&self) -> &[i64] {
        &self.inspection_bounds_ms
    }

    pub fn queue_bounds_ms(&self) -> &[i64] {
        &self.queue_bounds_ms
    }

    pub fn headway_bounds_ms(&self) -> &[i64] {
        &self.headway_bounds_ms
    }

    /// Lane `id`'s closed windows, ascending by start.
    pub fn windows(&self, id: u32) -> io::Result<Vec<(i64, WindowStat)>> {
        self.lanes[id as usize].windows(&self.spill)
    }

    /// Lane `id`'s histogram buckets per window with passages, ascending by start.
    pub fn buckets(&self, id: u32) -> io::Result<Vec<BucketWindow>> {
        self.lanes[id as usize]
            .buckets
            .load(&self.spill, self.sizes)
    }

    /// Lane `id`'s departures per Unix minute, ascending.
    pub fn minutes(&self, id: u32) -> io::Result<Vec<(i64, u32)>> {
        self.lanes[id as usize]
            .minutes
            .load(&self.spill, self.sizes)
    }

    /// Lane `id`'s newest departure (ms) of each 15-second slot with departures,
    /// ascending.
    pub fn slots(&self, id: u32) -> io::Result<Vec<i64>> {
        let slots = self.lanes[id as usize]
            .slots
            .load(&self.spill, self.sizes)?;
        Ok(slots.into_iter().map(|n| n.0).collect())
    }

    /// The values of one of a lane's [`Dist`]s, ascending.
    pub fn sorted(&self, d: &Dist) -> io::Result<Vec<u64>> {
        d.sorted(&self.spill)
    }

    /// Lane `id`'s passed-over times: `(slot, seconds)`, ascending.
    pub fn passed_over(&self, id: u32) -> io::Result<Vec<(i64, f64)>> {
        self.lanes[id as usize].passed_over(&self.spill)
    }

    /// The end of the replay (after the pipeline's `flush`): what is still in memory
    /// goes to the spill; fails if the spill could not be written.
    pub fn finish(&mut self) -> io::Result<()> {
        for d in &mut self.lanes {
            d.finish(&mut self.spill);
        }
        tracing::debug!(
            bytes = self.spill.bytes(),
            "replay data kept in the temporary file"
        );
        self.spill.check()
    }

    /// The checkpoint directions analysed, ascending.
    pub fn analysed(&self) -> impl Iterator<Item = &(String, Direction)> {
        self.analysis.keys()
    }

    /// The analysis of every window of a checkpoint direction, in the order analysed.
    pub fn analysis(&self, key: &(String, Direction)) -> io::Result<Vec<CheckpointWindow>> {
        match self.analysis.get(key) {
            Some(rows) => rows.load(&self.spill, &key.0, key.1),
            None => Ok(Vec::new()),
        }
    }
}

/// Lane `lane`'s data, created (with any before it) on first use.
fn lane_data(lanes: &mut Vec<LaneData>, lane: u32) -> &mut LaneData {
    let i = lane as usize;
    while lanes.len() <= i {
        lanes.push(LaneData::new());
    }
    &mut lanes[i]
}

impl Observer for ReplayObserver {
    fn in_scope(&mut self, ev: &Event<'_>) -> bool {
        in_range(self.from_ms, self.to_ms, ev.departed_ms)
    }

    fn accepted(&mut self, lane: u32, ev: &Event<'_>, _late: bool) {
        let t = ev.departed_ms;
        self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
        self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
        let day = self.days.entry(t.div_euclid(DAY_MS)).or_insert(Day {
            events: 0,
            first_ms: t,
            last_ms: t,
            first: Vec::new(),
        });
        day.events += 1;
        day.first_ms = day.first_ms.min(t);
        day.last_ms = day.last_ms.max(t);
        if day.first.len() < KEPT_PER_DAY {
            day.first.push(Outlier {
                event_id: ev.event_id.to_string(),
                checkpoint: ev.checkpoint.to_string(),
                direction: ev.direction.as_str(),
                lane: ev.lane.to_string(),
                departed_at: crate::engine::time::format_ms(t),
            });
        }
        let window_ms = self.window_ms;
        let passage = ev.passage_ms();
        let bucket = self.bounds_ms.partition_point(|&b| b < passage);
        let inspection = ev.inspection_duration_ms();
        let insp_bucket = inspection.map(|i| self.inspection_bounds_ms.partition_point(|&b| b < i));
        let queue = ev.queue_wait_ms();
        let queue_bucket = queue.map(|q| self.queue_bounds_ms.partition_point(|&b| b < q));
        // As live: headways in event-time order, none for an out-of-order departure.
        let newest = self
            .lanes
            .get(lane as usize)
            .and_then(|d| d.newest_departure_ms);
        let headway = match newest {
            Some(last) if t < last => None,
            Some(last) => Some(t - last),
            None => None,
        };
        let headway_bucket =
            headway.map(|h| (h, self.headway_bounds_ms.partition_point(|&x| x < h)));
        let d = lane_data(&mut self.lanes, lane);
        let spill = &mut self.spill;
        d.passages += 1;
        d.passage.record(passage, spill);
        if let Some(q) = queue {
            d.queue_wait.get_or_insert_with(Dist::new).record(q, spill);
        }
        if let Some(i) = inspection {
            d.inspection.get_or_insert_with(Dist::new).record(i, spill);
        }
        let start = window_start(t, window_ms);
        let sizes = self.sizes;
        let b = d
            .buckets
            .entry(start, OPEN_MS, spill, || BucketWindow::new(start, sizes));
        b.sum_ms += passage;
        b.add(0, bucket);
        if let (Some(i), Some(k)) = (inspection, insp_bucket) {
            b.inspection_sum_ms += i;
            b.add(1, k);
        }
        if let (Some(q), Some(k)) = (queue, queue_bucket) {
            b.queue_sum_ms += q;
            b.add(2, k);
        }
        if let Some((h, k)) = headway_bucket {
            b.headway_sum_ms += h;
            b.add(3, k);
        }
        if newest.is_none_or(|n| t >= n) {
            d.newest_departure_ms = Some(t);
        }
        let minute = t.div_euclid(60_000);
        d.minutes
            .entry(minute, OPEN_MS / 60_000, spill, || (minute, 0))
            .1 += 1;
        let slot = d
            .slots
            .entry(slot_of(t), OPEN_MS / SLOT_MS, spill, || Newest(t));
        slot.0 = slot.0.max(t);
    }

    fn passed_over(&mut self, lane: u32, since_ms: Option<i64>, at_ms: i64) {
        let slot = at_ms.div_euclid(SLOT_MS);
        let since = since_ms.map_or(f64::NAN, |ms| ms as f64 / 1000.0);
        lane_data(&mut self.lanes, lane).set_passed_over(slot, since, &mut self.spill);
    }

    fn window_closed(&mut self, lane: u32, w: &ClosedWindow<'_>) {
        if w.size_idx != 0 {
            return;
        }
        let stat = WindowStat {
            count: w.count,
            quantiles: w.quantiles.to_vec(),
            queue_length: w.stats.queue_length.get(),
            level_of_service: w.stats.level_of_service.get(),
            known_at_ms: w.known_at_ms,
        };
        lane_data(&mut self.lanes, lane).push_window(w.start_ms, &stat, &mut self.spill);
    }
}

impl crate::engine::pipeline::Observer for ReplayObserver {
    fn checkpoint_window(&mut self, w: &CheckpointWindow) {
        let key = (w.checkpoint.clone(), w.direction);
        self.analysis
            .entry(key)
            .or_default()
            .push(w, &mut self.spill);
    }
}
