//! The congestion analysis against ground truth: the simulator's record of what
//! happened (a small fixed-seed version of `lanewatch-bench advice`), and the cases
//! that were wrong before (README, Congestion: λ and μ at every load, open lanes that
//! never change after the fact, one definition of "congested").

use crate::support;
use crate::support::replay as replay_helpers;

// The scoring of `lanewatch-bench advice`, compiled into this test (the bench binary's
// modules are no library); its table printer is not used here.
#[allow(dead_code)]
#[path = "../../src/bin/lanewatch-bench/advice.rs"]
mod bench_advice;

use bench_advice::{AdviceArgs, Score, scenarios, score};
use lanewatch::config::Config;
use lanewatch::congestion::CheckpointWindow;
use lanewatch::pipeline::Observer;
use lanewatch::pipeline::Pipeline;
use replay_helpers::replay_json;
use serde_json::Value;

#[test]
fn advice_matches_the_simulated_truth_over_simulated_days() {
    // Two days for two seeds at three demand factors, plain, with closures at the peak
    // and with reduced staffing: 18 runs.
    let args = AdviceArgs {
        days: 2,
        seeds: vec![31, 32],
        demand: vec![0.5, 1.0, 1.5],
    };
    let config = Config::shipped();
    let mut total = Score::default();
    for sc in scenarios(&args) {
        let s = score(&config, sc.opts);
        assert_eq!(
            s.exceeded_below_80, 0,
            "{}: capacity_exceeded while the true load was below 80%",
            sc.label
        );
        assert_eq!(s.congested_differs, 0, "{}: congested differs", sc.label);
        total.add(&s);
    }
    eprintln!(
        "{} windows: exact {:.2}%, within one lane {:.2}%, open lanes exact {:.2}%; worst {:?}",
        total.windows,
        total.pct(total.exact),
        total.pct(total.within_one),
        total.pct(total.open_exact),
        total.worst
    );
    assert!(total.windows > 50_000, "{} windows", total.windows);
    assert!(total.pct(total.exact) >= 90.0, "{total:?}");
    assert!(total.pct(total.within_one) >= 99.0, "{total:?}");
    assert!(total.exceeded_truth > 0, "the runs reach capacity");
    assert!(total.exceeded >= total.exceeded_truth * 9 / 10, "{total:?}");
}

fn replay_file(lines: &[String]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("f.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let (_, json) = replay_json(dir.path(), "r.json", &["--input", input.to_str().unwrap()]);
    json
}

fn car(id: &str, lane: &str, arrived: &str, insp: &str, departed: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","checkpoint":"t","direction":"inbound","lane":"{lane}","arrived_at":"{arrived}","inspection_started_at":"{insp}","departed_at":"{departed}"}}"#
    )
}

/// The direction's analysis rows of a replay report.
fn rows(json: &Value) -> &Vec<Value> {
    json["checkpoints"][0]["analysis"].as_array().unwrap()
}

#[test]
fn light_load_gets_the_service_rate_of_its_inspections() {
    // Two cars on two lanes, 30 s inspections each.
    let json = replay_file(&[
        car(
            "m1",
            "a",
            "2026-11-26T00:01:00Z",
            "2026-11-26T00:03:50Z",
            "2026-11-26T00:04:20Z",
        ),
        car(
            "m2",
            "b",
            "2026-11-26T00:01:30Z",
            "2026-11-26T00:04:20Z",
            "2026-11-26T00:04:50Z",
        ),
    ]);
    let r = &rows(&json)[0];
    assert_eq!(r["service_rate_per_minute"], 2.0, "{r}");
    assert_eq!(r["recommended_lanes"], 1, "{r}");
    assert_eq!(r["capacity_exceeded"], false, "{r}");
    assert!(r["wait_probability"].as_f64().unwrap() < 0.01, "{r}");
    // Ten cars on ten lanes, a minute apart: one lane suffices, whatever the lanes.
    let ten: Vec<String> = (0..10)
        .map(|i| {
            car(
                &format!("c{i}"),
                &format!("l{i}"),
                &format!("2026-11-26T00:0{i}:00Z"),
                &format!("2026-11-26T00:0{i}:20Z"),
                &format!("2026-11-26T00:0{i}:50Z"),
            )
        })
        .collect();
    let json = replay_file(&ten);
    for r in rows(&json) {
        assert_eq!(r["recommended_lanes"], 1, "{r}");
        assert_eq!(r["capacity_exceeded"], false, "{r}");
    }
}

/// Every analysis of baimiao inbound, in the order given.
#[derive(Default)]
struct Analyses(Vec<CheckpointWindow>);

impl lanewatch::lanes::Observer for Analyses {}

impl Observer for Analyses {
    fn checkpoint_window(&mut self, w: &CheckpointWindow) {
        if w.checkpoint == "baimiao" && w.direction == lanewatch::event::Direction::Inbound {
            self.0.push(w.clone());
        }
    }
}

fn baimiao(events: &[(&str, &str, i64)]) -> Vec<CheckpointWindow> {
    let config = Config::shipped();
    let mut p = Pipeline::with_observer(&config, Analyses::default());
    for (id, lane, departed) in events {
        let ev = support::event_json(
            id,
            "baimiao",
            "inbound",
            lane,
            departed - 40_000,
            Some(departed - 30_000),
            *departed,
        );
        p.apply(ev.as_bytes(), None);
    }
    p.flush();
    p.observer.0
}

#[test]
fn open_lanes_follow_the_registry_and_never_change_after_the_fact() {
    // 12:05 Beijing: baimiao inbound has 01–04, B1–B3, T1 and T2 open all day (9 of
    // its 12 lanes); 05–07 only 06:00–10:00.
    let noon = lanewatch::time::parse_timestamp("2026-11-26T12:05:00+08:00").unwrap();
    let two = [("e1", "01", noon + 60_000), ("e2", "01", noon + 120_000)];
    let first = baimiao(&two);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].open_lanes, 9, "{:?}", first[0]);
    assert_eq!(first[0].lanes, 12);
    assert!(first[0].wait_probability < 0.01, "{:?}", first[0]);
    // A third event in the next window adds a window; the first is analysed once, with
    // the same lanes and advice (it was: open lanes 1, wait probability 1).
    let mut three = two.to_vec();
    three.push(("e3", "02", noon + 6 * 60_000));
    let second = baimiao(&three);
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(
        second.windows(2).all(|w| w[0].start_ms < w[1].start_ms),
        "each window once"
    );
    let key = |w: &CheckpointWindow| {
        (
            w.start_ms,
            w.open_lanes,
            w.recommended_lanes,
            w.capacity_exceeded,
        )
    };
    assert_eq!(key(&second[0]), key(&first[0]));
    assert!(second[0].wait_probability < 0.01, "{:?}", second[0]);
}

#[test]
fn congested_means_the_same_in_the_flag_and_the_episodes() {
    // Windows of twenty passages whose nearest-rank p95 (the 19th) is exactly 600 s
    // (= enter_p95), then calm windows, then congested again after the dwell.
    let t0 = lanewatch::time::parse_timestamp("2026-11-26T07:00:00+08:00").unwrap();
    let mut lines = Vec::new();
    let mut n = 0;
    let mut window = |lines: &mut Vec<String>, w: i64, p95: i64| {
        for i in 0..20 {
            let passage = if i < 18 { 60_000 } else { p95 };
            let departed = t0 + w * 300_000 + 1_000 + i * 10_000;
            n += 1;
            lines.push(support::event_json(
                &format!("e{n}"),
                "t",
                "inbound",
                &format!("l{}", i % 4),
                departed - passage,
                None,
                departed,
            ));
        }
    };
    for (w, p95) in [
        (0, 600_000),
        (1, 700_000),
        (2, 60_000),
        (3, 60_000),
        (4, 60_000),
        (5, 600_000),
        (6, 650_000),
        (7, 60_000),
        (8, 60_000),
        (9, 60_000),
    ] {
        window(&mut lines, w, p95);
    }
    let json = replay_file(&lines);
    let cp = &json["checkpoints"][0];
    let rows = cp["analysis"].as_array().unwrap();
    let congested: Vec<&str> = rows
        .iter()
        .filter(|r| r["congested"] == true)
        .map(|r| r["start"].as_str().unwrap())
        .collect();
    let first = rows.iter().find(|r| r["passages"] != 0).unwrap();
    assert_eq!(first["p95_seconds"], 600.0);
    assert_eq!(first["congested"], true, "p95 = enter_p95 is congested");
    let episodes = cp["congestion_episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 2, "{episodes:?}");
    // Every congested window lies in an episode, and every episode window is congested.
    for r in rows {
        let s = r["start"].as_str().unwrap();
        let inside = episodes
            .iter()
            .any(|e| e["start"].as_str().unwrap() <= s && s < e["end"].as_str().unwrap());
        assert_eq!(inside, congested.contains(&s), "window {s}: {r}");
    }
}

#[test]
fn an_event_centuries_later_is_analysed_without_walking_every_window_between() {
    // A sensor with a broken clock: one event in 2026, the next in 9999. The analysis
    // seals and advises windows by jumping, not window by window (that would be a
    // billion five-minute windows).
    let t0 = lanewatch::time::parse_timestamp("2026-11-26T08:00:00+08:00").unwrap();
    let far = lanewatch::time::parse_timestamp("9999-01-01T00:00:00Z").unwrap();
    let config = Config::shipped();
    let mut p = Pipeline::with_observer(&config, Analyses::default());
    for (i, t) in [t0, t0 + 60_000, far, far + 60_000].into_iter().enumerate() {
        let ev = support::event_json(
            &format!("f{i}"),
            "baimiao",
            "inbound",
            "01",
            t - 40_000,
            Some(t - 30_000),
            t,
        );
        assert!(matches!(
            p.apply(ev.as_bytes(), None),
            lanewatch::pipeline::Outcome::Accepted { .. }
        ));
    }
    p.flush();
    let rows = &p.observer.0;
    assert!(rows.len() <= 6, "{} analyses", rows.len());
    assert!(rows.iter().all(|r| r.arrivals <= 2.0), "{rows:?}");
}
