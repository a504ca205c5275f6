//! The traffic simulator end to end: reproducibility, the day profile, queueing under
//! load and incidents, and sensor imperfections as counted by the live pipeline.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use clap::Parser;
use lanewatch::config::{Config, Registry, load_registry};
use lanewatch::event::{Direction, Reason, parse};
use lanewatch::pipeline::Pipeline;
use lanewatch::simulate::traffic::{DEFAULT_INBOUND_PROFILE, DEFAULT_OUTBOUND_PROFILE};
use lanewatch::simulate::{EventKind, Imperfections, SimEvent, SimOptions, Simulator};
use tokio_util::sync::CancellationToken;

use crate::support::replay as helpers;
use helpers::{LateOracle, nearest_rank_pct};

mod imperfections;
mod truth;

const HOUR: i64 = 3_600_000;

fn ts(s: &str) -> i64 {
    lanewatch::time::parse_timestamp(s).expect("test timestamp")
}

/// Local midnight, 2026-11-26 (Beijing time).
fn midnight() -> i64 {
    ts("2026-11-26T00:00:00+08:00")
}

fn default_registry_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/checkpoints.toml")
}

fn registry() -> Registry {
    load_registry(&default_registry_path()).expect("the shipped registry is valid")
}

fn simulate(registry: &Registry, opts: SimOptions) -> Vec<SimEvent> {
    Simulator::new(registry, opts)
        .expect("valid options")
        .collect()
}

/// A parsed valid event: (checkpoint, direction, lane, arrived, departed).
struct Passage {
    checkpoint: String,
    direction: Direction,
    lane: String,
    arrived_ms: i64,
    departed_ms: i64,
}

fn passages(events: &[SimEvent]) -> Vec<Passage> {
    let limits = Config::with_registry(Registry::default()).events;
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Passage | EventKind::Late))
        .map(|e| {
            let ev = parse(&e.payload, &limits, None).expect("valid event");
            Passage {
                checkpoint: ev.checkpoint.to_string(),
                direction: ev.direction,
                lane: ev.lane.to_string(),
                arrived_ms: ev.arrived_ms,
                departed_ms: ev.departed_ms,
            }
        })
        .collect()
}

fn p95(mut v: Vec<i64>) -> i64 {
    assert!(!v.is_empty(), "no passages to take a quantile of");
    v.sort_unstable();
    nearest_rank_pct(&v, 95)
}

/// p95 passage time of the vehicles of `checkpoint`/`direction` arriving in `[from, to)`
/// on lanes accepted by `lane`.
fn p95_of(
    ps: &[Passage],
    checkpoint: &str,
    direction: Direction,
    from: i64,
    to: i64,
    lane: impl Fn(&str) -> bool,
) -> i64 {
    p95(ps
        .iter()
        .filter(|p| p.checkpoint == checkpoint && p.direction == direction && lane(&p.lane))
        .filter(|p| (from..to).contains(&p.arrived_ms))
        .map(|p| p.departed_ms - p.arrived_ms)
        .collect())
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: lanewatch::cli::SimulateArgs,
}

async fn run_to_file(path: &Path, seed: &str) -> lanewatch::simulate::SimSummary {
    let registry = default_registry_path();
    let args = Cli::try_parse_from([
        "simulate",
        "--registry",
        registry.to_str().unwrap(),
        "--start",
        "2026-11-26T05:00:00+08:00",
        "--duration",
        "6h",
        "--speed",
        "max",
        "--seed",
        seed,
        "--duplicates",
        "0.01",
        "--late",
        "0.01",
        "--malformed",
        "0.01",
        "--output",
        path.to_str().unwrap(),
    ])
    .expect("flags parse")
    .args;
    lanewatch::simulate::run(args.into(), CancellationToken::new())
        .await
        .expect("run")
}

#[tokio::test]
async fn same_seed_is_byte_identical_and_seeds_differ() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let sa = run_to_file(&a, "7").await;
    run_to_file(&b, "7").await;
    run_to_file(&c, "8").await;
    let (a, b, c) = (
        std::fs::read(a).unwrap(),
        std::fs::read(b).unwrap(),
        std::fs::read(c).unwrap(),
    );
    assert!(!sa.interrupted);
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count() as u64, sa.written);
    assert_eq!(sa.written, sa.stats.messages);
    assert!(sa.written > 1000, "{sa:?}");
    assert!(a == b, "same seed, same bytes");
    assert!(a != c, "another seed, other traffic");
}

#[test]
fn hourly_arrivals_follow_the_profile() {
    // A custom profile (and the shipped default one) against Poisson tolerances.
    let dir = tempfile::tempdir().unwrap();
    let profile: Vec<f64> = (0..24).map(|h| [0.05, 0.3, 1.0, 0.6][h % 4]).collect();
    let text = format!(
        "[[checkpoint]]\nid = \"t\"\n[[checkpoint.lane]]\ndirection = \"inbound\"\nkind = \"mixed\"\n\
         ids = [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\"]\n\
         [[checkpoint.lane]]\ndirection = \"outbound\"\nkind = \"mixed\"\nids = [\"1\", \"2\", \"3\", \"4\"]\n\
         [checkpoint.traffic]\ninbound_peak_per_hour = 400\ninbound_profile = {profile:?}\n\
         outbound_peak_per_hour = 150\n"
    );
    let path = dir.path().join("r.toml");
    std::fs::write(&path, text).unwrap();
    let reg = load_registry(&path).unwrap();
    let days = 3;
    let mut opts = SimOptions::new(midnight(), midnight() + days * 24 * HOUR);
    opts.seed = 11;
    let sim = Simulator::new(&reg, opts).unwrap();
    let ps = passages(&sim.collect::<Vec<_>>());
    let hourly = |d: Direction| {
        let mut c = [0f64; 24];
        for p in ps.iter().filter(|p| p.direction == d) {
            c[((p.arrived_ms - midnight()).rem_euclid(24 * HOUR) / HOUR) as usize] += 1.0;
        }
        c
    };
    let check = |d: Direction, expected: &dyn Fn(usize) -> f64| {
        let c = hourly(d);
        for (h, &got) in c.iter().enumerate() {
            let e = expected(h) * days as f64;
            assert!(
                (got - e).abs() <= 4.0 * e.sqrt() + 3.0,
                "{d} hour {h}: {got} arrivals, expected {e:.1}"
            );
        }
    };
    check(Direction::Inbound, &|h| 400.0 * profile[h]);
    // The default outbound profile is half-hourly.
    check(Direction::Outbound, &|h| {
        150.0 * (DEFAULT_OUTBOUND_PROFILE[2 * h] + DEFAULT_OUTBOUND_PROFILE[2 * h + 1]) / 2.0
    });
}

#[test]
fn morning_peak_is_slower_than_the_night_and_the_default_day_peaks_inbound_in_the_morning() {
    let reg = registry();
    let t0 = midnight();
    let ps = passages(&simulate(&reg, SimOptions::new(t0, t0 + 24 * HOUR)));
    let traffic = lanewatch::simulate::traffic::of_registry(&reg, None).unwrap();
    for (cp, traffic) in reg.checkpoints.iter().zip(&traffic) {
        let peak = p95_of(
            &ps,
            &cp.id,
            Direction::Inbound,
            t0 + 7 * HOUR,
            t0 + 9 * HOUR,
            |_| true,
        );
        let night = p95_of(
            &ps,
            &cp.id,
            Direction::Inbound,
            t0 + HOUR,
            t0 + 5 * HOUR,
            |_| true,
        );
        assert!(
            peak > night,
            "{}: peak p95 {peak} ms vs night p95 {night} ms",
            cp.id
        );
        let evening = p95_of(
            &ps,
            &cp.id,
            Direction::Outbound,
            t0 + 17 * HOUR,
            t0 + 20 * HOUR,
            |_| true,
        );
        let night = p95_of(
            &ps,
            &cp.id,
            Direction::Outbound,
            t0 + HOUR,
            t0 + 5 * HOUR,
            |_| true,
        );
        assert!(
            evening > night,
            "{}: evening p95 {evening} ms vs night p95 {night} ms",
            cp.id
        );
        // Arrivals in the configured peak hour vs a night hour, by the profile.
        let count = |d: Direction, h: i64| {
            ps.iter()
                .filter(|p| {
                    p.checkpoint == cp.id
                        && p.direction == d
                        && (t0 + h * HOUR..t0 + (h + 1) * HOUR).contains(&p.arrived_ms)
                })
                .count() as f64
        };
        let rate = traffic.inbound.peak_per_hour;
        let e = rate * (DEFAULT_INBOUND_PROFILE[14] + DEFAULT_INBOUND_PROFILE[15]) / 2.0;
        assert!(
            (count(Direction::Inbound, 7) - e).abs() <= 4.0 * e.sqrt() + 3.0,
            "{}: 07:00 hour",
            cp.id
        );
        assert!(
            count(Direction::Inbound, 7) > 5.0 * count(Direction::Inbound, 3),
            "{}",
            cp.id
        );
    }
}

#[test]
fn closing_lanes_slows_the_remaining_lanes() {
    let reg = registry();
    let t0 = midnight();
    let base = SimOptions::new(t0 + 5 * HOUR, t0 + 11 * HOUR);
    let incident = |spec: &str| {
        let mut o = base.clone();
        o.incidents
            .push(lanewatch::simulate::options::parse_incident_arg(spec).unwrap());
        o
    };
    let normal = passages(&simulate(&reg, base.clone()));
    let closed = passages(&simulate(&reg, incident("baimiao/inbound/01@07:00+90m")));
    let closed2 = passages(&simulate(&reg, incident("baimiao/inbound/02@07:00+90m")));
    let others = |l: &str| !matches!(l, "01" | "02" | "B1" | "B2" | "T1");
    let (from, to) = (t0 + 7 * HOUR, t0 + 9 * HOUR);
    let p_normal = p95_of(&normal, "baimiao", Direction::Inbound, from, to, others);
    let p_closed = p95_of(&closed, "baimiao", Direction::Inbound, from, to, others);
    assert!(
        p_closed > p_normal,
        "closing 01: p95 {p_closed} ms vs {p_normal} ms"
    );
    let p_closed2 = p95_of(&closed2, "baimiao", Direction::Inbound, from, to, others);
    assert!(
        p_closed2 > p_normal,
        "closing 02: p95 {p_closed2} ms vs {p_normal} ms"
    );
    // Nobody joins the closed lane during the incident; queued vehicles are still served.
    let joined = closed.iter().filter(|p| {
        p.checkpoint == "baimiao" && p.direction == Direction::Inbound && p.lane == "01"
    });
    assert!(
        joined
            .clone()
            .all(|p| !(t0 + 7 * HOUR..t0 + 8 * HOUR + HOUR / 2).contains(&p.arrived_ms))
    );
    assert!(joined.count() > 0);
    // Other checkpoints are untouched: same seed, same vehicles (common random numbers).
    let elsewhere = |ps: &[Passage]| {
        ps.iter()
            .filter(|p| p.checkpoint != "baimiao")
            .map(|p| (p.arrived_ms, p.departed_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(elsewhere(&normal), elsewhere(&closed));
    // Slowing every lane also lengthens passages.
    let slow = passages(&simulate(
        &reg,
        incident("baimiao/inbound/*@07:00+1h:slow=2"),
    ));
    let p_slow = p95_of(&slow, "baimiao", Direction::Inbound, from, to, |_| true);
    assert!(p_slow > p95_of(&normal, "baimiao", Direction::Inbound, from, to, |_| true));
}

#[test]
fn opening_more_lanes_brings_the_peak_down() {
    let reg = registry();
    let t0 = midnight();
    let mut few = SimOptions::new(t0 + 5 * HOUR, t0 + 11 * HOUR);
    few.open_lanes
        .push(lanewatch::simulate::options::parse_open_lanes("baimiao/inbound/car=3").unwrap());
    let mut more = few.clone();
    more.open_lanes.push(
        lanewatch::simulate::options::parse_open_lanes("baimiao/inbound/car=6@07:30+3h").unwrap(),
    );
    let few_ps = passages(&simulate(&reg, few));
    let more_ps = passages(&simulate(&reg, more));
    let (from, to) = (t0 + 8 * HOUR, t0 + 9 * HOUR);
    let p_few = p95_of(&few_ps, "baimiao", Direction::Inbound, from, to, |_| true);
    let p_more = p95_of(&more_ps, "baimiao", Direction::Inbound, from, to, |_| true);
    assert!(
        p_more < p_few,
        "six lanes p95 {p_more} ms vs three lanes {p_few} ms"
    );
    let lanes_used: HashSet<&str> = few_ps
        .iter()
        .filter(|p| p.checkpoint == "baimiao" && p.direction == Direction::Inbound)
        .map(|p| p.lane.as_str())
        .collect();
    assert!(
        !lanes_used.contains("04") && !lanes_used.contains("05"),
        "only three car lanes staffed: {lanes_used:?}"
    );
}
