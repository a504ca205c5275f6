//! Congestion intelligence per checkpoint direction, treated as one pool of lanes:
//! arrival rate λ, service rate μ, open lanes, the Erlang C recommendation of lanes to
//! open, level of service and the congestion state with hysteresis — exported as
//! gauges and reported to observers (replay). A closed window's analysis is computed
//! once and never changes.
//!
//! Two clocks, one window grid (`congestion.window`, aligned to the epoch):
//! - **Departures** (`departed_at`): when the checkpoint's watermark closes window
//!   `[s, s+w)`, the direction's p95 and mean passage time over its departures give
//!   the level of service and the congestion state (entered at p95 ≥ `enter_p95`, left
//!   below `leave_p95`, each after `min_dwell`; a window without departures is no
//!   evidence). This is the one definition of "congested": the gauge, the replay's
//!   per-window flag and its episodes, and the alert rules all read it.
//! - **Arrivals** (`arrived_at`): the advice for `[s, s+w)` is given `congestion.settle`
//!   later, from the vehicles that *arrived* in it ([`advice`]), once every lane's
//!   arrivals are known to the window's end (each lane's FIFO frontier, or a quiet
//!   lane's silence) — a window is sealed then, from the direction's own events only;
//!   behind a queue longer than `settle_max` the still-queued rest is estimated from
//!   the lane's arrival rate.
//!   λ = arrivals / w; μ = 1 / mean inspection time of those arrivals (completed from
//!   the direction's recent inspections when the window has fewer than five, and from
//!   the registry's per-class means when events carry no inspection start); open
//!   lanes = lanes that took vehicles, plus lanes the registry has open unless a
//!   vehicle of their kind had to queue elsewhere (drivers take the shortest queue, so
//!   an open lane is not passed by). Recommended lanes = the smallest `c` with Erlang C
//!   `P(wait > target_wait) < risk`, capped at the direction's lanes
//!   (`capacity_exceeded` when even all of them do not meet it).
//!
//! A direction is analysed by the one instance that reads all its lanes: producers key
//! by `<checkpoint>/<direction>` (README, The event), so scale-out never splits a pool.

pub mod advice;
pub mod erlang;
pub mod metrics;
pub mod state;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::engine::event::{Direction, Event};
use crate::engine::lanes::{ClosedWindow, Lanes, window::nearest_rank, window_start};
use crate::engine::registry::{LaneKind, Registry};
use crate::engine::settings::CongestionConfig;
use advice::{ArrivalWindow, InspectionHistory, LaneTrack};
use metrics::{CongestionFamilies, DirGauges};
use state::{Hysteresis, level_of_service};

/// The congestion analysis of one checkpoint direction over one window: departures
/// (passages, p95, level of service, congested) by `departed_at`, the advice
/// (arrivals, λ, μ, open and recommended lanes) by `arrived_at` (reported to
/// the pipeline's observers, such as the replay).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointWindow {
    pub checkpoint: String,
    pub direction: Direction,
    pub start_ms: i64,
    pub size_ms: i64,
    pub passages: u64,
    /// Nearest-rank p95 of passage times over all lanes of the direction, seconds.
    pub p95_s: Option<f64>,
    pub mean_passage_s: Option<f64>,
    /// Vehicles that arrived in the window (known, plus estimated still queued).
    pub arrivals: f64,
    /// Arrival rate λ, vehicles per minute.
    pub arrival_rate: f64,
    /// Service rate μ per lane, vehicles per minute (`None`: not measurable yet).
    pub service_rate: Option<f64>,
    pub open_lanes: u32,
    pub lanes: u32,
    pub recommended_lanes: u32,
    pub capacity_exceeded: bool,
    /// `P(wait > target)` with the open lanes.
    pub wait_probability: f64,
    /// 1 (A) … 6 (F), from the mean passage time; `None` for an empty window.
    pub level_of_service: Option<u8>,
    pub congested: bool,
    /// When the departure side (passages, p95, level of service, congested) and the
    /// advice were known: the direction's newest departure at the time (what a live
    /// service reading in departure order would have published them at).
    pub closed_at_ms: i64,
    pub advised_at_ms: i64,
}

/// The departure side of one closed window.
#[derive(Debug, Clone, Copy)]
struct Departures {
    passages: u64,
    p95_s: Option<f64>,
    mean_s: Option<f64>,
    los: Option<u8>,
    congested: bool,
    known_at_ms: i64,
}

struct DirState {
    checkpoint: String,
    direction: Direction,
    gauges: DirGauges,
    /// Lane ids by position.
    lanes: Vec<u32>,
    class_inspection_s: [f64; 6],
    /// The checkpoint's zone: the clock of its lanes' `open` hours.
    zone: crate::engine::time::Zone,
    /// Arrival windows not yet advised on, by start.
    arrivals: BTreeMap<i64, ArrivalWindow>,
    /// Arrival windows before this start are advised on (later arrivals are ignored).
    advised_until: i64,
    /// Arrival windows before this start are sealed: every lane's arrivals are known
    /// to their end (later arrivals are ignored). Sealing depends only on the
    /// direction's own events, so the advice does not depend on how the source
    /// interleaves partitions or how many instances share them.
    sealed_until: i64,
    /// The lane whose coverage was the smallest when `sealed_until` was last computed:
    /// the direction's coverage is at most its coverage, so while that stays in the
    /// sealed window nothing more can be sealed (no scan of every lane per event).
    seal_blocker: Option<u32>,
    /// Newest departure of the direction: its departures are known up to here.
    known_ms: i64,
    history: InspectionHistory,
    /// Passage samples of departure windows reported by the lanes, by start.
    pending: BTreeMap<i64, Vec<u32>>,
    /// Analysed departure windows awaiting their advice, by start.
    departed: BTreeMap<i64, Departures>,
    hysteresis: Hysteresis,
    last_congested: bool,
    /// Start of the newest departure window with passages.
    last_departed: i64,
    /// Source splits (partitions) this instance read the direction from.
    splits: Vec<u32>,
}

/// The congestion analysis of every checkpoint direction.
pub struct Congestion {
    cfg: CongestionConfig,
    size_ms: i64,
    families: CongestionFamilies,
    dirs: Vec<DirState>,
    dir_index: FxHashMap<(u32, Direction), usize>,
    /// Per lane id: (direction index, what its departures showed).
    lanes: Vec<Option<(usize, LaneTrack)>>,
    /// Windows analysed in the last sweep, for observers.
    out: Vec<CheckpointWindow>,
}

impl Congestion {
    /// Every registered lane of `lanes` (dense ids) with its direction, kind and
    /// schedule; `size_ms` is the analysis window.
    pub fn new<T>(
        cfg: &CongestionConfig,
        registry: &Registry<T>,
        lanes: &Lanes,
        size_ms: i64,
    ) -> Self {
        let mut c = Congestion {
            cfg: cfg.clone(),
            size_ms,
            families: CongestionFamilies::new(),
            dirs: Vec::new(),
            dir_index: FxHashMap::default(),
            lanes: Vec::new(),
            out: Vec::new(),
        };
        for cp in &registry.checkpoints {
            for l in &cp.lanes {
                let Some(id) = lanes.find(&cp.id, l.direction, &l.id) else {
                    continue;
                };
                let cpi = lanes.lanes[id as usize].checkpoint;
                let d = c.dir(cpi, l.direction, &cp.id, cp.inspection_s, &cp.zone);
                c.track(id, d, l.kind, Some(l.open.clone()));
            }
        }
        c
    }

    pub fn families(&self) -> &CongestionFamilies {
        &self.families
    }

    fn dir(
        &mut self,
        checkpoint: u32,
        direction: Direction,
        name: &str,
        insp: [f64; 6],
        zone: &crate::engine::time::Zone,
    ) -> usize {
        if let Some(&i) = self.dir_index.get(&(checkpoint, direction)) {
            return i;
        }
        let i = self.dirs.len();
        self.dirs.push(DirState {
            checkpoint: name.to_owned(),
            direction,
            gauges: self.families.dir(name, direction),
            lanes: Vec::new(),
            class_inspection_s: insp,
            zone: zone.clone(),
            arrivals: BTreeMap::new(),
            advised_until: i64::MIN,
            sealed_until: i64::MIN,
            seal_blocker: None,
            known_ms: i64::MIN,
            history: InspectionHistory::default(),
            pending: BTreeMap::new(),
            departed: BTreeMap::new(),
            hysteresis: Hysteresis::default(),
            last_congested: false,
            last_departed: i64::MIN,
            splits: Vec::new(),
        });
        self.dir_index.insert((checkpoint, direction), i);
        i
    }

    fn track(&mut self, lane: u32, dir: usize, kind: LaneKind, schedule: Option<Vec<(u32, u32)>>) {
        let d = &mut self.dirs[dir];
        let pos = d.lanes.len();
        d.lanes.push(lane);
        d.gauges.lanes.set(d.lanes.len() as f64);
        let kind_i = advice::kind_index(kind);
        let insp_ms = d.class_inspection_s[[0, 1, 2, 0][kind_i]] * 1000.0;
        let li = lane as usize;
        if self.lanes.len() <= li {
            self.lanes.resize_with(li + 1, || None);
        }
        self.lanes[li] = Some((dir, LaneTrack::new(pos, kind, schedule, insp_ms)));
    }

    /// An accepted event of `lane` read from source split `split` (late ones included:
    /// a vehicle is a vehicle).
    pub fn observe(&mut self, lane: u32, checkpoint: u32, split: u32, ev: &Event<'_>) {
        let li = lane as usize;
        if self.lanes.get(li).is_none_or(Option::is_none) {
            // A lane not in the registry: any vehicle, never scheduled.
            let d = self.dir(
                checkpoint,
                ev.direction,
                &ev.checkpoint,
                crate::engine::registry::default_inspection_s(),
                &crate::engine::time::default_zone(),
            );
            self.track(lane, d, LaneKind::Mixed, None);
        }
        let Some((d, track)) = self.lanes[li].as_mut() else {
            return;
        };
        let d = *d;
        track.observe(ev);
        let dir = &mut self.dirs[d];
        if !dir.splits.contains(&split) {
            dir.splits.push(split);
            dir.gauges.partitions.set(dir.splits.len() as f64);
        }
        let start = window_start(ev.arrived_ms, self.size_ms);
        if start >= dir.advised_until.max(dir.sealed_until) {
            dir.arrivals
                .entry(start)
                .or_default()
                .add(track.pos, track.kind, ev);
        }
        dir.known_ms = dir.known_ms.max(ev.departed_ms);
        self.seal(d);
    }

    /// Seal the direction's oldest windows whose arrivals are all known now.
    fn seal(&mut self, d: usize) {
        let size = self.size_ms;
        let dir = &mut self.dirs[d];
        if dir.sealed_until == i64::MIN {
            match dir.arrivals.keys().next() {
                Some(&first) => dir.sealed_until = first,
                None => return,
            }
        }
        let coverage = |l: u32| {
            self.lanes[l as usize]
                .as_ref()
                .map_or(i64::MIN, |(_, t)| t.coverage_ms(dir.known_ms))
        };
        if let Some(b) = dir.seal_blocker
            && dir.lanes.contains(&b)
        {
            let c = coverage(b).min(dir.known_ms);
            if c == i64::MIN || window_start(c, size) <= dir.sealed_until {
                return;
            }
        }
        // Every window ending where all lanes' arrivals are known is sealed: jump there
        // at once (an outlier event far in time must not make this loop per window).
        let Some((covered, blocker)) = dir.lanes.iter().map(|&l| (coverage(l), l)).min() else {
            return;
        };
        dir.seal_blocker = Some(blocker);
        let covered = covered.min(dir.known_ms);
        if covered != i64::MIN {
            dir.sealed_until = dir.sealed_until.max(window_start(covered, size));
        }
    }

    /// The source's split `split` went to another consumer: directions read only from
    /// it are that consumer's to report; their gauges go back to the start-up state
    /// (which every aggregation across instances ignores).
    pub fn revoke_split(&mut self, split: u32) {
        for dir in &mut self.dirs {
            let before = dir.splits.len();
            dir.splits.retain(|&s| s != split);
            if dir.splits.len() != before {
                dir.gauges.partitions.set(dir.splits.len() as f64);
                if dir.splits.is_empty() {
                    dir.gauges.reset();
                }
            }
        }
    }

    /// Feed a closed lane window (only the congestion window size is used).
    pub fn window_closed(&mut self, lane: u32, w: &ClosedWindow<'_>) {
        if w.size_idx != self.cfg.window_idx {
            return;
        }
        // Lane gauges: level of service and queue length (Little's law).
        let rate = w.count as f64 / (w.size_ms as f64 / 60_000.0);
        if let Some(mean) = w.data.mean_passage_s() {
            w.stats.level_of_service.set(f64::from(level_of_service(
                mean * 1000.0,
                &self.cfg.los_bands_ms,
            )));
            let wq = mean - w.data.mean_inspection_s().unwrap_or(0.0);
            w.stats.queue_length.set(rate * wq.max(0.0) / 60.0);
        } else {
            w.stats.queue_length.set(0.0);
        }
        let Some(Some((d, _))) = self.lanes.get(lane as usize) else {
            return;
        };
        if !w.data.samples.is_empty() {
            self.dirs[*d]
                .pending
                .entry(w.start_ms)
                .or_default()
                .extend_from_slice(&w.data.samples);
        }
    }

    /// After a sweep of `checkpoint` up to watermark `wm`: analyse its directions'
    /// closed departure windows, then give the advice for every arrival window that
    /// ended `settle` before the watermark. Returns the analyses for observers.
    pub fn swept(&mut self, checkpoint: u32, wm: i64) -> &[CheckpointWindow] {
        self.out.clear();
        for d in Direction::ALL {
            if let Some(&i) = self.dir_index.get(&(checkpoint, d)) {
                self.analyse(i, wm, false);
            }
        }
        &self.out
    }

    /// End of a replay: analyse everything still pending.
    pub fn flush(&mut self) -> &[CheckpointWindow] {
        self.out.clear();
        for i in 0..self.dirs.len() {
            self.analyse(i, i64::MAX / 4, true);
        }
        &self.out
    }

    fn analyse(&mut self, i: usize, wm: i64, all: bool) {
        let size = self.size_ms;
        let dir = &mut self.dirs[i];
        // Departures: every window the lanes reported closed.
        for (start, mut samples) in std::mem::take(&mut dir.pending) {
            samples.sort_unstable();
            let n = samples.len();
            let p95_ms = f64::from(nearest_rank(&samples, 0.95));
            let mean_s = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / n as f64 / 1000.0;
            let los = level_of_service(mean_s * 1000.0, &self.cfg.los_bands_ms);
            let congested = dir
                .hysteresis
                .update(Some(p95_ms), n as u64, start + size, &self.cfg);
            let g = &dir.gauges;
            g.p95.set(p95_ms / 1000.0);
            g.los.set(f64::from(los));
            g.congested.set(f64::from(u8::from(congested)));
            g.set_congested_since(congested.then(|| dir.hysteresis.since_ms()).flatten());
            dir.last_departed = dir.last_departed.max(start);
            dir.departed.insert(
                start,
                Departures {
                    passages: n as u64,
                    p95_s: Some(p95_ms / 1000.0),
                    mean_s: Some(mean_s),
                    los: Some(los),
                    congested,
                    known_at_ms: dir.known_ms,
                },
            );
        }
        // Advice: arrival windows that ended `settle` before the watermark, once every
        // lane's arrivals are known to their end — or `settle_max` before it at the
        // latest (a queue longer than that: the still-queued part is estimated).
        let (limit, limit_max) = if all {
            (i64::MAX, i64::MAX)
        } else {
            (
                wm.saturating_sub(size + self.cfg.settle_ms),
                wm.saturating_sub(size + self.cfg.settle_max_ms),
            )
        };
        let mut starts: Vec<i64> = dir
            .arrivals
            .range(..=limit)
            .map(|(&s, _)| s)
            .chain(dir.departed.range(..=limit).map(|(&s, _)| s))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let dir = &mut self.dirs[i];
        let lanes: Vec<&LaneTrack> = dir
            .lanes
            .iter()
            .filter_map(|&l| self.lanes[l as usize].as_ref().map(|(_, t)| t))
            .collect();
        let known_ms = dir.known_ms;
        let mut waiting = None;
        let mut newest = None;
        for start in starts {
            if start >= dir.sealed_until && start > limit_max {
                waiting = Some(start);
                break;
            }
            newest = Some(start);
            let arrivals = dir.arrivals.remove(&start).unwrap_or_default();
            let departures = dir.departed.remove(&start);
            let at = advice::At {
                start_ms: start,
                size_ms: size,
                known_ms,
                local_minute: crate::engine::time::local_minute(start + size / 2, &dir.zone),
            };
            let e = advice::estimate(&arrivals, at, &lanes, &dir.history, &dir.class_inspection_s);
            dir.history.push(start, &arrivals);
            let minutes = size as f64 / 60_000.0;
            let lambda = e.arrivals / minutes;
            let mu = e.inspection_mean_s.filter(|&s| s > 0.0).map(|s| 60.0 / s);
            let n_lanes = dir.lanes.len() as u32;
            let target = self.cfg.target_wait_ms as f64 / 60_000.0;
            let (rec, wait_p) = match mu {
                Some(mu) => (
                    erlang::recommend(lambda, mu, target, self.cfg.risk, n_lanes),
                    erlang::prob_wait_exceeds(e.open_lanes, lambda, mu, target),
                ),
                None => (
                    erlang::Recommendation {
                        lanes: 0,
                        capacity_exceeded: false,
                        probability: 0.0,
                    },
                    0.0,
                ),
            };
            if let Some(d) = departures {
                dir.last_congested = d.congested;
            }
            let g = &dir.gauges;
            g.arrival.set(lambda);
            g.service.set(mu.unwrap_or(f64::NAN));
            g.open.set(f64::from(e.open_lanes));
            g.recommended.set(f64::from(rec.lanes));
            g.exceeded.set(f64::from(u8::from(rec.capacity_exceeded)));
            g.wait_probability.set(wait_p);
            self.out.push(CheckpointWindow {
                checkpoint: dir.checkpoint.clone(),
                direction: dir.direction,
                start_ms: start,
                size_ms: size,
                passages: departures.map_or(0, |d| d.passages),
                p95_s: departures.and_then(|d| d.p95_s),
                mean_passage_s: departures.and_then(|d| d.mean_s),
                arrivals: e.arrivals,
                arrival_rate: lambda,
                service_rate: mu,
                open_lanes: e.open_lanes,
                lanes: n_lanes,
                recommended_lanes: rec.lanes,
                capacity_exceeded: rec.capacity_exceeded,
                wait_probability: wait_p,
                level_of_service: departures.and_then(|d| d.los),
                congested: dir.last_congested,
                closed_at_ms: departures.map_or(start + size, |d| d.known_at_ms),
                advised_at_ms: known_ms.max(start + size),
            });
        }
        if all {
            return;
        }
        // Quiet windows are no evidence of congestion, but the gauges must not repeat
        // the last busy window: nothing departed in the newest closed window (NaN p95,
        // as for a blocked direction), nothing arrived in the newest advised one.
        if dir.last_departed < window_start(wm, size) - size {
            dir.gauges.p95.set(f64::NAN);
        }
        if let Some(w) = waiting {
            dir.advised_until = dir.advised_until.max(w);
            return;
        }
        let newest_limit = window_start(limit, size);
        if newest_limit >= dir.advised_until {
            if newest != Some(newest_limit) {
                let g = &dir.gauges;
                g.arrival.set(0.0);
                g.recommended.set(0.0);
                g.exceeded.set(0.0);
                g.wait_probability.set(0.0);
            }
            dir.advised_until = newest_limit + size;
        }
    }
}
