//! The pipeline alone on one thread: events pre-generated in memory, applied in a loop.

use std::time::Instant;

use lanewatch::config::Config;
use lanewatch::pipeline::Pipeline;

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct PipelineBench {
    pub events: usize,
    pub seconds: f64,
    pub accepted: u64,
}

impl PipelineBench {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.seconds
    }
}

/// Apply `n` synthetic events over `lanes` lanes (unregistered, cap raised).
pub fn run(n: usize, lanes: usize) -> PipelineBench {
    let mut config = Config::with_registry(Default::default());
    config.max_dynamic_lanes = lanes;
    let start = lanewatch::time::now_ms() - 30 * 86_400_000;
    let rate = 2_000.0;
    let mut buf = String::new();
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0);
    for i in 0..n {
        crate::data::event_json(&mut buf, i, lanes, start, rate);
        offsets.push(buf.len());
    }
    let bytes = buf.as_bytes();
    let mut p = Pipeline::new(&config);
    let t = Instant::now();
    for w in offsets.windows(2) {
        p.apply(&bytes[w[0]..w[1]], None);
    }
    p.flush();
    let seconds = t.elapsed().as_secs_f64();
    let accepted = p.counters.received.get() - p.counters.duplicates.get();
    PipelineBench {
        events: n,
        seconds,
        accepted,
    }
}
