//! The congestion gauges per checkpoint direction, resolved once (the per-lane ones
//! live with the lane's series in `lanes::stats`), and a typed reading of all of them
//! for the live board ([`CongestionFamilies::read`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::core::Collector;
use prometheus::{Gauge, GaugeVec};

use crate::engine::event::Direction;

pub struct DirGauges {
    pub arrival: Gauge,
    pub service: Gauge,
    pub open: Gauge,
    pub lanes: Gauge,
    pub recommended: Gauge,
    pub exceeded: Gauge,
    pub wait_probability: Gauge,
    pub p95: Gauge,
    pub los: Gauge,
    pub congested: Gauge,
    pub partitions: Gauge,
    /// Event time (ms) the direction entered the congested state; `i64::MIN` while not
    /// congested. Not exported (a timestamp per episode is for the board, not a series).
    pub congested_since: Arc<AtomicI64>,
}

impl DirGauges {
    /// Record the congestion state's start (`None`: not congested).
    pub fn set_congested_since(&self, since_ms: Option<i64>) {
        self.congested_since
            .store(since_ms.unwrap_or(i64::MIN), Ordering::Relaxed);
    }

    /// The start-up state: values every aggregation across instances ignores (0 for
    /// the summed ones, NaN for the maxima).
    pub fn reset(&self) {
        for g in [&self.arrival, &self.open, &self.recommended, &self.exceeded] {
            g.set(0.0);
        }
        for g in [&self.wait_probability, &self.congested, &self.partitions] {
            g.set(0.0);
        }
        for g in [&self.service, &self.p95, &self.los] {
            g.set(f64::NAN);
        }
        self.set_congested_since(None);
    }
}

/// The congestion metric families.
#[derive(Clone)]
pub struct CongestionFamilies {
    arrival: GaugeVec,
    service: GaugeVec,
    open: GaugeVec,
    lanes: GaugeVec,
    recommended: GaugeVec,
    exceeded: GaugeVec,
    wait_probability: GaugeVec,
    p95: GaugeVec,
    los: GaugeVec,
    congested: GaugeVec,
    partitions: GaugeVec,
    /// `(checkpoint, direction, congested_since)` of every direction resolved.
    since: Arc<Mutex<Vec<SinceCell>>>,
}

/// A direction's `congested_since` cell with its checkpoint and direction.
type SinceCell = (String, Direction, Arc<AtomicI64>);

/// The congestion gauges of one checkpoint direction, read at one moment (NaN as the
/// gauge has it: unknown).
#[derive(Debug, Clone)]
pub struct DirReading {
    pub checkpoint: String,
    pub direction: Direction,
    pub arrival_per_minute: f64,
    pub service_per_minute: f64,
    pub open_lanes: f64,
    pub lanes: f64,
    pub recommended_lanes: f64,
    pub capacity_exceeded: bool,
    pub wait_probability: f64,
    pub p95_seconds: f64,
    pub level_of_service: f64,
    pub congested: bool,
    pub congested_since_ms: Option<i64>,
}

impl DirReading {
    /// A direction with nothing known yet (the start-up state of its gauges).
    pub fn unknown(checkpoint: &str, direction: Direction) -> DirReading {
        DirReading {
            checkpoint: checkpoint.to_owned(),
            direction,
            arrival_per_minute: 0.0,
            service_per_minute: f64::NAN,
            open_lanes: 0.0,
            lanes: f64::NAN,
            recommended_lanes: 0.0,
            capacity_exceeded: false,
            wait_probability: 0.0,
            p95_seconds: f64::NAN,
            level_of_service: f64::NAN,
            congested: false,
            congested_since_ms: None,
        }
    }
}

fn g(f: crate::engine::catalogue::Family) -> GaugeVec {
    GaugeVec::new(f.opts(), f.labels).expect("valid gauge")
}

impl Default for CongestionFamilies {
    fn default() -> Self {
        Self::new()
    }
}

impl CongestionFamilies {
    pub fn new() -> Self {
        CongestionFamilies {
            arrival: g(crate::engine::catalogue::CHECKPOINT_ARRIVAL_RATE),
            service: g(crate::engine::catalogue::CHECKPOINT_SERVICE_RATE),
            open: g(crate::engine::catalogue::CHECKPOINT_OPEN_LANES),
            lanes: g(crate::engine::catalogue::CHECKPOINT_LANES),
            recommended: g(crate::engine::catalogue::CHECKPOINT_RECOMMENDED_LANES),
            exceeded: g(crate::engine::catalogue::CHECKPOINT_CAPACITY_EXCEEDED),
            wait_probability: g(crate::engine::catalogue::CHECKPOINT_WAIT_PROBABILITY),
            p95: g(crate::engine::catalogue::CHECKPOINT_PASSAGE_P95),
            los: g(crate::engine::catalogue::CHECKPOINT_LEVEL_OF_SERVICE),
            congested: g(crate::engine::catalogue::CHECKPOINT_CONGESTED),
            partitions: g(crate::engine::catalogue::CHECKPOINT_PARTITIONS),
            since: Default::default(),
        }
    }

    pub fn dir(&self, checkpoint: &str, direction: Direction) -> DirGauges {
        let l = [checkpoint, direction.as_str()];
        let d = DirGauges {
            arrival: self.arrival.with_label_values(&l),
            service: self.service.with_label_values(&l),
            open: self.open.with_label_values(&l),
            lanes: self.lanes.with_label_values(&l),
            recommended: self.recommended.with_label_values(&l),
            exceeded: self.exceeded.with_label_values(&l),
            wait_probability: self.wait_probability.with_label_values(&l),
            p95: self.p95.with_label_values(&l),
            los: self.los.with_label_values(&l),
            congested: self.congested.with_label_values(&l),
            partitions: self.partitions.with_label_values(&l),
            congested_since: Arc::new(AtomicI64::new(i64::MIN)),
        };
        self.since.lock().unwrap_or_else(|e| e.into_inner()).push((
            checkpoint.to_owned(),
            direction,
            d.congested_since.clone(),
        ));
        // Unknown until the first window: NaN, not a misleading zero.
        d.reset();
        d
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        [
            &self.arrival,
            &self.service,
            &self.open,
            &self.lanes,
            &self.recommended,
            &self.exceeded,
            &self.wait_probability,
            &self.p95,
            &self.los,
            &self.congested,
            &self.partitions,
        ]
        .into_iter()
        .map(|v| Box::new(v.clone()) as Box<dyn Collector>)
        .collect()
    }

    /// Every direction's gauges as they are now, in the order the directions were
    /// resolved (the registry's first).
    pub fn read(&self) -> Vec<DirReading> {
        let dirs = self.since.lock().unwrap_or_else(|e| e.into_inner()).clone();
        dirs.into_iter()
            .map(|(checkpoint, direction, since)| {
                let l = [checkpoint.as_str(), direction.as_str()];
                let v = |f: &GaugeVec| f.with_label_values(&l).get();
                let since = since.load(Ordering::Relaxed);
                DirReading {
                    arrival_per_minute: v(&self.arrival),
                    service_per_minute: v(&self.service),
                    open_lanes: v(&self.open),
                    lanes: v(&self.lanes),
                    recommended_lanes: v(&self.recommended),
                    capacity_exceeded: v(&self.exceeded) == 1.0,
                    wait_probability: v(&self.wait_probability),
                    p95_seconds: v(&self.p95),
                    level_of_service: v(&self.los),
                    congested: v(&self.congested) == 1.0,
                    congested_since_ms: (since != i64::MIN).then_some(since),
                    checkpoint,
                    direction,
                }
            })
            .collect()
    }
}
