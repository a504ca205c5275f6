//! Any bytes a sensor (or an attacker) sends: parsing never panics, an accepted event
//! obeys the contract's invariants, and the whole pipeline takes it without panicking.
#![no_main]

use std::sync::{Mutex, OnceLock};

use lanewatch::config::Config;
use lanewatch::event::parse;
use lanewatch::pipeline::{Outcome, Pipeline};
use libfuzzer_sys::fuzz_target;

fn pipeline() -> &'static Mutex<Pipeline> {
    static P: OnceLock<Mutex<Pipeline>> = OnceLock::new();
    P.get_or_init(|| {
        let mut c = Config::with_registry(Default::default());
        c.max_dynamic_lanes = 64;
        Mutex::new(Pipeline::new(&c))
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = Config::with_registry(Default::default()).events;
    match parse(data, &limits, Some(1_800_000_000_000)) {
        Ok(ev) => {
            assert!(ev.departed_ms >= ev.arrived_ms);
            assert!(ev.passage_ms() <= limits.max_passage_ms);
            if let Some(i) = ev.inspection_ms {
                assert!(ev.arrived_ms <= i && i <= ev.departed_ms);
            }
            assert!(!ev.event_id.is_empty() && ev.event_id.len() <= 64);
        }
        Err(r) => assert!(!r.reason.as_str().is_empty()),
    }
    let mut p = pipeline().lock().unwrap();
    if let Outcome::Accepted { lane, .. } = p.apply(data, None) {
        assert!((lane as usize) < p.lanes.lanes.len());
    }
});
