//! Per-lane series: atomics written by the one pipeline thread (a store, not a
//! read-modify-write: there is a single writer) and encoded straight to the text
//! exposition at scrape time. Each lane's handles are resolved once, when the lane is
//! created, so the hot path does no label lookup and takes no lock.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::{Buckets, WindowConfig};

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

/// An `f64` cell with one writer.
#[derive(Debug, Default)]
pub struct F64Cell(AtomicU64);

impl F64Cell {
    fn new(v: f64) -> Self {
        F64Cell(AtomicU64::new(v.to_bits()))
    }
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A counter with one writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A classic histogram with one writer: per-bucket counts (not cumulative), sum, count.
#[derive(Debug)]
pub struct Hist {
    bounds: Arc<[f64]>,
    /// `bounds.len() + 1` slots; the last is above every bound.
    counts: Box<[AtomicU64]>,
    sum: F64Cell,
    count: AtomicU64,
}

impl Hist {
    fn new(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Hist {
            bounds,
            counts,
            sum: F64Cell::default(),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|&b| b < v);
        let c = &self.counts[i];
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.sum.set(self.sum.get() + v);
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
    pub schedule: Option<Vec<(u32, u32)>>,
    /// The longest inspection a vehicle using the lane plausibly takes (seconds, from
    /// the registry: `Checkpoint::lane_inspection_max_s`).
    pub inspection_max_s: f64,
    /// Lanes of its kind in its direction (`Checkpoint::lanes_of_kind`; 1 when not in
    /// the registry).
    pub lanes_of_kind: f64,
    /// Other lanes of its direction taking its vehicles (`Checkpoint::lane_neighbours`;
    /// 0 when not in the registry).
    pub neighbour_lanes: f64,
    /// Vehicles it could have taken that other lanes of its direction cleared, having
    /// arrived after its newest departure (see `Lanes::record`).
    pub passed_over: F64Cell,
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
        self.passed_over.set(0.0);
    }
}

/// Picks one of a lane's histograms (for encoding).
type HistOf = fn(&LaneCells) -> &Hist;

/// A lane's handle (cheap to clone).
pub type LaneStats = Arc<LaneCells>;

struct SeriesInner {
    bounds: [Arc<[f64]>; 4],
    bound_labels: [Vec<String>; 4],
    window_labels: Vec<String>,
    quantile_labels: Vec<String>,
    lanes: RwLock<Vec<LaneStats>>,
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
            bound_labels,
            window_labels: windows.sizes_ms.iter().map(|&s| window_label(s)).collect(),
            quantile_labels: windows.quantiles.iter().map(|q| q.to_string()).collect(),
            lanes: RwLock::new(Vec::new()),
        }))
    }

    /// Stop exporting a lane's series (a lane not in the registry that expired).
    pub fn remove(&self, lane: &LaneStats) {
        self.0
            .lanes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|l| !Arc::ptr_eq(l, lane));
    }

    /// Create (and so export at zero) the series of one lane.
    pub fn lane(
        &self,
        checkpoint: &str,
        direction: &str,
        lane: &str,
        schedule: Option<Vec<(u32, u32)>>,
        traits: LaneTraits,
    ) -> LaneStats {
        let s = &self.0;
        let nq = s.quantile_labels.len();
        let cells = Arc::new(LaneCells {
            labels: format!(
                "checkpoint=\"{}\",direction=\"{}\",lane=\"{}\"",
                escape(checkpoint),
                escape(direction),
                escape(lane)
            ),
            passages: Counter::default(),
            passage: Hist::new(s.bounds[0].clone()),
            queue_wait: Hist::new(s.bounds[1].clone()),
            inspection: Hist::new(s.bounds[2].clone()),
            headway: Hist::new(s.bounds[3].clone()),
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
            passed_over: F64Cell::default(),
        });
        s.lanes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(cells.clone());
        cells
    }

    /// Number of lanes with series.
    pub fn len(&self) -> usize {
        self.0.lanes.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append the text exposition of every lane series to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let s = &self.0;
        let lanes = s.lanes.read().unwrap_or_else(|e| e.into_inner());
        let mut num = Num::default();
        header(
            out,
            "lanewatch_passages_total",
            "counter",
            "Vehicles that passed the lane (accepted, de-duplicated events).",
        );
        for l in lanes.iter() {
            line(
                out,
                "lanewatch_passages_total",
                &l.labels,
                "",
                num.int(l.passages.get()),
            );
        }
        let hists: [(&str, &str, HistOf); 4] = [
            (
                "lanewatch_passage_duration_seconds",
                "Passage time of a vehicle through the lane: departed_at - arrived_at.",
                |l| &l.passage,
            ),
            (
                "lanewatch_queue_wait_seconds",
                "Time queued before inspection: inspection_started_at - arrived_at (events that carry it).",
                |l| &l.queue_wait,
            ),
            (
                "lanewatch_inspection_duration_seconds",
                "Inspection time: departed_at - inspection_started_at (events that carry it).",
                |l| &l.inspection,
            ),
            (
                "lanewatch_departure_headway_seconds",
                "Time between consecutive departures of the lane, in event-time order (out-of-order events give none).",
                |l| &l.headway,
            ),
        ];
        for (k, (name, help, get)) in hists.iter().enumerate() {
            header(out, name, "histogram", help);
            let bucket = format!("{name}_bucket");
            let les = &s.bound_labels[k];
            for l in lanes.iter() {
                let h = get(l);
                let count = h.count();
                let mut cum = 0u64;
                for (i, le) in les.iter().enumerate() {
                    cum += h.counts[i].load(Ordering::Relaxed);
                    line_le(out, &bucket, &l.labels, le, num.int(cum.min(count)));
                }
                line_le(out, &bucket, &l.labels, "+Inf", num.int(count));
                line(out, name, &l.labels, "_sum", num.float(h.sum()));
                line(out, name, &l.labels, "_count", num.int(count));
            }
        }
        let gauge: Gauge = (
            "lanewatch_lane_last_departure_timestamp_seconds",
            "Event time (Unix seconds) of the newest departure seen on the lane; 0 before the first.",
            |l| l.last_departure.get(),
        );
        single_gauge(out, &lanes, &mut num, gauge);
        let g = "lanewatch_lane_throughput_per_minute";
        header(
            out,
            g,
            "gauge",
            "Departures per minute over the newest closed event-time window.",
        );
        for l in lanes.iter() {
            for (w, wl) in s.window_labels.iter().enumerate() {
                line_kv(
                    out,
                    g,
                    &l.labels,
                    &[("window", wl)],
                    num.float(l.throughput[w].get()),
                );
            }
        }
        let g = "lanewatch_lane_passage_quantile_seconds";
        header(
            out,
            g,
            "gauge",
            "Exact passage-time quantile over the newest closed event-time window (NaN: no passages). Not summable across instances.",
        );
        for l in lanes.iter() {
            for (w, wl) in s.window_labels.iter().enumerate() {
                for (q, ql) in s.quantile_labels.iter().enumerate() {
                    line_kv(
                        out,
                        g,
                        &l.labels,
                        &[("quantile", ql), ("window", wl)],
                        num.float(l.quantile(w, q).get()),
                    );
                }
            }
        }
        let gauges: [Gauge; 6] = [
            (
                "lanewatch_lane_level_of_service",
                "Level of service of the lane's mean passage time in the congestion window, 1 (A) to 6 (F).",
                |l| l.level_of_service.get(),
            ),
            (
                "lanewatch_lane_queue_length_vehicles",
                "Vehicles queued at the lane by Little's law: departures per minute x mean queue wait (passage - inspection).",
                |l| l.queue_length.get(),
            ),
            (
                "lanewatch_lane_inspection_max_seconds",
                INSPECTION_MAX_HELP,
                |l| l.inspection_max_s,
            ),
            ("lanewatch_lane_kind_lanes", KIND_LANES_HELP, |l| {
                l.lanes_of_kind
            }),
            (
                "lanewatch_lane_neighbour_lanes",
                NEIGHBOUR_LANES_HELP,
                |l| l.neighbour_lanes,
            ),
            (
                "lanewatch_lane_passed_over_vehicles",
                PASSED_OVER_HELP,
                |l| l.passed_over.get(),
            ),
        ];
        for g in gauges {
            single_gauge(out, &lanes, &mut num, g);
        }
        let g = "lanewatch_lane_scheduled_open";
        header(out, g, "gauge", SCHEDULED_OPEN_HELP);
        let now = crate::time::now_ms();
        for l in lanes.iter() {
            let open = l
                .schedule
                .as_ref()
                .is_none_or(|s| crate::time::scheduled_open(s, now));
            line(out, g, &l.labels, "", num.int(u64::from(open)));
        }
    }
}

/// Help of `lanewatch_lane_inspection_max_seconds` (live and backfill).
pub const INSPECTION_MAX_HELP: &str = "The longest inspection a vehicle that uses the lane plausibly takes (the registry's per-class mean inspection x 3.6, the 99.9th percentile of log-normal inspection times), over the classes the lane serves and those no lane of its direction serves: a shorter silence of the lane may be one vehicle inspected.";

/// Help of `lanewatch_lane_kind_lanes` (live and backfill).
pub const KIND_LANES_HELP: &str = "Lanes of this lane's kind (car, bus, truck, mixed) in its direction, from the registry: several share their vehicles and each sees a steady flow; a lane alone of its kind gets its class's arrivals as they come (longer natural lulls).";

/// Help of `lanewatch_lane_neighbour_lanes` (live and backfill).
pub const NEIGHBOUR_LANES_HELP: &str = "Other lanes of its direction that take vehicles this lane takes, from the registry: drivers take the shortest queue, so while the lane is open and free no more than these take a vehicle before it does.";

/// Help of `lanewatch_lane_passed_over_vehicles` (live and backfill).
pub const PASSED_OVER_HELP: &str = "Vehicles of classes the lane takes that other lanes of its direction cleared, having arrived after the lane's newest departure (event time; 0 again at its next departure). More than its neighbour lanes, while it is silent for longer than one inspection, says it takes no vehicles.";

/// Help of `lanewatch_lane_scheduled_open` (live and backfill).
pub const SCHEDULED_OPEN_HELP: &str = "1 while the registry's `open` hours have the lane open (Beijing time; always for lanes without hours or not in the registry), else 0. A lane the schedule closes is not a stalled lane.";

/// Name, help and value of a gauge family with one series per lane.
type Gauge = (&'static str, &'static str, fn(&LaneCells) -> f64);

/// A gauge family with one series per lane.
fn single_gauge(out: &mut Vec<u8>, lanes: &[LaneStats], num: &mut Num, (name, help, get): Gauge) {
    header(out, name, "gauge", help);
    for l in lanes {
        line(out, name, &l.labels, "", num.float(get(l)));
    }
}

fn header(out: &mut Vec<u8>, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn line(out: &mut Vec<u8>, name: &str, labels: &str, suffix: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    out.push(b'{');
    out.extend_from_slice(labels.as_bytes());
    out.extend_from_slice(b"} ");
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn line_le(out: &mut Vec<u8>, name: &str, labels: &str, le: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'{');
    out.extend_from_slice(labels.as_bytes());
    out.extend_from_slice(b",le=\"");
    out.extend_from_slice(le.as_bytes());
    out.extend_from_slice(b"\"} ");
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn line_kv(out: &mut Vec<u8>, name: &str, labels: &str, kv: &[(&str, &str)], value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'{');
    out.extend_from_slice(labels.as_bytes());
    for (k, v) in kv {
        out.push(b',');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(v.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"} ");
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Reusable number formatting.
#[derive(Default)]
struct Num {
    i: itoa::Buffer,
    f: ryu::Buffer,
}

impl Num {
    fn int(&mut self, v: u64) -> &[u8] {
        self.i.format(v).as_bytes()
    }
    fn float(&mut self, v: f64) -> &[u8] {
        if v.is_nan() {
            b"NaN"
        } else if v.is_infinite() {
            if v > 0.0 { b"+Inf" } else { b"-Inf" }
        } else if v == v.trunc() && v.abs() < 1e15 {
            self.i.format(v as i64).as_bytes()
        } else {
            self.f.format_finite(v).as_bytes()
        }
    }
}
