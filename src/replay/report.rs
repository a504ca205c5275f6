//! The replay report: the data model of `--format json` (and the source of the table,
//! CSV and HTML views), built from what the [`ReplayObserver`] collected. Sorted and
//! free of wall-clock values, so identical input gives byte-identical output.

use std::collections::BTreeMap;
use std::io;

use serde::Serialize;

use super::observer::{Dist, ReplayObserver};
use crate::engine::congestion::CheckpointWindow;
use crate::engine::event::{Direction, Reason};
use crate::engine::lanes::{Lanes, window_start};
use crate::engine::time::{Zone, format_in, zone_name};

/// What became of the messages read (counted by the driver from the pipeline's
/// [`crate::engine::pipeline::Outcome`]s).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Events {
    pub read: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub late: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    /// Valid events whose `departed_at` is outside `[--from, --to)`.
    pub out_of_range: u64,
    /// Valid events of unregistered lanes over `lanes.max_dynamic_lanes`.
    pub overflow: u64,
    /// Accepted events far in time from all the others (more than a week of no
    /// events away): counted in the lanes' totals, outside the windows.
    pub outliers: u64,
}

impl Events {
    pub fn new() -> Self {
        Events {
            rejected: Reason::ALL.iter().map(|r| (r.as_str(), 0)).collect(),
            ..Events::default()
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Range {
    pub from: Option<String>,
    pub to: Option<String>,
    /// The zone of the report's own times (`--tz`, else the one zone of the registry's
    /// checkpoints, else UTC); each checkpoint's times are in its `time_zone`.
    pub time_zone: String,
    #[serde(skip)]
    pub from_ms: Option<i64>,
    #[serde(skip)]
    pub to_ms: Option<i64>,
    /// Length used for `throughput_per_hour`: `--to − --from`, or the windows spanned.
    pub seconds: f64,
    pub window_seconds: f64,
}

/// Mean, nearest-rank quantiles and maximum, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    fn of(d: &Dist, obs: &ReplayObserver) -> io::Result<Summary> {
        let sorted = obs.sorted(d)?;
        let s = |q: f64| super::dist::nearest_rank(&sorted, q) as f64 / 1000.0;
        Ok(Summary {
            mean: (d.sum_ms as f64 / d.count() as f64).round() / 1000.0,
            p50: s(0.5),
            p90: s(0.9),
            p95: s(0.95),
            p99: s(0.99),
            max: d.max_ms as f64 / 1000.0,
        })
    }
}

/// One window of a lane in the report (made when written: see [`Report::windows`]).
#[derive(Debug, Clone, Serialize)]
pub struct WindowOut {
    /// The window's start in its checkpoint's zone.
    pub start: String,
    pub passages: u64,
    pub p95_seconds: Option<f64>,
    #[serde(skip)]
    pub start_ms: i64,
    /// p50, p90, p95, p99 (seconds) of the window; empty for no passages.
    #[serde(skip)]
    pub quantiles: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LaneReport {
    pub checkpoint: String,
    #[serde(serialize_with = "direction_str")]
    pub direction: Direction,
    pub lane: String,
    pub passages: u64,
    pub passage_seconds: Summary,
    pub queue_wait_seconds: Option<Summary>,
    pub inspection_seconds: Option<Summary>,
    pub throughput_per_hour: f64,
    /// Index into the observer's lanes (OpenMetrics reads the buckets there).
    #[serde(skip)]
    pub id: u32,
    /// The registry's open hours (`None`: not in the registry) and the lane's longest
    /// plausible inspection, for OpenMetrics.
    #[serde(skip)]
    pub schedule: Option<crate::engine::time::Schedule>,
    #[serde(skip)]
    pub inspection_max_s: f64,
    #[serde(skip)]
    pub lanes_of_kind: f64,
    #[serde(skip)]
    pub neighbour_lanes: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Episode {
    pub start: String,
    pub end: String,
    pub peak_p95_seconds: f64,
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: i64,
}

/// A checkpoint direction of the report (JSON adds its `analysis`, read back when
/// written: see [`Report::analysis`]).
#[derive(Debug, Clone)]
pub struct CheckpointReport {
    pub checkpoint: String,
    pub direction: Direction,
    /// The zone its times (windows, peak hour, episodes, analysis) are written in.
    pub time_zone: String,
    pub zone: Zone,
    pub peak_hour_start_ms: Option<i64>,
    pub passages: u64,
    pub lanes_used: u64,
    pub peak_hour_start: Option<String>,
    pub peak_hour_passages: u64,
    pub congestion_episodes: Vec<Episode>,
    /// Most lanes the analysis recommended at once, and most open at once.
    pub max_recommended_lanes: u32,
    pub max_open_lanes: u32,
}

/// One window of the congestion analysis.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisRow {
    pub start: String,
    pub passages: u64,
    pub p95_seconds: Option<f64>,
    /// Vehicles that arrived in the window (by `arrived_at`; still-queued ones estimated).
    pub arrivals: f64,
    pub arrival_rate_per_minute: f64,
    pub service_rate_per_minute: Option<f64>,
    pub open_lanes: u32,
    pub recommended_lanes: u32,
    pub capacity_exceeded: bool,
    pub wait_probability: f64,
    pub level_of_service: Option<char>,
    pub congested: bool,
}

impl AnalysisRow {
    pub fn from(w: &crate::engine::congestion::CheckpointWindow, zone: &Zone) -> Self {
        let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
        AnalysisRow {
            start: format_in(w.start_ms, zone),
            passages: w.passages,
            p95_seconds: w.p95_s,
            arrivals: (w.arrivals * 10.0).round() / 10.0,
            arrival_rate_per_minute: r3(w.arrival_rate),
            service_rate_per_minute: w.service_rate.map(r3),
            open_lanes: w.open_lanes,
            recommended_lanes: w.recommended_lanes,
            capacity_exceeded: w.capacity_exceeded,
            wait_probability: r3(w.wait_probability),
            level_of_service: w
                .level_of_service
                .map(crate::engine::congestion::state::los_letter),
            congested: w.congested,
        }
    }
}

/// What a replay found. Its lanes' windows are read back when written
/// ([`Report::windows`]): JSON writes them as each lane's `windows`.
#[derive(Debug, Clone)]
pub struct Report {
    pub range: Range,
    pub events: Events,
    /// The first outliers (see `Events::outliers`), to find them in the input (JSON
    /// writes `outliers` only when there are some).
    pub outliers: Vec<super::observer::Outlier>,
    pub lanes: Vec<LaneReport>,
    pub checkpoints: Vec<CheckpointReport>,
    /// First window start and the end of the last window (ms), the report's time axis.
    pub grid_ms: (i64, i64),
    pub window_ms: i64,
    pub congestion_threshold_s: f64,
    /// `congestion.settle` (ms): how long after a window its advice is due.
    pub settle_ms: i64,
    /// The zones its times are written in.
    pub zones: Zones,
}

impl Report {
    /// The zone of the report's range (see [`Range::time_zone`]).
    pub fn zone(&self) -> &Zone {
        self.zones.report()
    }

    /// The zone of `checkpoint`'s times.
    pub fn zone_of(&self, checkpoint: &str) -> &Zone {
        self.zones.of(checkpoint)
    }

    /// The live service's congestion analysis of `c`'s windows in the range (λ, μ,
    /// open and recommended lanes by Erlang C, level of service, hysteresis state), in
    /// the order analysed, from what `obs` kept (JSON writes it as the direction's
    /// `analysis`, between its episodes and `max_recommended_lanes`).
    pub fn analysis(
        &self,
        c: &CheckpointReport,
        obs: &ReplayObserver,
    ) -> io::Result<Vec<AnalysisRow>> {
        let key = (c.checkpoint.clone(), c.direction);
        let rows = analysed_in_range(
            obs,
            &key,
            self.range.from_ms,
            self.range.to_ms,
            self.window_ms,
        )?;
        Ok(rows.iter().map(|r| AnalysisRow::from(r, &c.zone)).collect())
    }

    /// Every window of the report's time axis for lane `l`, from what `obs` kept.
    pub fn windows(&self, l: &LaneReport, obs: &ReplayObserver) -> io::Result<Vec<WindowOut>> {
        let zone = self.zone_of(&l.checkpoint);
        let stats = obs.windows(l.id)?;
        let mut stats = stats.into_iter().peekable();
        let (g0, g1) = self.grid_ms;
        Ok((g0..g1)
            .step_by(self.window_ms as usize)
            .map(|s| {
                while stats.next_if(|w| w.0 < s).is_some() {}
                let stat = stats.next_if(|w| w.0 == s).map(|w| w.1);
                let quantiles = stat
                    .as_ref()
                    .map(|st| st.quantiles.clone())
                    .unwrap_or_default();
                WindowOut {
                    start: format_in(s, zone),
                    passages: stat.map_or(0, |st| st.count),
                    p95_seconds: quantiles.get(2).copied(),
                    start_ms: s,
                    quantiles,
                }
            })
            .collect())
    }
}

/// Which zone each time of a report is written in: `--tz` for all, else each
/// checkpoint's registry `time_zone`; the report's own (its range) is `--tz`, else the
/// zone all registered checkpoints share, else UTC.
#[derive(Debug, Clone)]
pub struct Zones {
    forced: Option<Zone>,
    checkpoints: BTreeMap<String, Zone>,
    report: Zone,
}

impl Zones {
    pub fn new(registry: &crate::config::Registry, forced: Option<Zone>) -> Self {
        let checkpoints: BTreeMap<String, Zone> = registry
            .checkpoints
            .iter()
            .map(|c| (c.id.clone(), c.zone.clone()))
            .collect();
        let mut names = checkpoints.values().map(zone_name);
        let report = match (&forced, names.next()) {
            (Some(z), _) => z.clone(),
            (None, None) => crate::engine::time::default_zone(),
            (None, Some(first)) if names.all(|n| n == first) => {
                checkpoints.values().next().cloned().unwrap_or(Zone::UTC)
            }
            (None, Some(_)) => Zone::UTC,
        };
        Zones {
            forced,
            checkpoints,
            report,
        }
    }

    /// The zone of `checkpoint`'s times (an unregistered one: the report's).
    pub fn of(&self, checkpoint: &str) -> &Zone {
        self.forced
            .as_ref()
            .or_else(|| self.checkpoints.get(checkpoint))
            .unwrap_or(&self.report)
    }

    /// The zone of the report's range and of messages about it.
    pub fn report(&self) -> &Zone {
        &self.report
    }
}

/// Inputs of [`build`] besides the pipeline's state.
pub struct Params {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub window_ms: i64,
    pub congestion_threshold_ms: i64,
    pub settle_ms: i64,
    pub zones: Zones,
}

/// Lane-windows a report may hold. They are read back lane by lane as they are
/// written, so memory does not depend on it; it bounds what is written (about 100
/// bytes of JSON or CSV each): a month of 5-minute windows over 1,000 lanes is 8.6
/// million.
pub const MAX_LANE_WINDOWS: u64 = 10_000_000;

/// Why a report could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// It would hold more than [`MAX_LANE_WINDOWS`]: (lanes, windows per lane).
    TooManyWindows(u64, u64),
    /// What the replay kept could not be read back.
    Spill(io::Error),
}

/// Build the report after the pipeline was flushed and the observer finished.
pub fn build(
    p: &Params,
    lanes: &Lanes,
    obs: &ReplayObserver,
    mut events: Events,
) -> Result<Report, BuildError> {
    let w = p.window_ms;
    // The time axis: the range asked for, or the events' without their outliers; a
    // range reaches at most a day beyond the events, so a range of centuries does not
    // ask for millions of windows per lane.
    const DAY: i64 = 86_400_000;
    let core = obs.core_ms();
    let first = match (p.from_ms, core) {
        (Some(f), Some((s, _))) => f.max(s.saturating_sub(DAY)),
        (Some(f), None) => f,
        (None, Some((s, _))) => s,
        (None, None) => 0,
    };
    let last_excl = match (p.to_ms, core) {
        (Some(t), Some((_, e))) => t.min(e.saturating_add(DAY)),
        (Some(t), None) => t.min(first.saturating_add(DAY)),
        (None, Some((_, e))) => e,
        (None, None) => first + 1,
    }
    .max(first + 1);
    let grid = (
        window_start(first, w),
        window_start(last_excl - 1, w).max(window_start(first, w)) + w,
    );
    let per_lane = ((grid.1 - grid.0) / w) as u64;
    let with_data = obs.lanes.iter().filter(|d| d.passages > 0).count() as u64;
    if per_lane.saturating_mul(with_data) > MAX_LANE_WINDOWS {
        return Err(BuildError::TooManyWindows(with_data, per_lane));
    }
    let span_ms = match (p.from_ms, p.to_ms) {
        (Some(f), Some(t)) => t - f,
        _ => grid.1 - grid.0,
    };
    let hours = span_ms as f64 / 3_600_000.0;

    let mut lane_reports = Vec::new();
    let summary = |d| Summary::of(d, obs).map_err(BuildError::Spill);
    for (id, d) in obs.lanes.iter().enumerate() {
        if d.passages == 0 {
            continue;
        }
        let key = &lanes.lanes[id].key;
        lane_reports.push(LaneReport {
            checkpoint: key.checkpoint.clone(),
            direction: key.direction,
            lane: key.lane.clone(),
            passages: d.passages,
            passage_seconds: summary(&d.passage)?,
            queue_wait_seconds: d.queue_wait.as_ref().map(summary).transpose()?,
            inspection_seconds: d.inspection.as_ref().map(summary).transpose()?,
            throughput_per_hour: round3(d.passages as f64 / hours),
            id: id as u32,
            schedule: lanes.lanes[id].stats.schedule.clone(),
            inspection_max_s: lanes.lanes[id].stats.inspection_max_s,
            lanes_of_kind: lanes.lanes[id].stats.lanes_of_kind,
            neighbour_lanes: lanes.lanes[id].stats.neighbour_lanes,
        });
    }
    lane_reports.sort_by(|a, b| {
        (&a.checkpoint, a.direction, &a.lane).cmp(&(&b.checkpoint, b.direction, &b.lane))
    });

    let mut checkpoints: BTreeMap<(String, Direction), CheckpointReport> = BTreeMap::new();
    // The lanes are sorted: a direction's lanes are consecutive, and its departures
    // per minute are summed (for the peak hour) one direction at a time.
    let mut minutes: BTreeMap<i64, u64> = BTreeMap::new();
    for (i, l) in lane_reports.iter().enumerate() {
        let k = (l.checkpoint.clone(), l.direction);
        let c = checkpoints
            .entry(k.clone())
            .or_insert_with(|| CheckpointReport {
                checkpoint: l.checkpoint.clone(),
                direction: l.direction,
                time_zone: zone_name(p.zones.of(&l.checkpoint)),
                zone: p.zones.of(&l.checkpoint).clone(),
                peak_hour_start_ms: None,
                passages: 0,
                lanes_used: 0,
                peak_hour_start: None,
                peak_hour_passages: 0,
                congestion_episodes: Vec::new(),
                max_recommended_lanes: 0,
                max_open_lanes: 0,
            });
        c.passages += l.passages;
        c.lanes_used += 1;
        for (minute, n) in obs.minutes(l.id).map_err(BuildError::Spill)? {
            *minutes.entry(minute).or_default() += u64::from(n);
        }
        let last_of_direction = lane_reports
            .get(i + 1)
            .is_none_or(|n| (&n.checkpoint, n.direction) != (&l.checkpoint, l.direction));
        if last_of_direction {
            if let Some((start, n)) = peak_hour(&minutes) {
                c.peak_hour_start = Some(format_in(start * 60_000, &c.zone));
                c.peak_hour_start_ms = Some(start * 60_000);
                c.peak_hour_passages = n;
            }
            minutes.clear();
        }
    }
    for k in obs.analysed() {
        if let Some(c) = checkpoints.get_mut(k) {
            let rows =
                analysed_in_range(obs, k, p.from_ms, p.to_ms, w).map_err(BuildError::Spill)?;
            let refs: Vec<&CheckpointWindow> = rows.iter().collect();
            c.congestion_episodes = episodes(&refs, &c.zone);
            c.max_recommended_lanes = rows.iter().map(|r| r.recommended_lanes).max().unwrap_or(0);
            c.max_open_lanes = rows.iter().map(|r| r.open_lanes).max().unwrap_or(0);
        }
    }
    let (n_outliers, outliers) = obs.outliers();
    events.outliers = n_outliers;
    Ok(Report {
        outliers,
        range: Range {
            from: p.from_ms.map(|t| format_in(t, p.zones.report())),
            to: p.to_ms.map(|t| format_in(t, p.zones.report())),
            time_zone: zone_name(p.zones.report()),
            from_ms: p.from_ms,
            to_ms: p.to_ms,
            seconds: span_ms as f64 / 1000.0,
            window_seconds: w as f64 / 1000.0,
        },
        events,
        lanes: lane_reports,
        checkpoints: checkpoints.into_values().collect(),
        grid_ms: grid,
        window_ms: w,
        congestion_threshold_s: p.congestion_threshold_ms as f64 / 1000.0,
        settle_ms: p.settle_ms,
        zones: p.zones.clone(),
    })
}

/// The analysed windows of a checkpoint direction that overlap `[from, to)`.
fn analysed_in_range(
    obs: &ReplayObserver,
    key: &(String, Direction),
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    window_ms: i64,
) -> io::Result<Vec<CheckpointWindow>> {
    let mut rows = obs.analysis(key)?;
    rows.retain(|r| {
        from_ms.is_none_or(|f| r.start_ms + window_ms > f) && to_ms.is_none_or(|t| r.start_ms < t)
    });
    Ok(rows)
}

fn direction_str<S: serde::Serializer>(d: &Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.as_str())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The busiest 60 consecutive minutes: `(first minute with a departure, passages)`;
/// the earliest such hour on a tie.
pub fn peak_hour(minutes: &BTreeMap<i64, u64>) -> Option<(i64, u64)> {
    let v: Vec<(i64, u64)> = minutes.iter().map(|(&m, &n)| (m, n)).collect();
    let mut best: Option<(i64, u64)> = None;
    let (mut j, mut sum) = (0usize, 0u64);
    for i in 0..v.len() {
        while j < v.len() && v[j].0 < v[i].0 + 60 {
            sum += v[j].1;
            j += 1;
        }
        if best.is_none_or(|(_, b)| sum > b) {
            best = Some((v[i].0, sum));
        }
        sum -= v[i].1;
    }
    best
}

/// Congestion episodes: runs of consecutive analysed windows in the congested state
/// (the one definition: `congestion` — p95 at or above `enter_p95`, left below
/// `leave_p95`, each after `min_dwell`; a window without departures keeps the state).
/// The peak is the highest window p95 of the run.
pub fn episodes(rows: &[&CheckpointWindow], zone: &Zone) -> Vec<Episode> {
    let mut out: Vec<Episode> = Vec::new();
    let mut open = false;
    for r in rows {
        if !r.congested {
            open = false;
            continue;
        }
        let end = r.start_ms + r.size_ms;
        let p95 = r.p95_s.unwrap_or(0.0);
        match out.last_mut() {
            Some(e) if open => {
                e.end_ms = end;
                e.end = format_in(end, zone);
                e.peak_p95_seconds = e.peak_p95_seconds.max(p95);
            }
            _ => out.push(Episode {
                start: format_in(r.start_ms, zone),
                end: format_in(end, zone),
                peak_p95_seconds: p95,
                start_ms: r.start_ms,
                end_ms: end,
            }),
        }
        open = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_hour_is_the_busiest_sixty_minutes() {
        let m: BTreeMap<i64, u64> = [(0, 5), (30, 5), (59, 1), (60, 20), (100, 1), (119, 3)]
            .into_iter()
            .collect();
        // [30, 90): 5+1+20 = 26; [59, 119): 1+20+1 = 22; [60, 120): 24.
        assert_eq!(peak_hour(&m), Some((30, 26)));
        assert_eq!(peak_hour(&BTreeMap::new()), None);
    }

    #[test]
    fn episodes_are_the_runs_of_the_congested_state() {
        use crate::engine::congestion::state::Hysteresis;
        use crate::engine::event::Direction;
        let cfg = crate::Config::shipped().congestion;
        // p95 per 5-minute window; the state comes from the same hysteresis as live.
        let p95s = [
            Some(600.0), // exactly enter_p95: congested (>=); entered at 5 min
            Some(590.0), // below enter, above leave_p95 (7 min): stays
            Some(400.0), // below leave, 10 min (min_dwell) after entering: leaves
            Some(650.0), // above enter, but only 5 min after leaving: not yet
            Some(650.0), // 10 min after leaving: enters again
            Some(400.0), // below leave, 5 min after entering: stays
            None,        // no departures: no evidence, the state is kept
            Some(300.0), // 15 min after entering: leaves
            Some(610.0), // 5 min after leaving: not yet
        ];
        let mut h = Hysteresis::default();
        let rows: Vec<CheckpointWindow> = p95s
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let start = i as i64 * 300_000;
                let congested = h.update(p.map(|s| s * 1000.0), 100, start + 300_000, &cfg);
                CheckpointWindow {
                    checkpoint: "c".into(),
                    direction: Direction::Inbound,
                    start_ms: start,
                    size_ms: 300_000,
                    passages: u64::from(p.is_some()),
                    p95_s: *p,
                    mean_passage_s: None,
                    arrivals: 0.0,
                    arrival_rate: 0.0,
                    service_rate: None,
                    open_lanes: 0,
                    lanes: 0,
                    recommended_lanes: 0,
                    capacity_exceeded: false,
                    wait_probability: 0.0,
                    level_of_service: None,
                    congested,
                    closed_at_ms: start + 300_000,
                    advised_at_ms: start + 300_000,
                }
            })
            .collect();
        let flags: Vec<bool> = rows.iter().map(|r| r.congested).collect();
        assert_eq!(
            flags,
            [true, true, false, false, true, true, true, false, false]
        );
        let refs: Vec<&CheckpointWindow> = rows.iter().collect();
        let got: Vec<_> = episodes(&refs, &Zone::UTC)
            .iter()
            .map(|e| (e.start_ms / 300_000, e.end_ms / 300_000, e.peak_p95_seconds))
            .collect();
        // Every congested window is in an episode, and only those.
        assert_eq!(got, vec![(0, 2, 600.0), (4, 7, 650.0)]);
    }
}
