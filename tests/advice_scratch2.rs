use lanewatch::config::Config;
use lanewatch::lanes::{CheckpointWindow, Observer};
use lanewatch::pipeline::Pipeline;
use lanewatch::simulate::{SimOptions, Simulator};

#[derive(Default)]
struct Rows(Vec<CheckpointWindow>);
impl Observer for Rows {
    fn checkpoint_window(&mut self, w: &CheckpointWindow) {
        if w.checkpoint == "baimiao" && w.direction == lanewatch::event::Direction::Inbound {
            self.0.push(w.clone());
        }
    }
}

#[test]
fn scratch2() {
    let config = Config::shipped();
    let t0 = lanewatch::time::parse_timestamp("2026-04-13T00:00:00+08:00").unwrap();
    let mut opts = SimOptions::new(t0, t0 + 72 * 3_600_000);
    opts.seed = 25;
    opts.demand = 1.5;
    let sim = Simulator::new(&config.registry, opts).unwrap();
    let mut p = Pipeline::with_observer(&config, Rows::default());
    p.set_split_pending(0, true);
    for e in sim {
        p.apply(&e.payload, None);
    }
    p.set_split_pending(0, false);
    p.flush();
    for r in &p.observer.0 {
        let t = lanewatch::time::format_ms(r.start_ms + 8 * 3_600_000);
        if t.starts_with("2026-04-15T08")
            || t.starts_with("2026-04-15T09")
            || t.starts_with("2026-04-13T10")
        {
            eprintln!(
                "{} arr {:.1} mu {:?} open {} rec {} exc {} p95 {:?}",
                &t[..16],
                r.arrivals,
                r.service_rate,
                r.open_lanes,
                r.recommended_lanes,
                r.capacity_exceeded,
                r.p95_s
            );
        }
    }
}
