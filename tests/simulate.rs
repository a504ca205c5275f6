//! The traffic simulator end to end: reproducibility, the day profile, queueing under
//! load and incidents, and sensor imperfections as counted by the live pipeline.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use clap::Parser;
use lanewatch::config::traffic::{DEFAULT_INBOUND_PROFILE, DEFAULT_OUTBOUND_PROFILE};
use lanewatch::config::{Config, Registry, load_registry};
use lanewatch::event::{Direction, Reason, parse};
use lanewatch::pipeline::Pipeline;
use lanewatch::simulate::{
    EventKind, Imperfections, SimEvent, SimOptions, SimulateArgs, Simulator,
};
use tokio_util::sync::CancellationToken;

#[path = "common/replay_helpers.rs"]
mod helpers;
use helpers::LateOracle;

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
    v[(v.len() * 95).div_ceil(100) - 1]
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
    args: SimulateArgs,
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
    lanewatch::simulate::run(args, CancellationToken::new())
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
    for cp in &reg.checkpoints {
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
        let rate = cp.traffic.inbound.peak_per_hour;
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
            .push(lanewatch::simulate::args::parse_incident_arg(spec).unwrap());
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
        .push(lanewatch::simulate::args::parse_open_lanes("baimiao/inbound/car=3").unwrap());
    let mut more = few.clone();
    more.open_lanes.push(
        lanewatch::simulate::args::parse_open_lanes("baimiao/inbound/car=6@07:30+3h").unwrap(),
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

#[test]
fn imperfections_are_produced_and_counted_by_the_pipeline() {
    let reg = registry();
    let t0 = midnight();
    let mut opts = SimOptions::new(t0, t0 + 24 * HOUR);
    opts.seed = 3;
    opts.imperfections = Imperfections {
        duplicates: 0.02,
        late: 0.03,
        late_by_ms: 600_000,
        malformed: 0.02,
        ..Imperfections::default()
    };
    let config = Config::with_registry(reg.clone());
    let mut sim = Simulator::new(&reg, opts.clone()).unwrap();
    let mut events = Vec::new();
    let mut max_pending = 0;
    while let Some(e) = sim.next() {
        max_pending = max_pending.max(sim.pending());
        events.push(e);
    }
    let stats = sim.stats().clone();
    assert!(
        max_pending < 5_000,
        "held back at most {max_pending} messages"
    );

    let mut pipeline = Pipeline::new(&config);
    // Read as `lanewatch replay` reads a file: one split, pending until its end.
    pipeline.set_split_pending(0, true);
    let mut by_kind: HashMap<EventKind, u64> = HashMap::new();
    let mut ids = HashSet::new();
    let mut oracle = LateOracle::new(
        config.windows.allowed_lateness_ms,
        config.windows.lane_idle_timeout_ms,
        config.windows.sizes_ms[0],
    );
    let mut expected_late = 0u64;
    let mut last_delivery = i64::MIN;
    for e in &events {
        assert!(e.deliver_at_ms >= last_delivery, "delivery order");
        last_delivery = e.deliver_at_ms;
        *by_kind.entry(e.kind).or_default() += 1;
        if let EventKind::Malformed(_) = e.kind {
            pipeline.apply(&e.payload, None);
            continue;
        }
        let ev = parse(&e.payload, &config.events, None).expect("valid event");
        assert_eq!(e.key, format!("{}/{}", ev.checkpoint, ev.direction));
        let short = if ev.direction == Direction::Inbound {
            "in"
        } else {
            "out"
        };
        let prefix = format!("{}-{short}-{}-", ev.checkpoint, ev.lane);
        let seq = ev.event_id.strip_prefix(&prefix).expect("event id prefix");
        assert!(
            seq.len() == 9 && seq.bytes().all(|b| b.is_ascii_digit()),
            "{}",
            ev.event_id
        );
        assert!(
            reg.checkpoint(&ev.checkpoint)
                .unwrap()
                .lanes
                .iter()
                .any(|l| l.id == ev.lane && l.direction == ev.direction)
        );
        match e.kind {
            EventKind::Passage => assert_eq!(e.deliver_at_ms, ev.departed_ms),
            EventKind::Late => {
                assert!((ev.departed_ms + 1..=ev.departed_ms + 600_000).contains(&e.deliver_at_ms))
            }
            _ => {}
        }
        if e.kind == EventKind::Duplicate {
            assert!(
                ids.contains(ev.event_id.as_ref()),
                "a duplicate repeats an earlier event"
            );
        } else {
            assert!(
                ids.insert(ev.event_id.to_string()),
                "event ids are unique per passage"
            );
            let direction = format!("{}/{}", ev.checkpoint, ev.direction);
            if oracle.apply(&direction, &ev.lane, ev.departed_ms) {
                expected_late += 1;
            }
        }
        pipeline.apply(&e.payload, None);
    }
    let count = |k: EventKind| by_kind.get(&k).copied().unwrap_or(0);
    let c = &pipeline.counters;
    assert_eq!(c.received.get(), events.len() as u64);
    assert_eq!(c.duplicates.get(), count(EventKind::Duplicate));
    assert_eq!(c.late.get(), expected_late);
    assert!(expected_late > 0 && expected_late <= count(EventKind::Late));
    for r in Reason::ALL {
        assert_eq!(
            c.rejected[r.index()].get(),
            count(EventKind::Malformed(r)),
            "{r}"
        );
        let expected_some = r != Reason::FutureEvent;
        assert_eq!(count(EventKind::Malformed(r)) > 0, expected_some, "{r}");
    }
    // Requested fractions, within binomial tolerances.
    let near = |got: u64, p: f64, n: u64| {
        let e = p * n as f64;
        (got as f64 - e).abs() <= 4.0 * (e * (1.0 - p)).sqrt() + 1.0
    };
    let n = stats.passages;
    let malformed: u64 = Reason::ALL
        .iter()
        .map(|r| count(EventKind::Malformed(*r)))
        .sum();
    assert_eq!(malformed, stats.malformed);
    assert!(near(malformed, 0.02, n), "{malformed} malformed of {n}");
    assert!(
        near(count(EventKind::Late), 0.03, n - malformed),
        "{} late",
        count(EventKind::Late)
    );
    assert!(
        near(count(EventKind::Duplicate), 0.02, n - malformed),
        "{} duplicates",
        count(EventKind::Duplicate)
    );
    assert_eq!(stats.messages, events.len() as u64);
}

#[test]
fn future_events_are_rejected_live() {
    let reg = registry();
    let t0 = midnight();
    let mut opts = SimOptions::new(t0 + 7 * HOUR, t0 + 8 * HOUR);
    opts.imperfections = Imperfections {
        malformed: 0.1,
        malformed_reasons: vec![Reason::FutureEvent],
        ..Imperfections::default()
    };
    let mut pipeline = Pipeline::new(&Config::with_registry(reg.clone()));
    let mut n = 0;
    for e in simulate(&reg, opts) {
        pipeline.apply(&e.payload, Some(e.deliver_at_ms));
        n += u64::from(e.kind == EventKind::Malformed(Reason::FutureEvent));
    }
    assert!(n > 0);
    assert_eq!(
        pipeline.counters.rejected[Reason::FutureEvent.index()].get(),
        n
    );
}

#[test]
fn user_errors_say_what_to_fix() {
    let reg = registry();
    let t0 = midnight();
    let err = |f: &dyn Fn(&mut SimOptions)| {
        let mut o = SimOptions::new(t0, t0 + HOUR);
        f(&mut o);
        Simulator::new(&reg, o).err().expect("rejected").to_string()
    };
    use lanewatch::simulate::args::{parse_incident_arg, parse_open_lanes};
    let e = err(&|o| {
        o.incidents
            .push(parse_incident_arg("baimao/inbound/03@07:30+45m").unwrap())
    });
    assert!(
        e.contains("unknown checkpoint \"baimao\"") && e.contains("baimiao, yanjiao"),
        "{e}"
    );
    let e = err(&|o| {
        o.incidents
            .push(parse_incident_arg("baimiao/outbound/06@07:30+45m").unwrap())
    });
    assert!(
        e.contains("no outbound lane \"06\"") && e.contains("01, 02, 03, 04, B1, B2, T1"),
        "{e}"
    );
    let e = err(&|o| {
        o.open_lanes
            .push(parse_open_lanes("baimiao/inbound/car=9").unwrap())
    });
    assert!(e.contains("has 7 inbound car lanes, fewer than 9"), "{e}");
    let e = err(&|o| o.end_ms = o.start_ms);
    assert!(e.contains("--end must be after --start"), "{e}");
    let e = err(&|o| o.imperfections.late = 1.5);
    assert!(e.contains("--late 1.5 is not a fraction"), "{e}");
}

fn night_options() -> SimOptions {
    let t0 = midnight();
    let mut o = SimOptions::new(t0 + 2 * HOUR, t0 + 3 * HOUR);
    o.seed = 5;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produces_keyed_messages_to_kafka() {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    mock.create_topic("passages", 3, 1).unwrap();
    let reg = registry();
    let expected: Vec<SimEvent> = simulate(&reg, night_options());
    let out = lanewatch::simulate::Output::Kafka {
        brokers: mock.bootstrap_servers(),
        topic: "passages".into(),
        options: vec![("linger.ms".into(), "1".into())],
    };
    let sim = Simulator::new(&reg, night_options()).unwrap();
    let sum = lanewatch::simulate::run_simulator(
        sim,
        out,
        lanewatch::simulate::Speed::Max,
        CancellationToken::new(),
    )
    .await
    .expect("produced");
    assert_eq!(
        sum.written,
        expected.len() as u64,
        "every message acknowledged"
    );

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", "sim-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["passages"]).unwrap();
    let mut got: HashMap<String, (i32, Vec<Vec<u8>>)> = HashMap::new();
    let mut n = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while n < expected.len() && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(std::time::Duration::from_millis(200)) {
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let e = got.entry(key).or_insert((m.partition(), Vec::new()));
            assert_eq!(e.0, m.partition(), "one direction, one partition");
            e.1.push(m.payload().unwrap().to_vec());
            n += 1;
        }
    }
    let mut want: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for e in expected {
        want.entry(e.key).or_default().push(e.payload);
    }
    let got: HashMap<String, Vec<Vec<u8>>> = got.into_iter().map(|(k, (_, v))| (k, v)).collect();
    assert!(
        got == want,
        "same messages, in order per key ({n} consumed)"
    );
}

#[tokio::test]
async fn paced_runs_match_and_stop_on_shutdown() {
    let reg = registry();
    let dir = tempfile::tempdir().unwrap();
    let (fast, paced) = (dir.path().join("fast"), dir.path().join("paced"));
    let run = |path: &Path, speed, token| {
        let sim = Simulator::new(&reg, night_options()).unwrap();
        lanewatch::simulate::run_simulator(
            sim,
            lanewatch::simulate::Output::Jsonl(path.to_path_buf()),
            speed,
            token,
        )
    };
    use lanewatch::simulate::Speed;
    run(&fast, Speed::Max, CancellationToken::new())
        .await
        .unwrap();
    // One simulated hour in about 0.2 s of wall time.
    let started = std::time::Instant::now();
    let s = run(&paced, Speed::Factor(18_000.0), CancellationToken::new())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(150),
        "paced, not flat out"
    );
    assert!(!s.interrupted);
    assert_eq!(
        std::fs::read(&fast).unwrap(),
        std::fs::read(&paced).unwrap()
    );
    // Real time: an hour to go, stopped by the token within moments.
    let token = CancellationToken::new();
    let stopper = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        stopper.cancel();
    });
    let started = std::time::Instant::now();
    let s = run(&paced, Speed::Factor(1.0), token).await.unwrap();
    assert!(s.interrupted && started.elapsed() < std::time::Duration::from_secs(5));
    let all = std::fs::read(&fast)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    assert!(s.written < all, "stopped early: {} of {all}", s.written);
}

// Ground truth (`--truth`): checked against the events it describes.

use lanewatch::simulate::truth::prob_wait_exceeds;
use lanewatch::simulate::{Output, Speed, TruthOptions, TruthWindow, TruthWriter};

/// A valid event of a JSONL file: (checkpoint, direction, lane, arrived, inspection
/// start, departed), timestamps read with the reference parser.
struct Seen {
    checkpoint: String,
    direction: String,
    lane: String,
    arrived: i64,
    inspection: i64,
    departed: i64,
}

fn read_events(path: &Path) -> Vec<Seen> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("valid JSON");
            let s = |k: &str| v[k].as_str().expect(k).to_string();
            let t = |k: &str| ts(v[k].as_str().expect(k));
            Seen {
                checkpoint: s("checkpoint"),
                direction: s("direction"),
                lane: s("lane"),
                arrived: t("arrived_at"),
                inspection: t("inspection_started_at"),
                departed: t("departed_at"),
            }
        })
        .collect()
}

/// The truth file. serde_json's default float parsing can be one ulp off, so the
/// numbers are read again with the standard library's exact parser.
fn read_truth(path: &Path) -> Vec<TruthWindow> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut w: TruthWindow = serde_json::from_str(l).expect("a truth window");
            let exact = |key: &str| -> Option<f64> {
                let at = l.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
                let v = &l[at..];
                let v = &v[..v.find([',', '}']).unwrap()];
                (v != "null").then(|| v.parse().expect(key))
            };
            w.inspection_sum_s = exact("inspection_sum_s").unwrap();
            w.inspection_mean_s = exact("inspection_mean_s");
            w.p95_passage_s = exact("p95_passage_s");
            w.mean_passage_s = exact("mean_passage_s");
            w.arrival_rate_per_min = exact("arrival_rate_per_min").unwrap();
            w.service_rate_per_min = exact("service_rate_per_min");
            w.load = exact("load");
            w
        })
        .collect()
}

/// Simulate in-process into `dir/events.jsonl` and `dir/truth.jsonl`.
async fn simulate_with_truth(
    opts: SimOptions,
    dir: &Path,
) -> (lanewatch::simulate::SimSummary, Vec<Seen>, Vec<TruthWindow>) {
    let (events, truth) = (dir.join("events.jsonl"), dir.join("truth.jsonl"));
    let sim = Simulator::new(&registry(), opts)
        .unwrap()
        .with_truth(TruthOptions::shipped())
        .unwrap();
    let summary = lanewatch::simulate::run_with_truth(
        sim,
        Output::Jsonl(events.clone()),
        Some(TruthWriter::create(&truth).unwrap()),
        Speed::Max,
        CancellationToken::new(),
    )
    .await
    .expect("run");
    (summary, read_events(&events), read_truth(&truth))
}

/// Every direction with lanes × every 5-minute window overlapping `[from, to)`, in
/// (window start, checkpoint, direction) order.
fn assert_complete_grid(rows: &[TruthWindow], reg: &Registry, from: i64, to: i64) {
    let w = 300_000;
    let mut dirs: Vec<(String, &str, u32)> = Vec::new();
    for cp in &reg.checkpoints {
        for d in Direction::ALL {
            let n = cp.lanes.iter().filter(|l| l.direction == d).count() as u32;
            if n > 0 {
                dirs.push((cp.id.clone(), d.as_str(), n));
            }
        }
    }
    dirs.sort();
    let mut expected = Vec::new();
    let mut s = from.div_euclid(w) * w;
    while s < to {
        for (c, d, n) in &dirs {
            expected.push((s, c.clone(), d.to_string(), *n));
        }
        s += w;
    }
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.window_ms, w);
            assert_eq!(ts(&r.window_start), r.window_start_ms);
            assert!(r.window_start.ends_with("+08:00"), "{}", r.window_start);
            (
                r.window_start_ms,
                r.checkpoint.clone(),
                r.direction.to_string(),
                r.lanes,
            )
        })
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn truth_agrees_with_the_events_window_by_window() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    // Unaligned edges (partial first and last windows); three of baimiao's six car
    // lanes closed at the inbound peak so that it congests.
    let (from, to) = (
        ts("2026-11-26T06:02:30+08:00"),
        ts("2026-11-26T09:01:00+08:00"),
    );
    let mut opts = SimOptions::new(from, to);
    opts.seed = 23;
    for lane in ["01", "02", "03"] {
        opts.incidents.push(
            lanewatch::simulate::args::parse_incident_arg(&format!(
                "baimiao/inbound/{lane}@07:00+1h"
            ))
            .unwrap(),
        );
    }
    let (summary, events, rows) = simulate_with_truth(opts, dir.path()).await;
    assert!(!summary.interrupted);
    assert_eq!(summary.truth_windows, rows.len() as u64);
    assert_eq!(
        events.len() as u64,
        summary.stats.passages,
        "no imperfections"
    );
    assert_complete_grid(&rows, &reg, from, to);
    let cfg = Config::shipped().congestion;
    let w = 300_000;
    // Per direction, in window order: the congestion state recomputed.
    let mut state: HashMap<(String, Direction), (bool, i64)> = HashMap::new();
    let (mut congested, mut exceeded, mut departures) = (0, 0, 0u64);
    for r in &rows {
        let (s, e) = (r.window_start_ms, r.window_start_ms + w);
        let of = |ev: &&Seen| ev.checkpoint == r.checkpoint && ev.direction == r.direction.as_str();
        let mine: Vec<&Seen> = events.iter().filter(of).collect();
        let arrived: Vec<&&Seen> = mine
            .iter()
            .filter(|ev| (s..e).contains(&ev.arrived))
            .collect();
        let mut passages: Vec<i64> = mine
            .iter()
            .filter(|ev| (s..e).contains(&ev.departed))
            .map(|ev| ev.departed - ev.arrived)
            .collect();
        passages.sort_unstable();
        let inspection_ms: i64 = arrived.iter().map(|ev| ev.departed - ev.inspection).sum();
        let what = format!("{} {} {}", r.checkpoint, r.direction, r.window_start);
        assert_eq!(r.arrivals, arrived.len() as u64, "{what}");
        assert_eq!(r.turned_away, 0, "{what}");
        assert_eq!(r.inspection_sum_s, inspection_ms as f64 / 1000.0, "{what}");
        let n = arrived.len() as f64;
        let mean_s = (n > 0.0).then(|| inspection_ms as f64 / n / 1000.0);
        assert_eq!(r.inspection_mean_s, mean_s, "{what}");
        assert_eq!(r.departures, passages.len() as u64, "{what}");
        departures += r.departures;
        let p95 = (!passages.is_empty()).then(|| p95(passages.clone()));
        assert_eq!(r.p95_passage_s, p95.map(|p| p as f64 / 1000.0), "{what}");
        let mean_passage = (!passages.is_empty())
            .then(|| passages.iter().sum::<i64>() as f64 / passages.len() as f64 / 1000.0);
        assert_eq!(r.mean_passage_s, mean_passage, "{what}");
        let in_system = mine
            .iter()
            .filter(|ev| ev.arrived < e && ev.departed >= e)
            .count();
        assert_eq!(r.queue_vehicles, in_system as u64, "{what}");
        // Rates and load from their definitions.
        assert_eq!(r.arrival_rate_per_min, n / 5.0, "{what}");
        assert_eq!(r.service_rate_per_min, mean_s.map(|m| 60.0 / m), "{what}");
        let load = mean_s.map(|m| (n / 5.0) / (f64::from(r.lanes) * (60.0 / m)));
        assert_eq!(r.load, load, "{what}");
        // The advice is the smallest sufficient lane count, or all lanes and exceeded.
        match r.service_rate_per_min {
            None => assert_eq!((r.recommended_lanes, r.capacity_exceeded), (0, false)),
            Some(mu) => {
                let target = cfg.target_wait_ms as f64 / 60_000.0;
                let p = |c| prob_wait_exceeds(c, r.arrival_rate_per_min, mu, target);
                if r.capacity_exceeded {
                    assert_eq!(r.recommended_lanes, r.lanes, "{what}");
                    assert!(p(r.lanes) >= cfg.risk, "{what}");
                    exceeded += 1;
                } else {
                    let c = r.recommended_lanes;
                    assert!(c >= 1 && p(c) < cfg.risk, "{what}");
                    assert!(c == 1 || p(c - 1) >= cfg.risk, "{what}");
                }
            }
        }
        // Hysteresis on the true p95, times at window ends.
        let st = state
            .entry((r.checkpoint.clone(), r.direction))
            .or_insert((false, i64::MIN));
        if let Some(p) = p95 {
            // Entering needs congestion.min_passages departures; leaving does not.
            let flip = if st.0 {
                p < cfg.leave_p95_ms
            } else {
                p >= cfg.enter_p95_ms && r.departures >= cfg.min_passages
            };
            if flip && e.saturating_sub(st.1) >= cfg.min_dwell_ms {
                *st = (!st.0, e);
            }
        }
        assert_eq!(r.congested, st.0, "{what}");
        congested += usize::from(r.congested);
    }
    assert!(
        congested > 0,
        "three closed lanes at the peak congest baimiao"
    );
    assert!(exceeded > 0);
    let late_departures = events
        .iter()
        .filter(|ev| ev.departed >= (to - 1).div_euclid(w) * w + w)
        .count() as u64;
    assert_eq!(departures + late_departures, summary.stats.passages);
}

#[tokio::test]
async fn truth_shows_closures_schedules_and_slowdowns_at_the_window_midpoints() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = midnight();
    let mut opts = SimOptions::new(t0 + 5 * HOUR + HOUR / 2, t0 + 8 * HOUR + 2 * HOUR / 3);
    opts.seed = 4;
    use lanewatch::simulate::args::parse_incident_arg;
    for spec in [
        "baimiao/inbound/01@07:00+40m",
        "baimiao/inbound/*@08:10+20m:slow=2",
        "baimiao/outbound/*@07:00+10m",
    ] {
        opts.incidents.push(parse_incident_arg(spec).unwrap());
    }
    let (summary, events, rows) = simulate_with_truth(opts, dir.path()).await;
    let at = |hm: &str| ts(&format!("2026-11-26T{hm}:00+08:00"));
    let mut seen_closed = 0;
    for r in &rows {
        let mid = r.window_start_ms + r.window_ms / 2;
        let what = format!("{} {} {}", r.checkpoint, r.direction, r.window_start);
        let in_ = |a: &str, b: &str| (at(a)..at(b)).contains(&mid);
        match (r.checkpoint.as_str(), r.direction) {
            ("baimiao", Direction::Inbound) => {
                // 01 closed 07:00–07:40; 05–07 staffed 06:00–10:00 only.
                let closed = u32::from(in_("07:00", "07:40"));
                let scheduled = if in_("06:00", "10:00") { 12 } else { 9 };
                assert_eq!(r.lanes, 12);
                assert_eq!(r.closed_by_incident, closed, "{what}");
                assert_eq!(r.open_lanes, scheduled - closed, "{what}");
                let slowed = if in_("08:10", "08:30") { 12 } else { 0 };
                assert_eq!(r.slowed_by_incident, slowed, "{what}");
                seen_closed += closed;
            }
            ("baimiao", Direction::Outbound) => {
                // Every lane closed 07:00–07:10: arrivals are turned away.
                assert_eq!(r.slowed_by_incident, 0);
                if in_("07:00", "07:10") {
                    assert_eq!((r.open_lanes, r.closed_by_incident), (0, 7), "{what}");
                    assert_eq!(r.arrivals, 0, "{what}");
                    assert!(r.turned_away > 0, "{what}");
                    assert_eq!((r.recommended_lanes, r.capacity_exceeded), (0, false));
                    assert_eq!(r.inspection_mean_s, None);
                } else {
                    assert_eq!(r.closed_by_incident, 0, "{what}");
                    assert_eq!(r.turned_away, 0, "{what}");
                    // 04 is staffed 16:30–20:30 only.
                    assert_eq!(r.open_lanes, 6, "{what}");
                }
            }
            _ => {
                assert_eq!((r.closed_by_incident, r.slowed_by_incident), (0, 0));
                assert_eq!(r.open_lanes, r.lanes, "{what}");
            }
        }
    }
    assert_eq!(seen_closed, 8, "eight windows of the 40-minute closure");
    let total: u64 = rows.iter().map(|r| r.arrivals + r.turned_away).sum();
    assert_eq!(total, summary.stats.arrivals);
    assert_eq!(
        rows.iter().map(|r| r.turned_away).sum::<u64>(),
        summary.stats.turned_away
    );
    // Nobody joins the closed lane; the vehicles queued in it when it closed are served.
    let lane01: Vec<&Seen> = events
        .iter()
        .filter(|e| e.checkpoint == "baimiao" && e.direction == "inbound" && e.lane == "01")
        .collect();
    assert!(
        lane01
            .iter()
            .all(|e| !(at("07:00")..at("07:40")).contains(&e.arrived))
    );
    assert!(
        lane01
            .iter()
            .any(|e| e.arrived < at("07:00") && e.departed > at("07:00")),
        "the queue of a closed lane is still served"
    );
}

/// `lanewatch simulate` with imperfections, with or without `--truth`.
async fn run_cli(events: &Path, truth: Option<&Path>) -> lanewatch::simulate::SimSummary {
    let registry = default_registry_path();
    let mut argv = vec![
        "simulate".to_string(),
        "--registry".into(),
        registry.to_str().unwrap().into(),
        "--start".into(),
        "2026-11-26T06:00:00+08:00".into(),
        "--duration".into(),
        "4h".into(),
        "--speed".into(),
        "max".into(),
        "--seed".into(),
        "9".into(),
        "--duplicates".into(),
        "0.05".into(),
        "--late".into(),
        "0.05".into(),
        "--malformed".into(),
        "0.05".into(),
        "--incident".into(),
        "baimiao/inbound/02@07:00+30m".into(),
        "--output".into(),
        events.to_str().unwrap().into(),
    ];
    if let Some(t) = truth {
        argv.extend(["--truth".into(), t.to_str().unwrap().into()]);
    }
    let args = Cli::try_parse_from(argv).expect("flags parse").args;
    lanewatch::simulate::run(args, CancellationToken::new())
        .await
        .expect("run")
}

#[tokio::test]
async fn truth_leaves_the_events_byte_identical_and_counts_every_vehicle_once() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, with, truth) = (
        dir.path().join("plain.jsonl"),
        dir.path().join("with.jsonl"),
        dir.path().join("truth.jsonl"),
    );
    let a = run_cli(&plain, None).await;
    let b = run_cli(&with, Some(&truth)).await;
    assert!(
        std::fs::read(&plain).unwrap() == std::fs::read(&with).unwrap(),
        "same events with and without --truth"
    );
    assert_eq!(a.truth_windows, 0);
    assert_eq!((a.written, &a.stats), (b.written, &b.stats));
    assert!(b.stats.duplicates > 0 && b.stats.malformed > 0 && b.stats.late > 0);
    let rows = read_truth(&truth);
    assert_eq!(b.truth_windows, rows.len() as u64);
    assert_complete_grid(
        &rows,
        &registry(),
        ts("2026-11-26T06:00:00+08:00"),
        ts("2026-11-26T10:00:00+08:00"),
    );
    // Physical vehicles: a duplicated message is one vehicle, a malformed one still one.
    let arrivals: u64 = rows.iter().map(|r| r.arrivals).sum();
    assert_eq!(arrivals, b.stats.passages);
    assert!(b.stats.messages != b.stats.passages);
}

#[test]
fn truth_is_written_as_the_run_goes() {
    // Two days: each window is handed out as soon as the run is past its end, so
    // nothing accumulates beyond the vehicles in the system.
    let reg = registry();
    let t0 = midnight();
    let w = 300_000;
    let mut sim = Simulator::new(&reg, SimOptions::new(t0, t0 + 48 * HOUR))
        .unwrap()
        .with_truth(TruthOptions::shipped())
        .unwrap();
    let per_window = 8; // the default registry's checkpoint directions
    let mut drained = 0usize;
    let mut last: Option<(i64, String, Direction)> = None;
    while let Some(e) = sim.next() {
        for r in sim.drain_truth() {
            let key = (r.window_start_ms, r.checkpoint.clone(), r.direction);
            assert!(last.as_ref().is_none_or(|l| *l < key), "sorted");
            last = Some(key);
            drained += 1;
        }
        // Every window ending at or before this message's delivery is out.
        let due = ((e.deliver_at_ms.min(t0 + 48 * HOUR) - t0) / w) as usize * per_window;
        assert!(
            drained >= due,
            "{drained} windows out at {}",
            e.deliver_at_ms
        );
    }
    drained += sim.drain_truth().count();
    assert_eq!(drained, 48 * 12 * per_window);
}
