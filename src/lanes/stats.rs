//! Per-lane Prometheus series: the metric families (created once, with the configured
//! buckets) and each lane's pre-resolved handles, so the hot path never looks up labels.

use prometheus::core::Collector;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
};

use crate::config::{Buckets, WindowConfig};

const LANE_LABELS: &[&str] = &["checkpoint", "direction", "lane"];

/// The per-lane metric families.
#[derive(Clone)]
pub struct LaneFamilies {
    passages: IntCounterVec,
    passage: HistogramVec,
    queue_wait: HistogramVec,
    inspection: HistogramVec,
    headway: HistogramVec,
    last_departure: GaugeVec,
    throughput: GaugeVec,
    quantile: GaugeVec,
    window_labels: Vec<String>,
    quantile_labels: Vec<String>,
}

fn hist(name: &str, help: &str, buckets: &[f64]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        LANE_LABELS,
    )
    .expect("valid histogram definition")
}

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

impl LaneFamilies {
    pub fn new(buckets: &Buckets, windows: &WindowConfig) -> Self {
        let mut window_labels = LANE_LABELS.to_vec();
        window_labels.push("window");
        let mut quantile_labels = window_labels.clone();
        quantile_labels.push("quantile");
        LaneFamilies {
            passages: IntCounterVec::new(
                Opts::new("lanewatch_passages_total", "Vehicles that passed the lane (accepted, de-duplicated events)."),
                LANE_LABELS,
            )
            .expect("valid counter"),
            passage: hist(
                "lanewatch_passage_duration_seconds",
                "Passage time of a vehicle through the lane: departed_at - arrived_at.",
                &buckets.passage,
            ),
            queue_wait: hist(
                "lanewatch_queue_wait_seconds",
                "Time queued before inspection: inspection_started_at - arrived_at (events that carry it).",
                &buckets.queue_wait,
            ),
            inspection: hist(
                "lanewatch_inspection_duration_seconds",
                "Inspection time: departed_at - inspection_started_at (events that carry it).",
                &buckets.inspection,
            ),
            headway: hist(
                "lanewatch_departure_headway_seconds",
                "Time between consecutive departures of the lane, in event-time order (out-of-order events give none).",
                &buckets.headway,
            ),
            last_departure: GaugeVec::new(
                Opts::new(
                    "lanewatch_lane_last_departure_timestamp_seconds",
                    "Event time (Unix seconds) of the newest departure seen on the lane; 0 before the first.",
                ),
                LANE_LABELS,
            )
            .expect("valid gauge"),
            throughput: GaugeVec::new(
                Opts::new(
                    "lanewatch_lane_throughput_per_minute",
                    "Departures per minute over the newest closed event-time window.",
                ),
                &window_labels,
            )
            .expect("valid gauge"),
            quantile: GaugeVec::new(
                Opts::new(
                    "lanewatch_lane_passage_quantile_seconds",
                    "Exact passage-time quantile over the newest closed event-time window (NaN: no passages). Not summable across instances.",
                ),
                &quantile_labels,
            )
            .expect("valid gauge"),
            window_labels: windows.sizes_ms.iter().map(|&s| window_label(s)).collect(),
            quantile_labels: windows.quantiles.iter().map(|q| q.to_string()).collect(),
        }
    }

    /// Every collector, for registration.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.passages.clone()),
            Box::new(self.passage.clone()),
            Box::new(self.queue_wait.clone()),
            Box::new(self.inspection.clone()),
            Box::new(self.headway.clone()),
            Box::new(self.last_departure.clone()),
            Box::new(self.throughput.clone()),
            Box::new(self.quantile.clone()),
        ]
    }

    /// Resolve (and so export at zero) the series of one lane.
    pub fn lane(&self, checkpoint: &str, direction: &str, lane: &str) -> LaneStats {
        let l = [checkpoint, direction, lane];
        let throughput = self
            .window_labels
            .iter()
            .map(|w| {
                self.throughput
                    .with_label_values(&[checkpoint, direction, lane, w])
            })
            .collect();
        let quantiles = self
            .window_labels
            .iter()
            .map(|w| {
                self.quantile_labels
                    .iter()
                    .map(|q| {
                        let g = self
                            .quantile
                            .with_label_values(&[checkpoint, direction, lane, w, q]);
                        g.set(f64::NAN);
                        g
                    })
                    .collect()
            })
            .collect();
        LaneStats {
            passages: self.passages.with_label_values(&l),
            passage: self.passage.with_label_values(&l),
            queue_wait: self.queue_wait.with_label_values(&l),
            inspection: self.inspection.with_label_values(&l),
            headway: self.headway.with_label_values(&l),
            last_departure: self.last_departure.with_label_values(&l),
            throughput,
            quantiles,
        }
    }
}

/// Pre-resolved handles of one lane.
#[derive(Clone)]
pub struct LaneStats {
    pub passages: IntCounter,
    pub passage: Histogram,
    pub queue_wait: Histogram,
    pub inspection: Histogram,
    pub headway: Histogram,
    pub last_departure: Gauge,
    /// One per window size.
    pub throughput: Vec<Gauge>,
    /// Per window size, one per quantile.
    pub quantiles: Vec<Vec<Gauge>>,
}
