//! The metrics registry: lane series, pipeline counters, source health, build info,
//! and gauges computed at scrape time (age of the newest event).

use crate::export::FamilyOpts;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Encoder, Gauge, IntGaugeVec, Registry, TextEncoder};

/// The registry served on `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    lanes: std::sync::Arc<std::sync::RwLock<Vec<crate::engine::lanes::LaneSeries>>>,
    /// Bytes of the last exposition (capacity hint of the next).
    last_size: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let f = crate::engine::catalogue::BUILD_INFO;
        let build = IntGaugeVec::new(f.opts(), f.labels).expect("valid gauge");
        let (_, rdk) = rdkafka::util::get_rdkafka_version();
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), &rdk])
            .set(1);
        registry
            .register(Box::new(build))
            .expect("unique build_info");
        Metrics {
            registry,
            lanes: Default::default(),
            last_size: Default::default(),
        }
    }

    /// Serve these lanes' series too (encoded directly, not through the registry).
    pub fn add_lanes(&self, series: crate::engine::lanes::LaneSeries) {
        self.lanes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(series);
    }

    /// Register collectors (each family once).
    pub fn register(&self, collectors: Vec<Box<dyn Collector>>) {
        for c in collectors {
            if let Err(e) = self.registry.register(c) {
                tracing::error!(error = %e, "metric registered twice");
            }
        }
    }

    /// Export `now − newest event` as `lanewatch_newest_event_age_seconds`.
    pub fn register_event_age(&self, newest: crate::engine::pipeline::PipelineCounters) {
        self.register(vec![Box::new(AgeCollector::new(newest))]);
    }

    /// The text exposition of every series.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode_into(&mut buf);
        buf
    }

    /// The text exposition into `buf` (cleared first; a recycled buffer keeps its
    /// capacity, so a steady scrape allocates nothing).
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        let families = self.registry.gather();
        buf.clear();
        // Sized from the last exposition: a region's 10 MB body is not grown by
        // doubling (a copy each time, and twice the memory at the last step).
        let hint = self.last_size.load(std::sync::atomic::Ordering::Relaxed);
        buf.reserve((hint + hint / 16).max(256 * 1024));
        TextEncoder::new()
            .encode(&families, buf)
            .expect("text encoding into a Vec cannot fail");
        for s in self.lanes.read().unwrap_or_else(|e| e.into_inner()).iter() {
            super::lanes::encode(s, buf);
        }
        self.last_size
            .store(buf.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The protobuf exposition into `buf` (cleared first): every family of the text
    /// one, the lane histograms with their native buckets.
    pub fn encode_proto_into(&self, buf: &mut Vec<u8>) {
        let families = self.registry.gather();
        buf.clear();
        super::proto::encode_registry(&families, buf);
        for s in self.lanes.read().unwrap_or_else(|e| e.into_inner()).iter() {
            super::proto::encode_lanes(s, buf);
        }
    }

    /// Whether lanes keep native histograms (`buckets.native_histograms`): then
    /// `/metrics` serves the protobuf exposition to a scraper that asks for it.
    pub fn native_histograms(&self) -> bool {
        let lanes = self.lanes.read().unwrap_or_else(|e| e.into_inner());
        lanes.iter().any(|s| s.native_schema().is_some())
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Everything `pipeline` exports, as text exposition (tests, one-off dumps).
pub fn text_of<O: crate::engine::pipeline::Observer>(
    pipeline: &crate::engine::pipeline::Pipeline<O>,
) -> String {
    let m = Metrics::new();
    m.register(super::engine::collectors(pipeline));
    m.add_lanes(pipeline.lane_series());
    String::from_utf8(m.encode()).expect("exposition is UTF-8")
}

/// Age of the newest event, computed when scraped.
struct AgeCollector {
    newest: crate::engine::pipeline::PipelineCounters,
    age: Gauge,
}

impl AgeCollector {
    fn new(newest: crate::engine::pipeline::PipelineCounters) -> Self {
        let age = Gauge::with_opts(crate::engine::catalogue::NEWEST_EVENT_AGE.opts())
            .expect("valid gauge");
        AgeCollector { newest, age }
    }
}

impl Collector for AgeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.age.desc()
    }
    fn collect(&self) -> Vec<MetricFamily> {
        let newest = self.newest.newest_event.get();
        let age = if newest > 0.0 {
            crate::engine::time::now_ms() as f64 / 1000.0 - newest
        } else {
            f64::NAN
        };
        self.age.set(age);
        self.age.collect()
    }
}

#[cfg(test)]
#[path = "proto_tests.rs"]
mod proto_tests;
