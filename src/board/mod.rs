//! The live board (`GET /`) and its JSON API (`GET /api/v1/board`): a snapshot of every
//! checkpoint direction read typed from the in-process state (the congestion gauges,
//! each lane's cells), the alert conditions the duty officer is paged on evaluated on
//! the same values, and an hour of per-minute history kept in a small ring. The page
//! itself (HTML, CSS, vanilla JS, no external resources) is embedded from `assets/`.
//!
//! Mirrored alert rules (deploy/prometheus/alerts.yml), without their `for:` durations:
//! `CheckpointCongested` (the congested gauge), `CheckpointCapacityExceeded` (the
//! capacity-exceeded gauge) and `LaneStalled` ([`stall`]). The pipeline pages
//! (`LanewatchDown`, `LanewatchNoEvents`) are about the service, not a checkpoint: the
//! snapshot's `ready` field stands for them.

pub mod stall;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::engine::congestion::metrics::{CongestionFamilies, DirReading};
use crate::engine::congestion::state::los_letter;
use crate::engine::event::Direction;
use crate::engine::lanes::{LaneSeries, LaneStats, window_label};
use crate::engine::time::Zone;
use crate::health::Health;

/// The page, its style sheet and script, served from the binary.
pub const PAGE_HTML: &str = include_str!("assets/board.html");
pub const PAGE_CSS: &str = include_str!("assets/board.css");
pub const PAGE_JS: &str = include_str!("assets/board.js");

/// Version of the JSON API (`/api/v1/…` and the `version` field).
pub const API_VERSION: u32 = 1;

/// Points of history per direction: one a minute for an hour.
const HISTORY_POINTS: usize = 60;
/// A lane's passage counts kept for its 30-minute departure rate (`LaneStalled`).
const RATE_WINDOW_MS: i64 = 30 * 60_000;

/// The board's view of a running pipeline (cheap to clone).
#[derive(Clone)]
pub struct Board(Arc<Inner>);

struct Inner {
    families: CongestionFamilies,
    lanes: LaneSeries,
    health: Arc<Health>,
    zone: Zone,
    window_idx: usize,
    window: String,
    /// Index of the 0.95 quantile among `windows.quantiles`, if configured.
    p95_idx: Option<usize>,
    history: Mutex<History>,
}

#[derive(Default)]
struct History {
    dirs: HashMap<(String, &'static str), VecDeque<Point>>,
    /// `(sampled at, passages)` per lane, oldest first.
    lanes: HashMap<(String, String, String), VecDeque<(i64, u64)>>,
}

#[derive(Debug, Clone, Copy)]
struct Point {
    t_ms: i64,
    p95_s: f64,
    arrival: f64,
}

/// `GET /api/v1/board`.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub version: u32,
    pub generated_at: String,
    pub time_zone: String,
    /// The window of lane throughput and p95 and of the congestion analysis (`5m`).
    pub window: String,
    /// Connected with a settled group assignment (what `/readyz` answers 200 for).
    pub ready: bool,
    /// Alert rules whose conditions `pages` mirror.
    pub mirrored_alerts: &'static [&'static str],
    pub checkpoints: Vec<Tile>,
}

/// One checkpoint direction.
#[derive(Debug, Serialize)]
pub struct Tile {
    pub checkpoint: String,
    pub direction: &'static str,
    /// `A`…`F`; `null` before the first analysed window.
    pub level_of_service: Option<char>,
    pub p95_seconds: Option<f64>,
    pub arrival_per_minute: Option<f64>,
    /// Sum of the lanes' departures per minute over the window.
    pub throughput_per_minute: f64,
    pub service_per_minute: Option<f64>,
    pub open_lanes: Option<u32>,
    /// Lanes the direction has (registered and seen).
    pub lane_count: Option<u32>,
    pub recommended_lanes: Option<u32>,
    pub capacity_exceeded: bool,
    pub wait_probability: Option<f64>,
    pub congested: bool,
    pub congested_since: Option<String>,
    pub pages: Vec<Page>,
    pub history: Vec<HistoryPoint>,
    pub lanes: Vec<LaneTile>,
}

/// An alert condition that pages, holding now.
#[derive(Debug, Serialize)]
pub struct Page {
    pub alert: &'static str,
    pub severity: &'static str,
    pub lane: Option<String>,
    pub summary: String,
}

#[derive(Debug, Serialize)]
pub struct HistoryPoint {
    pub t: String,
    pub p95_seconds: Option<f64>,
    pub arrival_per_minute: Option<f64>,
}

/// One lane.
#[derive(Debug, Serialize)]
pub struct LaneTile {
    pub lane: String,
    pub passages: u64,
    pub throughput_per_minute: f64,
    pub p95_seconds: Option<f64>,
    pub last_departure: Option<String>,
    /// Event-time seconds its newest departure trails its direction's newest.
    pub silent_seconds: Option<f64>,
    pub scheduled_open: bool,
    pub stalled: bool,
}

const MIRRORED: &[&str] = &[
    "CheckpointCongested",
    "CheckpointCapacityExceeded",
    "LaneStalled",
];

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A gauge holding a count of lanes (`None`: unknown).
fn count(v: f64) -> Option<u32> {
    (v.is_finite() && v >= 0.0).then_some(v.round() as u32)
}

/// `754.2` → `12m 34s`.
fn duration_text(s: f64) -> String {
    if !s.is_finite() {
        return "unknown".into();
    }
    let s = s.round() as i64;
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

impl Snapshot {
    /// The board of a server without a pipeline.
    pub fn empty(now_ms: i64) -> Snapshot {
        let zone = crate::engine::time::default_zone();
        Snapshot {
            version: API_VERSION,
            generated_at: crate::engine::time::format_in(now_ms, &zone),
            time_zone: crate::engine::time::zone_name(&zone),
            window: String::new(),
            ready: false,
            mirrored_alerts: MIRRORED,
            checkpoints: Vec::new(),
        }
    }
}

impl Board {
    pub fn new(
        config: &Config,
        families: CongestionFamilies,
        lanes: LaneSeries,
        health: Arc<Health>,
    ) -> Board {
        let window_idx = config.congestion.window_idx;
        let zones: Vec<&Zone> = config
            .registry
            .checkpoints
            .iter()
            .map(|c| &c.zone)
            .collect();
        let zone = match zones.first() {
            Some(z) if zones.iter().all(|o| o == z) => (*z).clone(),
            _ => crate::engine::time::default_zone(),
        };
        Board(Arc::new(Inner {
            families,
            lanes,
            health,
            zone,
            window_idx,
            window: config
                .windows
                .sizes_ms
                .get(window_idx)
                .map_or_else(String::new, |&w| window_label(w)),
            p95_idx: config
                .windows
                .quantiles
                .iter()
                .position(|&q| (q - 0.95).abs() < 1e-9),
            history: Mutex::new(History::default()),
        }))
    }

    /// Record one history point per direction and each lane's passage count.
    pub fn sample(&self, now_ms: i64) {
        let dirs = self.0.families.read();
        let lanes = self.0.lanes.snapshot();
        let mut h = self.0.history.lock().unwrap_or_else(|e| e.into_inner());
        for d in dirs {
            let ring = h
                .dirs
                .entry((d.checkpoint, d.direction.as_str()))
                .or_default();
            ring.push_back(Point {
                t_ms: now_ms,
                p95_s: d.p95_seconds,
                arrival: d.arrival_per_minute,
            });
            while ring.len() > HISTORY_POINTS {
                ring.pop_front();
            }
        }
        for l in &lanes {
            let (c, d, id) = l.ident();
            let ring = h.lanes.entry((c.into(), d.into(), id.into())).or_default();
            ring.push_back((now_ms, l.passages.get()));
            while ring
                .front()
                .is_some_and(|&(t, _)| t < now_ms - RATE_WINDOW_MS)
            {
                ring.pop_front();
            }
        }
        // Lanes that went away (an unregistered lane expired): forget them.
        h.lanes
            .retain(|_, ring| ring.back().is_some_and(|&(t, _)| t == now_ms));
    }

    /// Sample every `every` until `stop` (the first sample at once).
    pub async fn sample_every(self, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => self.sample(crate::engine::time::now_ms()),
            }
        }
    }

    /// The board as it is at `now_ms`.
    pub fn snapshot(&self, now_ms: i64) -> Snapshot {
        let inner = &self.0;
        let dirs = inner.families.read();
        let lanes = inner.lanes.snapshot();
        let history = inner.history.lock().unwrap_or_else(|e| e.into_inner());
        let mut tiles: Vec<Tile> = dirs.iter().map(|d| self.tile(d, &history)).collect();
        let mut index: HashMap<(String, &'static str), usize> = tiles
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.checkpoint.clone(), t.direction), i))
            .collect();
        // Lanes by tile, in their creation order.
        let mut by_tile: Vec<Vec<&LaneStats>> = vec![Vec::new(); tiles.len()];
        for l in &lanes {
            let (c, d, _) = l.ident();
            let Some(&direction) = Direction::ALL.iter().find(|x| x.as_str() == d) else {
                continue;
            };
            let i = *index
                .entry((c.to_owned(), direction.as_str()))
                .or_insert_with(|| {
                    // A direction the analysis has not seen yet: nothing known of it.
                    tiles.push(self.tile(&DirReading::unknown(c, direction), &history));
                    by_tile.push(Vec::new());
                    tiles.len() - 1
                });
            by_tile[i].push(l);
        }
        for (i, ls) in by_tile.into_iter().enumerate() {
            let newest = ls
                .iter()
                .map(|l| l.last_departure.get())
                .fold(0.0, f64::max);
            let tile = &mut tiles[i];
            for l in ls {
                let lt = self.lane(l, newest, &history, now_ms);
                tile.throughput_per_minute += lt.throughput_per_minute;
                if lt.stalled {
                    tile.pages.push(Page {
                        alert: "LaneStalled",
                        severity: "page",
                        lane: Some(lt.lane.clone()),
                        summary: format!(
                            "Lane {} at {} {} has cleared no vehicle for {}",
                            lt.lane,
                            tile.checkpoint,
                            tile.direction,
                            duration_text(lt.silent_seconds.unwrap_or(f64::NAN))
                        ),
                    });
                }
                tile.lanes.push(lt);
            }
        }
        Snapshot {
            version: API_VERSION,
            generated_at: crate::engine::time::format_in(now_ms, &inner.zone),
            time_zone: crate::engine::time::zone_name(&inner.zone),
            window: inner.window.clone(),
            ready: inner.health.ready().is_ok(),
            mirrored_alerts: MIRRORED,
            checkpoints: tiles,
        }
    }

    fn tile(&self, d: &DirReading, history: &History) -> Tile {
        let zone = &self.0.zone;
        let name = format!("{} {}", d.checkpoint, d.direction.as_str());
        let mut pages = Vec::new();
        if d.congested {
            pages.push(Page {
                alert: "CheckpointCongested",
                severity: "page",
                lane: None,
                summary: format!(
                    "{name} is congested: p95 passage time {}",
                    duration_text(d.p95_seconds)
                ),
            });
        }
        if d.capacity_exceeded {
            pages.push(Page {
                alert: "CheckpointCapacityExceeded",
                severity: "page",
                lane: None,
                summary: format!(
                    "{name}: {:.1} vehicles/min arrive, more than every lane can clear",
                    d.arrival_per_minute
                ),
            });
        }
        let history = history
            .dirs
            .get(&(d.checkpoint.clone(), d.direction.as_str()))
            .map(|ring| {
                ring.iter()
                    .map(|p| HistoryPoint {
                        t: crate::engine::time::format_in(p.t_ms, zone),
                        p95_seconds: finite(p.p95_s),
                        arrival_per_minute: finite(p.arrival),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Tile {
            checkpoint: d.checkpoint.clone(),
            direction: d.direction.as_str(),
            level_of_service: finite(d.level_of_service).map(|l| los_letter(l as u8)),
            p95_seconds: finite(d.p95_seconds),
            arrival_per_minute: finite(d.arrival_per_minute),
            throughput_per_minute: 0.0,
            service_per_minute: finite(d.service_per_minute),
            open_lanes: count(d.open_lanes),
            lane_count: count(d.lanes),
            recommended_lanes: count(d.recommended_lanes),
            capacity_exceeded: d.capacity_exceeded,
            wait_probability: finite(d.wait_probability),
            congested: d.congested,
            congested_since: d
                .congested_since_ms
                .filter(|_| d.congested)
                .map(|ms| crate::engine::time::format_in(ms, zone)),
            pages,
            history,
            lanes: Vec::new(),
        }
    }

    fn lane(&self, l: &LaneStats, newest_s: f64, history: &History, now_ms: i64) -> LaneTile {
        let inner = &self.0;
        let (c, d, id) = l.ident();
        let passages = l.passages.get();
        let last = l.last_departure.get();
        let gap = (last > 0.0).then_some(newest_s - last);
        // Departures per second over the last 30 minutes of samples (Prometheus'
        // `rate(...[30m])` of the counter, as the recording rule has it).
        let rate = history
            .lanes
            .get(&(c.to_owned(), d.to_owned(), id.to_owned()))
            .and_then(|ring| {
                let &(t0, n0) = ring.iter().find(|&&(t, _)| t >= now_ms - RATE_WINDOW_MS)?;
                let dt = (now_ms - t0) as f64 / 1000.0;
                (dt >= 60.0).then(|| passages.saturating_sub(n0) as f64 / dt)
            });
        let scheduled_open = l.schedule.as_ref().is_none_or(|s| s.open_at(now_ms));
        let stalled = stall::stalled(&stall::StallInputs {
            gap_s: newest_s - last,
            inspection_max_s: l.inspection_max_s,
            passed_over_s: newest_s - l.passed_over_since.get(),
            lanes_of_kind: l.lanes_of_kind,
            rate_per_s: rate,
            scheduled_open,
        });
        LaneTile {
            lane: id.to_owned(),
            passages,
            throughput_per_minute: l.throughput.get(inner.window_idx).map_or(0.0, |c| c.get()),
            p95_seconds: inner
                .p95_idx
                .and_then(|q| finite(l.quantile(inner.window_idx, q).get())),
            last_departure: (last > 0.0).then(|| {
                crate::engine::time::format_in((last * 1000.0).round() as i64, &inner.zone)
            }),
            silent_seconds: gap,
            scheduled_open,
            stalled,
        }
    }
}

#[cfg(test)]
mod tests;
