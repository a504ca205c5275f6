//! What the engine is told: window sizes and lateness, histogram buckets, congestion
//! thresholds, lane bounds and the registry, as plain validated values (`config` reads
//! and checks them; the engine never reads a file).

use crate::engine::event::EventLimits;
use crate::engine::registry::Registry;

/// Everything a [`crate::engine::pipeline::Pipeline`] needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub registry: Registry,
    pub events: EventLimits,
    pub windows: WindowConfig,
    pub buckets: Buckets,
    pub congestion: CongestionConfig,
    pub max_dynamic_lanes: usize,
    /// Silence (wall clock, live) after which a lane not in the registry is removed.
    pub dynamic_lane_expiry_ms: i64,
}

/// Congestion analysis (README, Metrics › Congestion): Erlang C advice, level of
/// service, hysteresis.
#[derive(Debug, Clone)]
pub struct CongestionConfig {
    /// Index into `windows.sizes_ms` of the window the analysis runs on.
    pub window_idx: usize,
    pub target_wait_ms: i64,
    /// Acceptable `P(wait > target_wait)`.
    pub risk: f64,
    pub enter_p95_ms: i64,
    pub leave_p95_ms: i64,
    pub min_dwell_ms: i64,
    /// A window's p95 is evidence for the congestion state only with at least this many
    /// departures (below twenty, the nearest-rank p95 is the slowest vehicle).
    pub min_passages: u64,
    /// How long after a window ends its arrivals are counted (most have departed by
    /// then) before the advice for it is given.
    pub settle_ms: i64,
    /// The advice waits at most this long for a window's still-queued arrivals to
    /// depart; beyond, they are estimated.
    pub settle_max_ms: i64,
    /// Upper bounds (ms) of bands A..E; above the last is F.
    pub los_bands_ms: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct WindowConfig {
    /// Window lengths in milliseconds, ascending.
    pub sizes_ms: Vec<i64>,
    pub allowed_lateness_ms: i64,
    /// Live mode, once caught up: a checkpoint whose newest departure is older than
    /// this (wall clock) has its event time advanced, so its windows close and its
    /// gauges fall to zero instead of repeating the last busy window.
    pub idle_timeout_ms: i64,
    /// Event time: a lane (per source partition) whose newest departure trails its
    /// checkpoint's newest by more than this no longer holds the watermark back.
    pub lane_idle_timeout_ms: i64,
    pub quantiles: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct Buckets {
    pub passage: Vec<f64>,
    pub queue_wait: Vec<f64>,
    pub inspection: Vec<f64>,
    pub headway: Vec<f64>,
    /// Which of the four histograms (passage, queue wait, inspection, headway) are
    /// exported per lane; the others per checkpoint direction (the sum of its lanes).
    pub per_lane: [bool; 4],
    /// Native histogram buckets of this schema beside the classic ones (served in the
    /// protobuf exposition); `None`: classic buckets only.
    pub native_schema: Option<i8>,
}

/// The `[buckets]` keys of the four histograms, in [`Buckets::per_lane`]'s order.
pub const HISTOGRAMS: [&str; 4] = [
    "passage_duration_seconds",
    "queue_wait_seconds",
    "inspection_duration_seconds",
    "departure_headway_seconds",
];
