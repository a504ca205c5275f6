//! Lane statistics: the dense lane index (registered lanes first, unregistered ones up
//! to a cap), each lane's cumulative series and event-time windows, and the watermark
//! of each checkpoint direction that closes them (event time: [`clock`]).

pub mod clock;
pub mod native;
pub mod passed;
pub mod stats;
pub mod window;

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::engine::event::{Direction, Event};
use crate::engine::settings::Settings;
pub use clock::{CheckpointClock, Clock, Stream};
pub use stats::{LaneSeries, LaneStats, LaneTraits, window_label};
pub use window::{ClosedWindow, QuantileScratch, WindowData, WindowStore, window_start};

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
    pub windows: WindowStore,
    last_departure_ms: Option<i64>,
    /// Classes whose vehicles may use it (`Checkpoint::lane_uses`; none when not in
    /// the registry).
    uses: u8,
    /// Vehicles it could have taken that other lanes of its direction cleared, having
    /// arrived after its newest departure ([`passed`]).
    passed_over: passed::PassedOver,
    /// A lane not in the registry: when it last sent an event (wall clock live, event
    /// time otherwise), and whether it expired (its series removed, its id retired).
    seen_ms: i64,
    pub expired: bool,
    /// Stream time per source split this lane was read from (almost always one).
    pub streams: Vec<Stream>,
}

/// Event-time state of one checkpoint direction: the unit producers keep in one
/// partition (key `<checkpoint>/<direction>`), so one instance owns its clock, its
/// windows and its congestion analysis whatever the number of instances.
#[derive(Debug)]
pub struct CheckpointState {
    /// The checkpoint's id.
    pub id: String,
    pub direction: Direction,
    /// Reference time, watermark and next sweep.
    pub clock: CheckpointClock,
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
    /// `lane`'s passed-over time ([`passed::PassedOver::since_ms`]) became `since_ms`
    /// with an event departed at `at_ms`.
    fn passed_over(&mut self, _lane: u32, _since_ms: Option<i64>, _at_ms: i64) {}
}

impl Observer for () {}

/// All lanes of one pipeline.
pub struct Lanes {
    /// Dense ids by a hash of (checkpoint, direction, lane), compared against the key.
    index: HashTable<u32>,
    /// (checkpoint, direction) → index into `checkpoints`.
    cp_index: FxHashMap<(String, Direction), u32>,
    pub lanes: Vec<Lane>,
    pub checkpoints: Vec<CheckpointState>,
    dynamic: usize,
    max_dynamic: usize,
    dynamic_expiry_ms: i64,
    series: LaneSeries,
    sizes_ms: Vec<i64>,
    pub clock: Clock,
    quantiles: Vec<f64>,
    scratch: QuantileScratch,
    /// A closing window of several slices (`WindowStore::close_until`).
    union: WindowData,
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
    pub fn new(config: &Settings, series: LaneSeries) -> Self {
        let mut lanes = Lanes {
            index: HashTable::new(),
            cp_index: FxHashMap::default(),
            lanes: Vec::new(),
            checkpoints: Vec::new(),
            dynamic: 0,
            max_dynamic: config.max_dynamic_lanes,
            dynamic_expiry_ms: config.dynamic_lane_expiry_ms,
            series,
            sizes_ms: config.windows.sizes_ms.clone(),
            clock: Clock::new(
                config.windows.allowed_lateness_ms,
                config.windows.lane_idle_timeout_ms,
            ),
            quantiles: config.windows.quantiles.clone(),
            scratch: QuantileScratch::new(),
            union: WindowData::default(),
        };
        for (cp, lane) in config.registry.lanes() {
            let traits = LaneTraits {
                inspection_max_s: cp.lane_inspection_max_s(lane),
                lanes_of_kind: cp.lanes_of_kind(lane) as f64,
                neighbour_lanes: cp.lane_neighbours(lane) as f64,
            };
            lanes.insert(
                &cp.id,
                lane.direction,
                &lane.id,
                Some((cp.schedule(lane), cp.lane_uses(lane))),
                traits,
            );
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
        registry: Option<(crate::engine::time::Schedule, u8)>,
        traits: LaneTraits,
    ) -> u32 {
        let registered = registry.is_some();
        let (schedule, uses) = registry.map_or((None, 0), |(s, u)| (Some(s), u));
        let cp = match self.cp_index.get(&(checkpoint.to_owned(), direction)) {
            Some(&c) => c,
            None => {
                let c = self.checkpoints.len() as u32;
                self.checkpoints.push(CheckpointState {
                    id: checkpoint.to_owned(),
                    direction,
                    clock: CheckpointClock::default(),
                    lanes: Vec::new(),
                });
                self.cp_index.insert((checkpoint.to_owned(), direction), c);
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
            stats: self
                .series
                .lane(checkpoint, direction.as_str(), lane, schedule, traits),
            windows: WindowStore::new(window::slice_ms(&self.sizes_ms), self.sizes_ms.len()),
            last_departure_ms: None,
            uses,
            passed_over: passed::PassedOver::new(traits.neighbour_lanes as usize),
            seen_ms: i64::MIN,
            expired: false,
            streams: Vec::new(),
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
        // Not in the registry: any vehicle may use it.
        let max = crate::engine::registry::default_inspection_s()
            .into_iter()
            .fold(0.0, f64::max)
            * crate::engine::registry::INSPECTION_P999_OVER_MEAN;
        let traits = LaneTraits {
            inspection_max_s: max,
            ..LaneTraits::UNLISTED
        };
        Resolve::Lane(self.insert(checkpoint, direction, lane, None, traits))
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

    /// Record an accepted event on lane `id`, read from source split `split`; `now_ms`
    /// is the wall clock in live mode (it caps the splits' reference times, so a
    /// sensor clock running fast cannot make accurate lanes look idle). Returns `true`
    /// when the event was late (see [`clock`]): it is in the cumulative series but in
    /// no window.
    pub fn record<O: Observer>(
        &mut self,
        id: u32,
        ev: &Event<'_>,
        split: u32,
        now_ms: Option<i64>,
        observer: &mut O,
    ) -> bool {
        let lane = &mut self.lanes[id as usize];
        if !lane.registered {
            lane.seen_ms = now_ms.unwrap_or(ev.departed_ms);
        }
        let s = &lane.stats;
        s.passages.inc();
        s.passage.observe(ms_to_s(ev.passage_ms()));
        if let Some(q) = ev.queue_wait_ms() {
            s.queue_wait.observe(ms_to_s(q));
        }
        if let Some(i) = ev.inspection_duration_ms() {
            s.inspection.observe(ms_to_s(i));
        }
        let newest = match lane.last_departure_ms {
            Some(last) if ev.departed_ms < last => false,
            Some(last) => {
                s.headway.observe(ms_to_s(ev.departed_ms - last));
                true
            }
            None => true,
        };
        if newest {
            lane.last_departure_ms = Some(ev.departed_ms);
            s.last_departure.set(ms_to_s(ev.departed_ms));
            if lane.passed_over.clear() {
                s.passed_over_since.set(f64::NAN);
                observer.passed_over(id, None, ev.departed_ms);
            }
        }
        let cpi = lane.checkpoint as usize;
        self.count_passed_over(cpi, id, ev, observer);
        let lane = &mut self.lanes[id as usize];
        let t = ev.departed_ms;
        let stream_ms = lane
            .streams
            .iter()
            .find(|st| st.split == split)
            .map_or(i64::MIN, |st| st.time_ms);
        let late = self
            .clock
            .is_late(&self.checkpoints[cpi].clock, split, stream_ms, t);
        let lane = &mut self.lanes[id as usize];
        if !late {
            lane.windows
                .add(t, ev.passage_ms(), ev.inspection_duration_ms());
        }
        match lane.streams.iter_mut().find(|st| st.split == split) {
            Some(st) => st.time_ms = st.time_ms.max(t),
            None => lane.streams.push(Stream { split, time_ms: t }),
        }
        self.clock.observe(split, t, now_ms);
        let cp = &mut self.checkpoints[cpi].clock;
        if t > cp.reference_ms {
            cp.reference_ms = t;
        }
        if cp.next_sweep_ms == i64::MIN {
            let wm = t.saturating_sub(self.clock.lateness_ms);
            cp.next_sweep_ms = window_start(wm, self.sizes_ms[0]) + self.sizes_ms[0];
        }
        if self.clock.needs_recompute(cp, id, split) {
            self.advance(cpi as u32, i64::MIN, observer);
        }
        late
    }

    /// Recompute a checkpoint's watermark (at least `floor_ms`) and sweep its windows
    /// when it crossed the next boundary.
    fn advance<O: Observer>(&mut self, checkpoint: u32, floor_ms: i64, observer: &mut O) {
        let Lanes {
            lanes,
            checkpoints,
            clock,
            ..
        } = self;
        let cp = &mut checkpoints[checkpoint as usize];
        let streams = cp
            .lanes
            .iter()
            .flat_map(|&l| lanes[l as usize].streams.iter().map(move |&st| (l, st)));
        let wm = clock.recompute(&mut cp.clock, streams, floor_ms);
        if wm >= cp.clock.next_sweep_ms && cp.clock.next_sweep_ms != i64::MIN {
            cp.clock.close_to(wm, self.sizes_ms[0]);
            self.sweep(checkpoint, wm, observer);
        }
    }

    /// Remove the lanes not in the registry that sent nothing since `now_ms −
    /// lanes.dynamic_lane_expiry`: their series leave the exposition and their places
    /// under `lanes.max_dynamic_lanes` are free again, so a burst of junk ids cannot
    /// hide a real new lane for ever. Their ids are retired (a lane that comes back
    /// gets a new one; the congestion analysis keeps the old as a silent lane).
    /// Returns how many expired.
    pub fn expire_dynamic(&mut self, now_ms: i64) -> usize {
        let before = now_ms.saturating_sub(self.dynamic_expiry_ms);
        let mut n = 0;
        for id in 0..self.lanes.len() {
            let lane = &self.lanes[id];
            if lane.registered || lane.expired || lane.seen_ms >= before {
                continue;
            }
            let hash = lane_hash(&lane.key.checkpoint, lane.key.direction, &lane.key.lane);
            if let Ok(entry) = self.index.find_entry(hash, |&i| i as usize == id) {
                entry.remove();
            }
            let cp = lane.checkpoint as usize;
            self.checkpoints[cp].lanes.retain(|&l| l as usize != id);
            self.series.remove(&self.lanes[id].stats);
            let lane = &mut self.lanes[id];
            lane.expired = true;
            lane.windows.release();
            lane.streams = Vec::new();
            self.dynamic -= 1;
            n += 1;
        }
        n
    }

    /// The other lanes of `ev`'s direction that could have taken its vehicle and had
    /// already released their newest one when it arrived: it passed them over (see
    /// [`passed`] for what LaneStalled reads of that).
    fn count_passed_over<O: Observer>(
        &mut self,
        checkpoint: usize,
        id: u32,
        ev: &Event<'_>,
        observer: &mut O,
    ) {
        let class = 1u8 << ev.vehicle_class as u8;
        for k in 0..self.checkpoints[checkpoint].lanes.len() {
            let other = self.checkpoints[checkpoint].lanes[k];
            let l = &mut self.lanes[other as usize];
            if other != id
                && l.uses & class != 0
                && l.last_departure_ms.is_some_and(|d| ev.arrived_ms > d)
            {
                if let Some(since) = l.passed_over.add(ev.arrived_ms) {
                    l.stats.passed_over_since.set(ms_to_s(since));
                    observer.passed_over(other, Some(since), ev.departed_ms);
                }
            }
        }
    }

    /// The source's split `split` has (or no longer has) messages waiting. A split
    /// that caught up may have been all that held windows open: every checkpoint's
    /// watermark is recomputed then.
    pub fn set_split_pending<O: Observer>(&mut self, split: u32, pending: bool, observer: &mut O) {
        if self.clock.set_pending(split, pending) && !pending {
            for c in 0..self.checkpoints.len() {
                if self.clock.could_close(&self.checkpoints[c].clock) {
                    self.advance(c as u32, i64::MIN, observer);
                }
            }
        }
    }

    /// The source's split `split` went to another consumer: it holds nothing back, and
    /// lanes read only from it stop exporting window gauges (their new owner does).
    pub fn revoke_split(&mut self, split: u32) {
        let _ = self.clock.set_pending(split, false);
        for lane in &mut self.lanes {
            let before = lane.streams.len();
            lane.streams.retain(|s| s.split != split);
            if before > 0 && lane.streams.is_empty() {
                lane.stats.reset_windows();
                lane.passed_over.clear();
            }
        }
    }

    /// Watermark of a checkpoint (`i64::MIN` before windows can close).
    pub fn watermark(&self, checkpoint: u32) -> i64 {
        self.checkpoints[checkpoint as usize].clock.watermark_ms
    }

    /// Close every window of the checkpoint's lanes that ends at or before `wm`.
    fn sweep<O: Observer>(&mut self, checkpoint: u32, wm: i64, observer: &mut O) {
        let Lanes {
            lanes,
            checkpoints,
            scratch,
            quantiles,
            sizes_ms,
            union,
            ..
        } = self;
        let cp = &mut checkpoints[checkpoint as usize];
        let known_at_ms = cp.clock.reference_ms;
        for &id in &cp.lanes {
            let Lane {
                key,
                windows,
                stats,
                ..
            } = &mut lanes[id as usize];
            let direction = key.direction;
            windows.close_until(sizes_ms, wm, union, |i, start, data| {
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
                    known_at_ms,
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
        observer.swept(checkpoint, wm);
    }

    /// Live mode, when the source is caught up: a checkpoint whose newest departure is
    /// more than `idle_ms` before `now_ms` is silent (blocked, or closed for the
    /// night), not behind; its watermark follows the wall clock (`now_ms − idle_ms −
    /// allowed_lateness`) so its windows close and its gauges show the silence.
    pub fn advance_idle<O: Observer>(&mut self, now_ms: i64, idle_ms: i64, observer: &mut O) {
        let target = now_ms.saturating_sub(idle_ms);
        for c in 0..self.checkpoints.len() {
            let cp = &mut self.checkpoints[c].clock;
            if cp.reference_ms == i64::MIN || cp.reference_ms >= target {
                continue;
            }
            cp.reference_ms = target;
            let floor = target.saturating_sub(self.clock.lateness_ms);
            if floor >= cp.next_sweep_ms {
                self.advance(c as u32, floor, observer);
            }
        }
    }

    /// Close every window of every checkpoint (end of a replay).
    pub fn flush<O: Observer>(&mut self, observer: &mut O) {
        for c in 0..self.checkpoints.len() {
            let newest = self.checkpoints[c]
                .lanes
                .iter()
                .flat_map(|&l| self.lanes[l as usize].streams.iter().map(|s| s.time_ms))
                .max();
            if let Some(max) = newest {
                let wm = max.saturating_add(self.sizes_ms[self.sizes_ms.len() - 1]);
                self.checkpoints[c].clock.close_to(wm, self.sizes_ms[0]);
                self.sweep(c as u32, wm, observer);
            }
        }
    }
}

fn ms_to_s(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
