//! The congestion gauges per checkpoint direction, resolved once (the per-lane ones
//! live with the lane's series in `lanes::stats`).

use prometheus::core::Collector;
use prometheus::{Gauge, GaugeVec, Opts};

use crate::event::Direction;

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
}

impl DirGauges {
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
}

fn g(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge")
}

const DIR: &[&str] = &["checkpoint", "direction"];

impl Default for CongestionFamilies {
    fn default() -> Self {
        Self::new()
    }
}

impl CongestionFamilies {
    pub fn new() -> Self {
        CongestionFamilies {
            arrival: g(
                "lanewatch_checkpoint_arrival_rate_per_minute",
                "Vehicles arriving per minute (λ) over the congestion window, recovered from departures and the change of passage time.",
                DIR,
            ),
            service: g(
                "lanewatch_checkpoint_service_rate_per_minute",
                "Vehicles one open lane clears per minute (μ): 1/mean inspection time, else the lanes' saturation flow. NaN until measurable.",
                DIR,
            ),
            open: g(
                "lanewatch_checkpoint_open_lanes",
                "Lanes open in the congestion window: with departures, or scheduled open in the registry.",
                DIR,
            ),
            lanes: g(
                "lanewatch_checkpoint_lanes",
                "Lanes the checkpoint direction has (registered and seen).",
                DIR,
            ),
            recommended: g(
                "lanewatch_checkpoint_recommended_lanes",
                "Smallest number of open lanes for which M/M/c (Erlang C) gives P(wait > congestion.target_wait) < congestion.risk, capped at the lanes the direction has.",
                DIR,
            ),
            exceeded: g(
                "lanewatch_checkpoint_capacity_exceeded",
                "1 when even every lane of the direction cannot meet the wait target (arrivals beyond capacity), else 0.",
                DIR,
            ),
            wait_probability: g(
                "lanewatch_checkpoint_wait_probability",
                "Erlang C probability that a vehicle waits longer than congestion.target_wait with the lanes open now.",
                DIR,
            ),
            p95: g(
                "lanewatch_checkpoint_passage_p95_seconds",
                "Nearest-rank p95 passage time over all lanes of the direction in the congestion window (NaN: no passages).",
                DIR,
            ),
            los: g(
                "lanewatch_checkpoint_level_of_service",
                "Level of service of the mean passage time, 1 (A) to 6 (F); bands in congestion.los_bands.",
                DIR,
            ),
            congested: g(
                "lanewatch_checkpoint_congested",
                "1 while congested: entered when p95 passage >= congestion.enter_p95, left when below congestion.leave_p95, each after congestion.min_dwell.",
                DIR,
            ),
            partitions: g(
                "lanewatch_checkpoint_partitions",
                "Source partitions this instance reads the direction's events from. The analysis needs all of a direction's lanes in one instance: producers key by <checkpoint>/<direction>; more than one partition (or instance) means they do not.",
                DIR,
            ),
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
        };
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
}
