//! Lane statistics: the dense lane index (registered lanes first, unregistered ones up
//! to a cap), each lane's cumulative series and event-time windows, and the per-checkpoint
//! watermark that closes them.

pub mod stats;
pub mod window;

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::config::Config;
use crate::event::{Direction, Event};
pub use stats::{LaneSeries, LaneStats, window_label};
pub use window::{
    CheckpointWindow, ClosedWindow, QuantileScratch, WindowData, WindowSet, window_start,
};

/// Identity of a lane.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LaneKey {
    pub checkpoint: String,
    pub direction: Direction,
    pub lane: String,
}

/// One lane: identity, series, open windows and headway state.
pub struct Lane {
    pub key: LaneKey,
    pub checkpoint: u32,
    pub registered: bool,
    pub stats: LaneStats,
    pub windows: Vec<WindowSet>,
    last_departure_ms: Option<i64>,
}

/// Event-time state of one checkpoint.
#[derive(Debug)]
pub struct CheckpointState {
    pub id: String,
    /// Newest departure seen (event time); `i64::MIN` before the first.
    pub max_event_ms: i64,
    /// The next window boundary at which the lanes' windows are swept.
    next_sweep_ms: i64,
    pub lanes: Vec<u32>,
}

/// Result of looking up a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    Lane(u32),
    /// Unregistered and over `lanes.max_dynamic_lanes`: counted, no new series.
    Overflow,
}

/// Hooks for what the pipeline sees besides the exported series (the replay report,
/// congestion analysis). Every method has a do-nothing default.
pub trait Observer {
    /// Whether a valid event is in scope (replay's `[--from, --to)`); events out of
    /// scope are skipped before de-duplication and counted nowhere else.
    fn in_scope(&mut self, _ev: &Event<'_>) -> bool {
        true
    }
    /// An event was recorded on `lane`.
    fn accepted(&mut self, _lane: u32, _ev: &Event<'_>, _late: bool) {}
    /// A window of `lane` closed.
    fn window_closed(&mut self, _lane: u32, _window: &ClosedWindow<'_>) {}
    /// Every lane of `checkpoint` was swept up to `watermark_ms` (after its
    /// `window_closed` calls).
    fn swept(&mut self, _checkpoint: u32, _watermark_ms: i64) {}
    /// The congestion analysis of a checkpoint direction's window.
    fn checkpoint_window(&mut self, _window: &CheckpointWindow) {}
}

impl Observer for () {}

/// All lanes of one pipeline.
pub struct Lanes {
    /// Dense ids by a hash of (checkpoint, direction, lane), compared against the key.
    index: HashTable<u32>,
    cp_index: FxHashMap<String, u32>,
    pub lanes: Vec<Lane>,
    pub checkpoints: Vec<CheckpointState>,
    dynamic: usize,
    max_dynamic: usize,
    series: LaneSeries,
    sizes_ms: Vec<i64>,
    lateness_ms: i64,
    quantiles: Vec<f64>,
    scratch: QuantileScratch,
}

fn lane_hash(checkpoint: &str, direction: Direction, lane: &str) -> u64 {
    let mut h = FxBuildHasher.build_hasher();
    h.write(checkpoint.as_bytes());
    h.write_u8(0xff);
    h.write_u8(direction as u8);
    h.write(lane.as_bytes());
    h.finish()
}

fn same(key: &LaneKey, checkpoint: &str, direction: Direction, lane: &str) -> bool {
    key.direction == direction && key.lane == lane && key.checkpoint == checkpoint
}

impl Lanes {
    /// Lanes of the registry, exported at zero from the start.
    pub fn new(config: &Config, series: LaneSeries) -> Self {
        let mut lanes = Lanes {
            index: HashTable::new(),
            cp_index: FxHashMap::default(),
            lanes: Vec::new(),
            checkpoints: Vec::new(),
            dynamic: 0,
            max_dynamic: config.max_dynamic_lanes,
            series,
            sizes_ms: config.windows.sizes_ms.clone(),
            lateness_ms: config.windows.allowed_lateness_ms,
            quantiles: config.windows.quantiles.clone(),
            scratch: QuantileScratch::new(),
        };
        for (cp, lane) in config.registry.lanes() {
            lanes.insert(&cp.id, lane.direction, &lane.id, true);
        }
        lanes
    }

    /// The lanes' series, for `/metrics`.
    pub fn series(&self) -> &LaneSeries {
        &self.series
    }

    pub fn window_sizes_ms(&self) -> &[i64] {
        &self.sizes_ms
    }

    pub fn quantiles(&self) -> &[f64] {
        &self.quantiles
    }

    /// Lanes not in the registry that have series.
    pub fn dynamic_count(&self) -> usize {
        self.dynamic
    }

    fn insert(
        &mut self,
        checkpoint: &str,
        direction: Direction,
        lane: &str,
        registered: bool,
    ) -> u32 {
        let cp = match self.cp_index.get(checkpoint) {
            Some(&c) => c,
            None => {
                let c = self.checkpoints.len() as u32;
                self.checkpoints.push(CheckpointState {
                    id: checkpoint.to_owned(),
                    max_event_ms: i64::MIN,
                    next_sweep_ms: i64::MIN,
                    lanes: Vec::new(),
                });
                self.cp_index.insert(checkpoint.to_owned(), c);
                c
            }
        };
        let id = self.lanes.len() as u32;
        let lanes = &self.lanes;
        self.index
            .insert_unique(lane_hash(checkpoint, direction, lane), id, |&i| {
                let k = &lanes[i as usize].key;
                lane_hash(&k.checkpoint, k.direction, &k.lane)
            });
        self.lanes.push(Lane {
            key: LaneKey {
                checkpoint: checkpoint.to_owned(),
                direction,
                lane: lane.to_owned(),
            },
            checkpoint: cp,
            registered,
            stats: self.series.lane(checkpoint, direction.as_str(), lane),
            windows: self.sizes_ms.iter().map(|&s| WindowSet::new(s)).collect(),
            last_departure_ms: None,
        });
        self.checkpoints[cp as usize].lanes.push(id);
        id
    }

    /// The dense id of a lane, creating it (up to the cap) when unregistered.
    pub fn resolve(&mut self, checkpoint: &str, direction: Direction, lane: &str) -> Resolve {
        if let Some(id) = self.find(checkpoint, direction, lane) {
            return Resolve::Lane(id);
        }
        if self.dynamic >= self.max_dynamic {
            return Resolve::Overflow;
        }
        self.dynamic += 1;
        Resolve::Lane(self.insert(checkpoint, direction, lane, false))
    }

    /// Look up a lane without creating it.
    pub fn find(&self, checkpoint: &str, direction: Direction, lane: &str) -> Option<u32> {
        let lanes = &self.lanes;
        self.index
            .find(lane_hash(checkpoint, direction, lane), |&i| {
                same(&lanes[i as usize].key, checkpoint, direction, lane)
            })
            .copied()
    }

    /// Record an accepted event on lane `id`. Returns `true` when the event was late
    /// (older than its checkpoint's watermark): it is in the cumulative series but in
    /// no window.
    pub fn record<O: Observer>(&mut self, id: u32, ev: &Event<'_>, observer: &mut O) -> bool {
        let lane = &mut self.lanes[id as usize];
        let s = &lane.stats;
        s.passages.inc();
        s.passage.observe(ms_to_s(ev.passage_ms()));
        if let Some(q) = ev.queue_wait_ms() {
            s.queue_wait.observe(ms_to_s(q));
        }
        if let Some(i) = ev.inspection_duration_ms() {
            s.inspection.observe(ms_to_s(i));
        }
        match lane.last_departure_ms {
            Some(last) if ev.departed_ms < last => {}
            Some(last) => {
                s.headway.observe(ms_to_s(ev.departed_ms - last));
                lane.last_departure_ms = Some(ev.departed_ms);
                s.last_departure.set(ms_to_s(ev.departed_ms));
            }
            None => {
                lane.last_departure_ms = Some(ev.departed_ms);
                s.last_departure.set(ms_to_s(ev.departed_ms));
            }
        }
        let cp = &mut self.checkpoints[lane.checkpoint as usize];
        let watermark = cp.max_event_ms.saturating_sub(self.lateness_ms);
        let late = ev.departed_ms < watermark;
        if !late {
            for w in &mut lane.windows {
                w.add(ev.departed_ms, ev.passage_ms(), ev.inspection_duration_ms());
            }
        }
        if ev.departed_ms > cp.max_event_ms {
            cp.max_event_ms = ev.departed_ms;
            let wm = ev.departed_ms.saturating_sub(self.lateness_ms);
            if cp.next_sweep_ms == i64::MIN {
                cp.next_sweep_ms = window_start(wm, self.sizes_ms[0]) + self.sizes_ms[0];
            } else if wm >= cp.next_sweep_ms {
                let c = lane.checkpoint;
                self.sweep(c, wm, observer);
            }
        }
        late
    }

    /// Watermark of a checkpoint (`i64::MIN` before its first event).
    pub fn watermark(&self, checkpoint: u32) -> i64 {
        self.checkpoints[checkpoint as usize]
            .max_event_ms
            .saturating_sub(self.lateness_ms)
    }

    /// Close every window of the checkpoint's lanes that ends at or before `wm`.
    pub fn sweep<O: Observer>(&mut self, checkpoint: u32, wm: i64, observer: &mut O) {
        let Lanes {
            lanes,
            checkpoints,
            scratch,
            quantiles,
            sizes_ms,
            ..
        } = self;
        let cp = &mut checkpoints[checkpoint as usize];
        for &id in &cp.lanes {
            let Lane {
                key,
                windows,
                stats,
                ..
            } = &mut lanes[id as usize];
            let direction = key.direction;
            for (i, w) in windows.iter_mut().enumerate() {
                w.close_until(wm, |start, data| {
                    let q = scratch.quantiles(&data.samples, quantiles);
                    let closed = ClosedWindow {
                        key,
                        stats,
                        checkpoint,
                        direction,
                        size_idx: i,
                        start_ms: start,
                        size_ms: sizes_ms[i],
                        count: data.samples.len() as u64,
                        quantiles: q,
                        data,
                    };
                    stats.throughput[i].set(closed.throughput_per_minute());
                    for j in 0..quantiles.len() {
                        stats
                            .quantile(i, j)
                            .set(q.get(j).copied().unwrap_or(f64::NAN));
                    }
                    observer.window_closed(id, &closed);
                });
            }
        }
        cp.next_sweep_ms = window_start(wm, sizes_ms[0]) + sizes_ms[0];
        observer.swept(checkpoint, wm);
    }

    /// Live mode, when the source is caught up: a checkpoint whose newest departure is
    /// more than `idle_ms` before `now_ms` is silent (blocked, or closed for the
    /// night), not behind; move its event time to `now_ms − idle_ms` so its windows
    /// close and its gauges show the silence.
    pub fn advance_idle<O: Observer>(&mut self, now_ms: i64, idle_ms: i64, observer: &mut O) {
        let target = now_ms.saturating_sub(idle_ms);
        for c in 0..self.checkpoints.len() {
            let cp = &mut self.checkpoints[c];
            if cp.max_event_ms == i64::MIN || cp.max_event_ms >= target {
                continue;
            }
            cp.max_event_ms = target;
            let wm = target.saturating_sub(self.lateness_ms);
            if wm >= cp.next_sweep_ms {
                self.sweep(c as u32, wm, observer);
            }
        }
    }

    /// Close every window of every checkpoint (end of a replay).
    pub fn flush<O: Observer>(&mut self, observer: &mut O) {
        for c in 0..self.checkpoints.len() {
            let max = self.checkpoints[c].max_event_ms;
            if max != i64::MIN {
                self.sweep(
                    c as u32,
                    max.saturating_add(self.sizes_ms[self.sizes_ms.len() - 1]),
                    observer,
                );
            }
        }
    }
}

fn ms_to_s(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
