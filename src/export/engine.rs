//! The engine's cells as Prometheus families: the pipeline counters and the congestion
//! cells, named and typed from the catalogue, copied into their families at each
//! scrape (the engine itself knows no exposition).

use crate::export::FamilyOpts;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge};

use crate::engine::catalogue::{self as cat, Family};
use crate::engine::congestion::metrics::CongestionFamilies;
use crate::engine::event::Reason;
use crate::engine::pipeline::{Observer, Pipeline, PipelineCounters};

/// Everything of `pipeline` that goes through the registry: its counters and the
/// congestion gauges (the lanes' own series are encoded by `export::lanes`).
pub fn collectors<O: Observer>(pipeline: &Pipeline<O>) -> Vec<Box<dyn Collector>> {
    let mut v: Vec<Box<dyn Collector>> =
        vec![Box::new(PipelineCollector::new(pipeline.counters.clone()))];
    v.push(Box::new(CongestionCollector::new(
        pipeline.congestion.families().clone(),
    )));
    v
}

/// The congestion families (`lanewatch_checkpoint_*`), filled from the cells of every
/// checkpoint direction when scraped.
pub struct CongestionCollector {
    cells: CongestionFamilies,
    families: [GaugeVec; 11],
    descs: Vec<Desc>,
}

impl CongestionCollector {
    pub fn new(cells: CongestionFamilies) -> Self {
        let g = |f: Family| GaugeVec::new(f.opts(), f.labels).expect("valid gauge");
        let families = [
            g(cat::CHECKPOINT_ARRIVAL_RATE),
            g(cat::CHECKPOINT_SERVICE_RATE),
            g(cat::CHECKPOINT_OPEN_LANES),
            g(cat::CHECKPOINT_LANES),
            g(cat::CHECKPOINT_RECOMMENDED_LANES),
            g(cat::CHECKPOINT_CAPACITY_EXCEEDED),
            g(cat::CHECKPOINT_WAIT_PROBABILITY),
            g(cat::CHECKPOINT_PASSAGE_P95),
            g(cat::CHECKPOINT_LEVEL_OF_SERVICE),
            g(cat::CHECKPOINT_CONGESTED),
            g(cat::CHECKPOINT_PARTITIONS),
        ];
        let descs = families.iter().flat_map(|f| f.desc()).cloned().collect();
        CongestionCollector {
            cells,
            families,
            descs,
        }
    }
}

impl Collector for CongestionCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.cells.each(|checkpoint, direction, c| {
            let l = [checkpoint, direction.as_str()];
            let values = [
                &c.arrival,
                &c.service,
                &c.open,
                &c.lanes,
                &c.recommended,
                &c.exceeded,
                &c.wait_probability,
                &c.p95,
                &c.los,
                &c.congested,
                &c.partitions,
            ];
            for (f, v) in self.families.iter().zip(values) {
                f.with_label_values(&l).set(v.get());
            }
        });
        self.families.iter().flat_map(|f| f.collect()).collect()
    }
}

/// The pipeline counters' families, filled from the cells when scraped.
struct PipelineCollector {
    cells: PipelineCounters,
    received: IntCounter,
    rejected: IntCounterVec,
    rejected_by_reason: Vec<IntCounter>,
    duplicates: IntCounter,
    late: IntCounter,
    overflow: IntCounter,
    dynamic_lanes: IntGauge,
    newest_event: Gauge,
    descs: Vec<Desc>,
    /// Two scrapes at once must not both add the same increase.
    collecting: std::sync::Mutex<()>,
}

fn counter(f: Family) -> IntCounter {
    IntCounter::with_opts(f.opts()).expect("valid counter")
}

impl PipelineCollector {
    fn new(cells: PipelineCounters) -> Self {
        let rejected = IntCounterVec::new(cat::EVENTS_REJECTED.opts(), cat::EVENTS_REJECTED.labels)
            .expect("valid counter");
        let mut c = PipelineCollector {
            cells,
            received: counter(cat::EVENTS_RECEIVED),
            rejected_by_reason: Reason::ALL
                .iter()
                .map(|r| rejected.with_label_values(&[r.as_str()]))
                .collect(),
            rejected,
            duplicates: counter(cat::EVENTS_DUPLICATE),
            late: counter(cat::EVENTS_LATE),
            overflow: counter(cat::LANE_OVERFLOW_EVENTS),
            dynamic_lanes: IntGauge::with_opts(cat::LANES_DYNAMIC.opts()).expect("valid gauge"),
            newest_event: Gauge::with_opts(cat::NEWEST_EVENT_TIMESTAMP.opts())
                .expect("valid gauge"),
            descs: Vec::new(),
            collecting: Default::default(),
        };
        c.descs = c.parts().iter().flat_map(|p| p.desc()).cloned().collect();
        c
    }

    fn parts(&self) -> [&dyn Collector; 7] {
        [
            &self.received,
            &self.rejected,
            &self.duplicates,
            &self.late,
            &self.overflow,
            &self.dynamic_lanes,
            &self.newest_event,
        ]
    }
}

/// Set a counter to `v` (the cell is the truth; the family mirrors it).
fn mirror(c: &IntCounter, v: u64) {
    let d = v.saturating_sub(c.get());
    if d > 0 {
        c.inc_by(d);
    } else if v < c.get() {
        c.reset();
        c.inc_by(v);
    }
}

impl Collector for PipelineCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _one = self.collecting.lock().unwrap_or_else(|e| e.into_inner());
        let c = &self.cells;
        mirror(&self.received, c.received.get());
        for (m, cell) in self.rejected_by_reason.iter().zip(&c.rejected) {
            mirror(m, cell.get());
        }
        mirror(&self.duplicates, c.duplicates.get());
        mirror(&self.late, c.late.get());
        mirror(&self.overflow, c.overflow.get());
        self.dynamic_lanes.set(c.dynamic_lanes.get() as i64);
        self.newest_event.set(c.newest_event.get());
        self.parts().iter().flat_map(|p| p.collect()).collect()
    }
}
