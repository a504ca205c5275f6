//! Per-lane series: atomics written by the one pipeline thread (a store, not a
//! read-modify-write: there is a single writer), read at scrape time by the encoder in
//! `export::lanes` (this module knows no exposition). Each lane's handles are resolved once, when the lane is
//! created, so the hot path does no label lookup and takes no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::native::NativeBuckets;
use crate::engine::settings::{Buckets, WindowConfig};

/// `60000` → `"1m"`, `900000` → `"15m"`, `7200000` → `"2h"`, `90000` → `"90s"`.
pub fn window_label(size_ms: i64) -> String {
    let s = size_ms / 1000;
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

pub use crate::engine::cells::{Counter, F64Cell};

/// A classic histogram with one writer: per-bucket counts (not cumulative), sum, count.
#[derive(Debug)]
pub struct Hist {
    bounds: Arc<[f64]>,
    /// `bounds.len() + 1` slots; the last is above every bound.
    counts: Box<[AtomicU64]>,
    sum: F64Cell,
    count: AtomicU64,
    /// Native buckets too (`buckets.native_histograms`; boxed: a pointer when off).
    native: Option<Box<NativeBuckets>>,
}

impl Hist {
    fn new(bounds: Arc<[f64]>, native_schema: Option<i8>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Hist {
            bounds,
            counts,
            sum: F64Cell::default(),
            count: AtomicU64::new(0),
            native: native_schema.map(|s| Box::new(NativeBuckets::new(s))),
        }
    }

    /// The native buckets, when kept.
    pub fn native(&self) -> Option<&NativeBuckets> {
        self.native.as_deref()
    }

    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|&b| b < v);
        let c = &self.counts[i];
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.sum.set(self.sum.get() + v);
        if let Some(n) = &self.native {
            n.observe(v);
        }
        // Count last (Release): a reader that sees it sees the bucket and the sum.
        self.count
            .store(self.count.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    pub fn sum(&self) -> f64 {
        self.sum.get()
    }

    /// Observations in bucket `i` alone (`bounds[i-1] < v <= bounds[i]`).
    pub fn bucket(&self, i: usize) -> u64 {
        self.counts[i].load(Ordering::Relaxed)
    }

    /// Add `other`'s observations to these (same bounds; the counts of a lane that
    /// leaves the exposition kept in its direction's totals).
    fn absorb(&self, other: &Hist) {
        for (c, o) in self.counts.iter().zip(other.counts.iter()) {
            c.fetch_add(o.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        self.sum.set(self.sum.get() + other.sum());
        if let (Some(mine), Some(theirs)) = (&self.native, &other.native) {
            mine.absorb(theirs);
        }
        self.count.fetch_add(other.count(), Ordering::Release);
    }

    /// Cumulative count of observations `<= bounds[i]`.
    pub fn cumulative(&self, i: usize) -> u64 {
        self.counts[..=i]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

/// The series of one lane.
#[derive(Debug)]
pub struct LaneCells {
    /// `checkpoint="…",direction="…",lane="…"`, rendered once.
    labels: String,
    /// Length of the `checkpoint="…",direction="…"` head of `labels`.
    direction_len: usize,
    /// Checkpoint, direction and lane ids (for readers other than the exposition).
    ident: [Box<str>; 3],
    pub passages: Counter,
    pub passage: Hist,
    pub queue_wait: Hist,
    pub inspection: Hist,
    pub headway: Hist,
    pub last_departure: F64Cell,
    /// One per window size.
    pub throughput: Box<[F64Cell]>,
    /// Window-major: `[window * quantiles + q]`.
    pub quantiles: Box<[F64Cell]>,
    n_quantiles: usize,
    /// Congestion analysis: level of service (1–6, NaN before the first window) and
    /// queue length by Little's law.
    pub level_of_service: F64Cell,
    pub queue_length: F64Cell,
    /// The registry's open hours (local minutes; empty: always); `None` for a lane
    /// the registry does not list.
    pub schedule: Option<crate::engine::time::Schedule>,
    /// The longest inspection a vehicle using the lane plausibly takes (seconds, from
    /// the registry: `Checkpoint::lane_inspection_max_s`).
    pub inspection_max_s: f64,
    /// Lanes of its kind in its direction (`Checkpoint::lanes_of_kind`; 1 when not in
    /// the registry).
    pub lanes_of_kind: f64,
    /// Other lanes of its direction taking its vehicles (`Checkpoint::lane_neighbours`;
    /// 0 when not in the registry).
    pub neighbour_lanes: f64,
    /// Seconds since the epoch: the arrival by which more vehicles than it has
    /// neighbour lanes had passed it over since its newest departure; NaN while fewer
    /// did ([`super::passed`]).
    pub passed_over_since: F64Cell,
}

/// What the registry says of a lane, exported as static gauges for the alert rules.
#[derive(Debug, Clone, Copy)]
pub struct LaneTraits {
    pub inspection_max_s: f64,
    pub lanes_of_kind: f64,
    pub neighbour_lanes: f64,
}

impl LaneTraits {
    /// A lane the registry does not list.
    pub const UNLISTED: LaneTraits = LaneTraits {
        inspection_max_s: 0.0,
        lanes_of_kind: 1.0,
        neighbour_lanes: 0.0,
    };
}

impl LaneCells {
    /// `(checkpoint, direction, lane)`.
    pub fn ident(&self) -> (&str, &str, &str) {
        let [c, d, l] = &self.ident;
        (c, d, l)
    }

    /// `checkpoint="…",direction="…",lane="…"`, escaped for the exposition.
    pub fn labels(&self) -> &str {
        &self.labels
    }

    /// Passage, queue wait, inspection and headway.
    pub fn histograms(&self) -> [&Hist; 4] {
        [
            &self.passage,
            &self.queue_wait,
            &self.inspection,
            &self.headway,
        ]
    }

    /// The labels of the lane's checkpoint direction: `checkpoint="…",direction="…"`.
    pub fn direction_labels(&self) -> &str {
        &self.labels[..self.direction_len]
    }

    pub fn quantile(&self, window: usize, q: usize) -> &F64Cell {
        &self.quantiles[window * self.n_quantiles + q]
    }

    /// Back to the start-up state of the window gauges (the lane went to another
    /// instance: its windows are that instance's to report now). Counters and
    /// histograms stay: Prometheus sums them across instances.
    pub fn reset_windows(&self) {
        self.throughput.iter().for_each(|c| c.set(0.0));
        self.quantiles.iter().for_each(|c| c.set(f64::NAN));
        self.level_of_service.set(f64::NAN);
        self.queue_length.set(0.0);
        self.passed_over_since.set(f64::NAN);
    }
}

/// A lane's handle (cheap to clone).
pub type LaneStats = Arc<LaneCells>;

struct SeriesInner {
    bounds: [Arc<[f64]>; 4],
    /// The native histograms' schema (`None`: classic buckets only).
    native_schema: Option<i8>,
    bound_labels: [Vec<String>; 4],
    per_lane: [bool; 4],
    window_labels: Vec<String>,
    quantile_labels: Vec<String>,
    lanes: RwLock<Vec<LaneStats>>,
    /// Per checkpoint direction (its labels), the four histograms of its lanes removed
    /// from the exposition while others of it remain: the direction's sums (the
    /// histograms not exported per lane) must never go down, or Prometheus would read
    /// a counter reset. Dropped with the direction's last lane.
    retired: std::sync::Mutex<Vec<(Box<str>, [Hist; 4])>>,
}

/// Every lane's series, for the hot path (handles) and for `/metrics` (encoding).
#[derive(Clone)]
pub struct LaneSeries(Arc<SeriesInner>);

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl LaneSeries {
    pub fn new(buckets: &Buckets, windows: &WindowConfig) -> Self {
        let b = |v: &Vec<f64>| -> Arc<[f64]> { v.clone().into() };
        let bounds = [
            b(&buckets.passage),
            b(&buckets.queue_wait),
            b(&buckets.inspection),
            b(&buckets.headway),
        ];
        let bound_labels = bounds
            .clone()
            .map(|b| b.iter().map(|x| x.to_string()).collect());
        LaneSeries(Arc::new(SeriesInner {
            bounds,
            native_schema: buckets.native_schema,
            bound_labels,
            per_lane: buckets.per_lane,
            window_labels: windows.sizes_ms.iter().map(|&s| window_label(s)).collect(),
            quantile_labels: windows.quantiles.iter().map(|q| q.to_string()).collect(),
            lanes: RwLock::new(Vec::new()),
            retired: Default::default(),
        }))
    }

    /// Stop exporting a lane's series (a lane not in the registry that expired).
    pub fn remove(&self, lane: &LaneStats) {
        let mut lanes = self.0.lanes.write().unwrap_or_else(|e| e.into_inner());
        lanes.retain(|l| !Arc::ptr_eq(l, lane));
        let dir = lane.direction_labels();
        let mut retired = self.0.retired.lock().unwrap_or_else(|e| e.into_inner());
        if lanes.iter().any(|l| l.direction_labels() == dir) {
            let i = match retired.iter().position(|(d, _)| &**d == dir) {
                Some(i) => i,
                None => {
                    let (b, n) = (&self.0.bounds, self.0.native_schema);
                    let h = |k: usize| Hist::new(b[k].clone(), n);
                    retired.push((dir.into(), [h(0), h(1), h(2), h(3)]));
                    retired.len() - 1
                }
            };
            let totals = &retired[i].1;
            for (t, h) in totals.iter().zip(lane.histograms()) {
                t.absorb(h);
            }
        } else {
            retired.retain(|(d, _)| &**d != dir);
        }
    }

    /// Run `f` on the retired histograms of each direction (see `SeriesInner::retired`).
    pub fn with_retired<R>(&self, f: impl FnOnce(&[(Box<str>, [Hist; 4])]) -> R) -> R {
        f(&self.0.retired.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Create (and so export at zero) the series of one lane.
    pub fn lane(
        &self,
        checkpoint: &str,
        direction: &str,
        lane: &str,
        schedule: Option<crate::engine::time::Schedule>,
        traits: LaneTraits,
    ) -> LaneStats {
        let s = &self.0;
        let nq = s.quantile_labels.len();
        let head = format!(
            "checkpoint=\"{}\",direction=\"{}\"",
            escape(checkpoint),
            escape(direction)
        );
        let cells = Arc::new(LaneCells {
            direction_len: head.len(),
            labels: format!("{head},lane=\"{}\"", escape(lane)),
            ident: [checkpoint.into(), direction.into(), lane.into()],
            passages: Counter::default(),
            passage: Hist::new(s.bounds[0].clone(), s.native_schema),
            queue_wait: Hist::new(s.bounds[1].clone(), s.native_schema),
            inspection: Hist::new(s.bounds[2].clone(), s.native_schema),
            headway: Hist::new(s.bounds[3].clone(), s.native_schema),
            last_departure: F64Cell::default(),
            throughput: s.window_labels.iter().map(|_| F64Cell::default()).collect(),
            quantiles: (0..s.window_labels.len() * nq)
                .map(|_| F64Cell::new(f64::NAN))
                .collect(),
            n_quantiles: nq,
            level_of_service: F64Cell::new(f64::NAN),
            queue_length: F64Cell::default(),
            schedule,
            inspection_max_s: traits.inspection_max_s,
            lanes_of_kind: traits.lanes_of_kind,
            neighbour_lanes: traits.neighbour_lanes,
            passed_over_since: F64Cell::new(f64::NAN),
        });
        s.lanes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(cells.clone());
        cells
    }

    /// Every lane's handle, in the order the lanes were created (the registry's first).
    pub fn snapshot(&self) -> Vec<LaneStats> {
        self.0
            .lanes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Number of lanes with series.
    pub fn len(&self) -> usize {
        self.0.lanes.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Histogram bucket bounds as labels (`le`), per histogram: passage, queue wait,
    /// inspection, headway.
    pub fn bound_labels(&self) -> &[Vec<String>; 4] {
        &self.0.bound_labels
    }

    /// Per histogram (passage, queue wait, inspection, headway): exported per lane
    /// (else per checkpoint direction).
    pub fn per_lane(&self) -> [bool; 4] {
        self.0.per_lane
    }

    /// Histogram `k`'s bucket bounds (passage, queue wait, inspection, headway).
    pub fn bounds(&self, k: usize) -> &[f64] {
        &self.0.bounds[k]
    }

    /// The native histograms' schema (`None`: classic buckets only).
    pub fn native_schema(&self) -> Option<i8> {
        self.0.native_schema
    }

    /// The `window` label of each window size.
    pub fn window_labels(&self) -> &[String] {
        &self.0.window_labels
    }

    /// The `quantile` label of each configured quantile.
    pub fn quantile_labels(&self) -> &[String] {
        &self.0.quantile_labels
    }

    /// Run `f` on every lane's handle under the read lock (no copy of the list).
    pub fn with_lanes<R>(&self, f: impl FnOnce(&[LaneStats]) -> R) -> R {
        f(&self.0.lanes.read().unwrap_or_else(|e| e.into_inner()))
    }
}
