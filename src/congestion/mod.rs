//! Congestion intelligence per checkpoint direction, from the closed windows of its
//! lanes: arrival rate λ, service rate μ, open lanes, queue length by Little's law,
//! the Erlang C recommendation of lanes to open, level of service and the congestion
//! state with hysteresis — exported as gauges and reported to observers (replay).
//!
//! Estimates, from departures only (what the sensors report):
//! - λ: a FIFO queue's departures in a window of length `w` arrived during a stretch
//!   shorter by the change `ΔW` of the mean passage time, so
//!   `λ = departures / (w − ΔW)` (clamped to [0.1, 10]× the departure rate). In a
//!   saturated direction this exceeds the departure rate, which alone never could.
//! - μ per lane: `1 / mean inspection time` where events carry `inspection_started_at`,
//!   else the lane's saturation flow (its highest departures per minute over the last
//!   hour of windows).
//! - open lanes: lanes with departures in the window, plus registered lanes whose
//!   schedule (`open` in the registry) has them open then.
//! - queue length per lane: `L = λ_lane · W_q` with `W_q` the mean passage minus the
//!   mean inspection time (the whole passage when inspections are not reported).

pub mod erlang;
pub mod metrics;
pub mod state;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::config::{CongestionConfig, LaneDef, Registry};
use crate::event::Direction;
use crate::lanes::{CheckpointWindow, ClosedWindow, window::nearest_rank};
use metrics::{CongestionFamilies, DirGauges};
use state::{Hysteresis, level_of_service};

/// Windows of saturation flow kept per lane (an hour of 5-minute windows).
const SATURATION_HISTORY: usize = 12;

struct LaneState {
    /// Registry schedule (minutes since local midnight); `None`: unscheduled.
    schedule: Option<Vec<(u32, u32)>>,
    /// Departures per minute of recent windows, newest last.
    recent_rates: Vec<f64>,
}

#[derive(Default)]
struct Accum {
    samples: Vec<u32>,
    open: u32,
    /// Σ μ and count over open lanes with a service-rate estimate.
    mu_sum: f64,
    mu_n: u32,
}

struct DirState {
    checkpoint: String,
    direction: Direction,
    gauges: DirGauges,
    lanes: Vec<u32>,
    pending: BTreeMap<i64, Accum>,
    prev_mean_s: Option<f64>,
    hysteresis: Hysteresis,
}

/// The congestion analysis of every checkpoint direction.
pub struct Congestion {
    cfg: CongestionConfig,
    families: CongestionFamilies,
    schedules: FxHashMap<(String, Direction, String), Vec<(u32, u32)>>,
    dirs: Vec<DirState>,
    dir_index: FxHashMap<(u32, Direction), usize>,
    lanes: Vec<Option<LaneState>>,
    /// Windows analysed in the last sweep, for observers.
    out: Vec<CheckpointWindow>,
}

impl Congestion {
    pub fn new(cfg: &CongestionConfig, registry: &Registry) -> Self {
        let families = CongestionFamilies::new();
        let mut schedules = FxHashMap::default();
        for (cp, l) in registry.lanes() {
            let LaneDef {
                direction,
                id,
                open,
                ..
            } = l;
            if !open.is_empty() {
                schedules.insert((cp.id.clone(), *direction, id.clone()), open.clone());
            }
        }
        // Registered checkpoint directions are exported from start-up.
        for cp in &registry.checkpoints {
            for d in Direction::ALL {
                if cp.lanes.iter().any(|l| l.direction == d) {
                    families.dir(&cp.id, d);
                }
            }
        }
        Congestion {
            cfg: cfg.clone(),
            families,
            schedules,
            dirs: Vec::new(),
            dir_index: FxHashMap::default(),
            lanes: Vec::new(),
            out: Vec::new(),
        }
    }

    pub fn families(&self) -> &CongestionFamilies {
        &self.families
    }

    /// Feed a closed lane window (only the configured congestion window is used).
    pub fn window_closed(&mut self, lane: u32, w: &ClosedWindow<'_>) {
        if w.size_idx != self.cfg.window_idx {
            return;
        }
        let li = lane as usize;
        if self.lanes.len() <= li {
            self.lanes.resize_with(li + 1, || None);
        }
        let ls = self.lanes[li].get_or_insert_with(|| LaneState {
            schedule: self
                .schedules
                .get(&(w.key.checkpoint.clone(), w.direction, w.key.lane.clone()))
                .cloned(),
            recent_rates: Vec::new(),
        });
        let minutes = w.size_ms as f64 / 60_000.0;
        let rate = w.count as f64 / minutes;
        if w.count > 0 {
            if ls.recent_rates.len() == SATURATION_HISTORY {
                ls.recent_rates.remove(0);
            }
            ls.recent_rates.push(rate);
        }
        let mu = match w.data.mean_inspection_s() {
            Some(s) if w.data.inspection_n >= 3 && s > 0.0 => Some(60.0 / s),
            _ => ls.recent_rates.iter().copied().reduce(f64::max),
        };
        let local_minute =
            ((w.start_ms + w.size_ms / 2).div_euclid(60_000) + 8 * 60).rem_euclid(1440) as u32;
        let scheduled = ls.schedule.as_ref().is_some_and(|s| {
            s.iter()
                .any(|&(a, b)| local_minute >= a && local_minute < b)
        });
        let open = w.count > 0 || scheduled;
        // Lane gauges: level of service and queue length.
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
        let d = self.dir(w.checkpoint, w.direction, &w.key.checkpoint);
        let dir = &mut self.dirs[d];
        if !dir.lanes.contains(&lane) {
            dir.lanes.push(lane);
        }
        let acc = dir.pending.entry(w.start_ms).or_default();
        acc.samples.extend_from_slice(&w.data.samples);
        if open {
            acc.open += 1;
            if let Some(mu) = mu {
                acc.mu_sum += mu;
                acc.mu_n += 1;
            }
        }
    }

    fn dir(&mut self, checkpoint: u32, direction: Direction, name: &str) -> usize {
        if let Some(&i) = self.dir_index.get(&(checkpoint, direction)) {
            return i;
        }
        let i = self.dirs.len();
        self.dirs.push(DirState {
            checkpoint: name.to_owned(),
            direction,
            gauges: self.families.dir(name, direction),
            lanes: Vec::new(),
            pending: BTreeMap::new(),
            prev_mean_s: None,
            hysteresis: Hysteresis::default(),
        });
        self.dir_index.insert((checkpoint, direction), i);
        i
    }

    /// After a sweep of `checkpoint`: analyse its directions' windows, oldest first.
    /// Returns the analyses for observers.
    pub fn swept(&mut self, checkpoint: u32, size_ms: i64) -> &[CheckpointWindow] {
        self.out.clear();
        for d in Direction::ALL {
            let Some(&i) = self.dir_index.get(&(checkpoint, d)) else {
                continue;
            };
            let dir = &mut self.dirs[i];
            let pending = std::mem::take(&mut dir.pending);
            for (start, mut acc) in pending {
                let cw = analyse(&self.cfg, dir, start, size_ms, &mut acc);
                self.out.push(cw);
            }
        }
        &self.out
    }
}

fn analyse(
    cfg: &CongestionConfig,
    dir: &mut DirState,
    start: i64,
    size_ms: i64,
    acc: &mut Accum,
) -> CheckpointWindow {
    let minutes = size_ms as f64 / 60_000.0;
    let passages = acc.samples.len() as u64;
    acc.samples.sort_unstable();
    let p95_ms = (!acc.samples.is_empty()).then(|| f64::from(nearest_rank(&acc.samples, 0.95)));
    let mean_s = (!acc.samples.is_empty()).then(|| {
        acc.samples.iter().map(|&s| f64::from(s)).sum::<f64>() / acc.samples.len() as f64 / 1000.0
    });
    let departures = passages as f64 / minutes;
    let arrival_rate = match (mean_s, dir.prev_mean_s) {
        (Some(now), Some(prev)) => {
            let dw_min = (now - prev) / 60.0;
            departures / (1.0 - dw_min / minutes).clamp(0.1, 10.0)
        }
        _ => departures,
    };
    if mean_s.is_some() {
        dir.prev_mean_s = mean_s;
    }
    let service_rate = (acc.mu_n > 0).then(|| acc.mu_sum / f64::from(acc.mu_n));
    let lanes = dir.lanes.len() as u32;
    let target = cfg.target_wait_ms as f64 / 60_000.0;
    let (rec, wait_p) = match service_rate {
        Some(mu) => (
            erlang::recommend(arrival_rate, mu, target, cfg.risk, lanes),
            erlang::prob_wait_exceeds(acc.open, arrival_rate, mu, target),
        ),
        None => (
            erlang::Recommendation {
                lanes: acc.open,
                capacity_exceeded: false,
                probability: 0.0,
            },
            0.0,
        ),
    };
    let los = mean_s.map(|m| level_of_service(m * 1000.0, &cfg.los_bands_ms));
    let congested = dir.hysteresis.update(p95_ms, start + size_ms, cfg);
    let g = &dir.gauges;
    g.arrival.set(arrival_rate);
    g.service.set(service_rate.unwrap_or(f64::NAN));
    g.open.set(f64::from(acc.open));
    g.lanes.set(f64::from(lanes));
    g.recommended.set(f64::from(rec.lanes));
    g.exceeded.set(f64::from(u8::from(rec.capacity_exceeded)));
    g.wait_probability.set(wait_p);
    g.p95.set(p95_ms.map_or(f64::NAN, |p| p / 1000.0));
    if let Some(l) = los {
        g.los.set(f64::from(l));
    }
    g.congested.set(f64::from(u8::from(congested)));
    CheckpointWindow {
        checkpoint: dir.checkpoint.clone(),
        direction: dir.direction,
        start_ms: start,
        size_ms,
        passages,
        p95_s: p95_ms.map(|p| p / 1000.0),
        mean_passage_s: mean_s,
        arrival_rate,
        service_rate,
        open_lanes: acc.open,
        lanes,
        recommended_lanes: rec.lanes,
        capacity_exceeded: rec.capacity_exceeded,
        wait_probability: wait_p,
        level_of_service: los,
        congested,
    }
}
