//! Congestion intelligence on simulated mornings: with too few lanes open the Erlang C
//! advice asks for more lanes before the p95 passage time crosses the congestion
//! threshold; opening the advised lanes keeps p95 under the target; the exported
//! gauges carry help texts and bounded cardinality.

use crate::support::Metrics;
use lanewatch::config::Config;
use lanewatch::congestion::CheckpointWindow;
use lanewatch::pipeline::Observer;
use lanewatch::pipeline::Pipeline;
use lanewatch::simulate::options::parse_open_lanes;
use lanewatch::simulate::{SimOptions, Simulator};

#[derive(Default)]
struct Rows(Vec<CheckpointWindow>);

impl lanewatch::lanes::Observer for Rows {}

impl Observer for Rows {
    fn checkpoint_window(&mut self, w: &CheckpointWindow) {
        if w.checkpoint == "baimiao" && w.direction == lanewatch::event::Direction::Inbound {
            self.0.push(w.clone());
        }
    }
}

/// M/M/c assumes interchangeable lanes: a checkpoint of eight car lanes inbound,
/// cars only, a commuter morning peaking at 600 vehicles an hour.
const REGISTRY: &str = r#"
[[checkpoint]]
id = "baimiao"
[[checkpoint.lane]]
direction = "inbound"
kind = "car"
ids = ["01", "02", "03", "04", "05", "06", "07", "08"]
[checkpoint.traffic]
inbound_peak_per_hour = 600
mix = { car = 1.0 }
"#;

/// 05:00–11:00 Beijing on 2026-11-26 with `open` car lanes inbound.
fn morning(open_car_lanes: u32) -> (Config, Vec<CheckpointWindow>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.toml"), REGISTRY).unwrap();
    let config = Config::with_registry(
        lanewatch::config::load_registry(&dir.path().join("r.toml")).unwrap(),
    );
    let start = lanewatch::time::parse_timestamp("2026-11-26T05:00:00+08:00").unwrap();
    let mut opts = SimOptions::new(start, start + 6 * 3_600_000);
    opts.seed = 7;
    opts.open_lanes
        .push(parse_open_lanes(&format!("baimiao/inbound/car={open_car_lanes}")).unwrap());
    let sim = Simulator::new(&config.registry, opts).unwrap();
    let mut p = Pipeline::with_observer(&config, Rows::default());
    for ev in sim {
        p.apply(&ev.payload, None);
    }
    p.flush();
    (config, p.observer.0)
}

fn print(label: &str, rows: &[CheckpointWindow]) {
    eprintln!(
        "{label}: hour (Beijing) | open lanes | recommended | p95 passage (min, max over the hour's windows)"
    );
    for hour in rows.chunks(12) {
        let t = lanewatch::time::format_ms(hour[0].start_ms + 8 * 3_600_000);
        let open = hour.iter().map(|r| r.open_lanes).max().unwrap();
        let rec = hour.iter().map(|r| r.recommended_lanes).max().unwrap();
        let p95 = hour.iter().filter_map(|r| r.p95_s).fold(0.0f64, f64::max) / 60.0;
        eprintln!("  {} | {open} | {rec} | {p95:.1}", &t[11..16]);
    }
}

#[test]
fn too_few_lanes_get_advice_before_congestion_and_the_advice_works() {
    let (config, few) = morning(2);
    print("2 car lanes", &few);
    let enter_s = config.congestion.enter_p95_ms as f64 / 1000.0;
    let crossed = few
        .iter()
        .position(|r| r.p95_s.is_some_and(|p| p >= enter_s))
        .expect("2 lanes congest at the peak");
    let advised = few
        .iter()
        .position(|r| r.recommended_lanes > r.open_lanes)
        .expect("the advice asks for more lanes");
    assert!(
        advised < crossed,
        "advice in window {advised}, congestion from window {crossed}"
    );
    assert!(
        few[crossed..].iter().any(|r| r.congested),
        "the congestion state follows"
    );
    // Follow the advice the commander had by the time the queue crossed the threshold
    // (the most lanes asked for until then). Later, deep in saturation, a growing queue
    // inflates the arrival estimate; that advice comes too late to matter.
    let wanted = few[..=crossed]
        .iter()
        .map(|r| r.recommended_lanes)
        .max()
        .unwrap();
    assert!(
        wanted > 2 && wanted < 8,
        "the advice is feasible: {wanted} of 8 lanes"
    );
    let (_, enough) = morning(wanted);
    print(&format!("{wanted} lanes, as advised"), &enough);
    let target_s = config.congestion.target_wait_ms as f64 / 1000.0;
    let worst = enough.iter().filter_map(|r| r.p95_s).fold(0.0f64, f64::max);
    assert!(
        worst < target_s,
        "with the advised lanes p95 stays under {target_s} s (worst {worst} s)"
    );
    assert!(!enough.iter().any(|r| r.congested));
}

#[test]
fn congestion_gauges_have_help_texts_and_bounded_cardinality() {
    let config = Config::shipped();
    let start = lanewatch::time::parse_timestamp("2026-11-26T06:00:00+08:00").unwrap();
    let sim = Simulator::new(
        &config.registry,
        SimOptions::new(start, start + 3 * 3_600_000),
    )
    .unwrap();
    let mut p = Pipeline::new(&config);
    for ev in sim {
        p.apply(&ev.payload, None);
    }
    let text = lanewatch::export::metrics::text_of(&p);
    let m = Metrics::parse(&text);
    let dirs: usize = config
        .registry
        .checkpoints
        .iter()
        .map(|c| {
            lanewatch::event::Direction::ALL
                .iter()
                .filter(|d| c.lanes.iter().any(|l| l.direction == **d))
                .count()
        })
        .sum();
    for name in [
        "lanewatch_checkpoint_arrival_rate_per_minute",
        "lanewatch_checkpoint_service_rate_per_minute",
        "lanewatch_checkpoint_open_lanes",
        "lanewatch_checkpoint_recommended_lanes",
        "lanewatch_checkpoint_capacity_exceeded",
        "lanewatch_checkpoint_wait_probability",
        "lanewatch_checkpoint_level_of_service",
        "lanewatch_checkpoint_congested",
    ] {
        let help = text
            .lines()
            .find(|l| l.starts_with(&format!("# HELP {name} ")))
            .unwrap_or_else(|| panic!("{name} has no help"));
        assert!(help.len() > name.len() + 20, "{help}");
        let series = m.count(name);
        assert_eq!(series, dirs, "{name}: one series per checkpoint direction");
    }
    let lanes = config.registry.lane_count();
    for name in [
        "lanewatch_lane_level_of_service",
        "lanewatch_lane_queue_length_vehicles",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")));
        assert_eq!(m.count(name), lanes, "{name}");
    }
    // Advice is within the lanes each direction has.
    for (name, labels, v) in m.matching("lanewatch_checkpoint_recommended_lanes", &[]) {
        assert!((0.0..=8.0).contains(v), "{name}{labels:?} {v}");
    }
}

#[test]
fn the_replay_report_carries_the_same_congestion_analysis() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("r.toml");
    std::fs::write(&reg, REGISTRY).unwrap();
    let config = Config::with_registry(lanewatch::config::load_registry(&reg).unwrap());
    let start = lanewatch::time::parse_timestamp("2026-11-26T05:00:00+08:00").unwrap();
    let mut opts = SimOptions::new(start, start + 6 * 3_600_000);
    opts.seed = 7;
    opts.open_lanes
        .push(parse_open_lanes("baimiao/inbound/car=2").unwrap());
    let mut lines = Vec::new();
    for ev in Simulator::new(&config.registry, opts).unwrap() {
        lines.extend_from_slice(&ev.payload);
        lines.push(b'\n');
    }
    let input = dir.path().join("morning.jsonl");
    std::fs::write(&input, lines).unwrap();
    let (_, live) = morning(2);
    let args = lanewatch::cli::ReplayArgs::try_parse_from([
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--registry",
        reg.to_str().unwrap(),
        "--no-progress",
    ])
    .unwrap();
    let out = lanewatch::replay::replay(&args.into(), &tokio_util::sync::CancellationToken::new())
        .unwrap();
    let cp = out
        .report
        .checkpoints
        .iter()
        .find(|c| c.checkpoint == "baimiao")
        .unwrap();
    let analysis = out.report.analysis(cp, &out.pipeline.observer).unwrap();
    let live_in: Vec<_> = live
        .iter()
        .filter(|r| r.passages > 0 || r.open_lanes > 0)
        .collect();
    assert!(!analysis.is_empty());
    assert_eq!(
        cp.max_recommended_lanes,
        live_in.iter().map(|r| r.recommended_lanes).max().unwrap()
    );
    assert_eq!(
        cp.max_open_lanes,
        live_in.iter().map(|r| r.open_lanes).max().unwrap()
    );
    assert!(analysis.iter().any(|r| r.congested) && !cp.congestion_episodes.is_empty());
}
