//! The ground-truth file written next to the events (`--truth`): it agrees with the
//! events window by window, shows closures, schedules and slowdowns, and leaves the
//! events byte-identical.

use super::*;

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
            lanewatch::simulate::options::parse_incident_arg(&format!(
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
    use lanewatch::simulate::options::parse_incident_arg;
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
    lanewatch::simulate::run(args.into(), CancellationToken::new())
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
