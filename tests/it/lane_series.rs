//! Which histograms are exported per lane (`buckets.per_lane`) and which per checkpoint
//! direction: a direction's series are the sum of its lanes' passages, checked against
//! the events themselves, and both forms pass `promtool check metrics`.

use std::collections::BTreeMap;

use lanewatch::config::{Config, DEFAULT_REGISTRY_TOML};
use lanewatch::pipeline::Pipeline;

use crate::support::http::Metrics;
use crate::support::promtool_check_metrics;

/// One passage: checkpoint, direction, lane, queue wait and inspection (ms, `None`:
/// the event carries no inspection start), departure (ms).
type Passage = (
    &'static str,
    &'static str,
    &'static str,
    Option<(i64, i64)>,
    i64,
);

/// Passages on two directions of two checkpoints, waits and inspections either side of
/// the default bounds, one event without an inspection start.
fn passages() -> Vec<Passage> {
    let t0 = 1_764_108_000_000i64;
    let mut out = Vec::new();
    let lanes = [
        ("baimiao", "inbound", "01"),
        ("baimiao", "inbound", "02"),
        ("baimiao", "inbound", "B1"),
        ("baimiao", "outbound", "01"),
        ("yanjiao", "inbound", "01"),
    ];
    for i in 0..60i64 {
        let (cp, dir, lane) = lanes[(i % 5) as usize];
        let wait = (i * 7_919) % 400_000;
        let insp = 5_000 + (i * 3_331) % 200_000;
        let inspection = (i % 13 != 0).then_some((wait, insp));
        out.push((cp, dir, lane, inspection, t0 + i * 20_000));
    }
    out
}

fn exposition(per_lane: &str) -> String {
    let text = format!("[buckets]\nper_lane = [{per_lane}]\n");
    let config = Config::from_texts(&text, DEFAULT_REGISTRY_TOML).expect("valid config");
    let mut pipeline = Pipeline::new(&config);
    for (i, (cp, dir, lane, inspection, departed)) in passages().into_iter().enumerate() {
        let (arrived, started) = match inspection {
            Some((wait, insp)) => {
                let arrived = departed - wait - insp;
                (
                    arrived,
                    format!(",\"inspection_started_at\":{}", arrived + wait),
                )
            }
            None => (departed - 90_000, String::new()),
        };
        let event = format!(
            "{{\"event_id\":\"e{i}\",\"checkpoint\":\"{cp}\",\"direction\":\"{dir}\",\"lane\":\"{lane}\",\"arrived_at\":{arrived}{started},\"departed_at\":{departed}}}"
        );
        pipeline.apply(event.as_bytes(), None);
    }
    lanewatch::export::metrics::text_of(&pipeline)
}

/// Per `(checkpoint, direction)`: the count, sum (s) and count at or below each of
/// `bounds` of the queue waits (`inspection = false`) or inspections of the passages.
fn truth(inspection: bool, bounds: &[f64]) -> BTreeMap<(&'static str, &'static str), Vec<f64>> {
    let mut out: BTreeMap<_, Vec<f64>> = BTreeMap::new();
    for (cp, dir, _, ins, _) in passages() {
        let Some((wait, insp)) = ins else { continue };
        let v = if inspection { insp } else { wait } as f64 / 1000.0;
        let row = out
            .entry((cp, dir))
            .or_insert_with(|| vec![0.0; bounds.len() + 2]);
        row[0] += 1.0;
        row[1] += v;
        for (k, b) in bounds.iter().enumerate() {
            if v <= *b {
                row[2 + k] += 1.0;
            }
        }
    }
    out
}

#[test]
fn queue_wait_inspection_and_headway_are_summed_per_direction_by_default() {
    let text = exposition("\"passage_duration_seconds\"");
    promtool_check_metrics(text.as_bytes());
    let m = Metrics::parse(&text);
    for family in [
        "lanewatch_queue_wait_seconds",
        "lanewatch_inspection_duration_seconds",
        "lanewatch_departure_headway_seconds",
    ] {
        for suffix in ["_bucket", "_sum", "_count"] {
            let name = format!("{family}{suffix}");
            let with_lane = m.matching(&name, &[]).filter(|s| s.1.contains_key("lane"));
            assert_eq!(with_lane.count(), 0, "{name} carries a lane label");
            assert!(m.count(&name) > 0, "{name} not exported");
        }
    }
    let config = Config::shipped();
    for (inspection, family, bounds) in [
        (
            false,
            "lanewatch_queue_wait_seconds",
            &config.buckets.queue_wait,
        ),
        (
            true,
            "lanewatch_inspection_duration_seconds",
            &config.buckets.inspection,
        ),
    ] {
        for ((cp, dir), want) in truth(inspection, bounds) {
            let l = [("checkpoint", cp), ("direction", dir)];
            let count = format!("{family}_count");
            assert_eq!(m.get(&count, &l), Some(want[0]), "{count} {cp}/{dir}");
            let sum = m.get(&format!("{family}_sum"), &l).unwrap();
            assert!((sum - want[1]).abs() < 1e-6, "{family}_sum {cp}/{dir}");
            for (k, b) in bounds.iter().enumerate() {
                let le = b.to_string();
                let mut lb = l.to_vec();
                lb.push(("le", &le));
                let bucket = format!("{family}_bucket");
                assert_eq!(
                    m.get(&bucket, &lb),
                    Some(want[2 + k]),
                    "{bucket} {cp}/{dir} le={le}"
                );
            }
        }
    }
    // A direction of the registry without passages is exported (at zero) from start-up.
    assert_eq!(
        m.get(
            "lanewatch_queue_wait_seconds_count",
            &[("checkpoint", "xuyin"), ("direction", "inbound")]
        ),
        Some(0.0)
    );
    // The passage time stays per lane.
    let passages = passages();
    let lane01 = passages
        .iter()
        .filter(|p| (p.0, p.1, p.2) == ("baimiao", "inbound", "01"))
        .count() as f64;
    assert_eq!(
        m.get(
            "lanewatch_passage_duration_seconds_count",
            &[
                ("checkpoint", "baimiao"),
                ("direction", "inbound"),
                ("lane", "01")
            ]
        ),
        Some(lane01)
    );
}

#[test]
fn histograms_named_in_per_lane_are_per_lane_and_sum_to_the_directions() {
    let all = "\"passage_duration_seconds\", \"queue_wait_seconds\", \"inspection_duration_seconds\", \"departure_headway_seconds\"";
    let lanes = Metrics::parse(&exposition(all));
    let dirs = Metrics::parse(&exposition("\"passage_duration_seconds\""));
    promtool_check_metrics(exposition(all).as_bytes());
    for family in [
        "lanewatch_queue_wait_seconds",
        "lanewatch_inspection_duration_seconds",
        "lanewatch_departure_headway_seconds",
    ] {
        let mut seen = 0;
        for (name, labels, value) in &dirs.samples {
            if !name.starts_with(family) {
                continue;
            }
            assert!(!labels.contains_key("lane"), "{name} {labels:?}");
            let l: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let per_lane: Vec<_> = lanes.matching(name, &l).collect();
            assert!(per_lane.iter().all(|s| s.1.contains_key("lane")), "{name}");
            let total: f64 = per_lane.iter().map(|s| s.2).sum();
            assert!(
                (total - value).abs() < 1e-6,
                "{name} {labels:?}: {total} vs {value}"
            );
            seen += 1;
        }
        assert!(seen > 0, "{family}");
    }
}

/// Issue #13's budget: a region of 1,000 lanes (directions of eight, as
/// `lanewatch-bench` lays them out) exports at most 40 series per lane with the shipped
/// configuration, whatever the families' details.
#[test]
fn a_region_of_a_thousand_lanes_exports_at_most_forty_series_per_lane_by_default() {
    let config = Config::shipped();
    let mut pipeline = Pipeline::new(&config);
    let t0 = 1_764_108_000_000i64;
    let lanes = 1000;
    for i in 0..lanes {
        let (cp, dir) = (i / 16, ["inbound", "outbound"][i % 2]);
        let event = format!(
            "{{\"event_id\":\"r{i}\",\"checkpoint\":\"cp{cp:03}\",\"direction\":\"{dir}\",\"lane\":\"L{:02}\",\"arrived_at\":{},\"inspection_started_at\":{},\"departed_at\":{}}}",
            i % 16,
            t0,
            t0 + 60_000,
            t0 + 90_000
        );
        pipeline.apply(event.as_bytes(), None);
    }
    let text = lanewatch::export::metrics::text_of(&pipeline);
    let m = Metrics::parse(&text);
    let exported = m.count("lanewatch_passages_total");
    assert!(exported >= lanes, "{exported} lanes exported");
    let per_lane = m.samples.len() as f64 / exported as f64;
    assert!(
        per_lane <= 40.0,
        "{} series for {exported} lanes: {per_lane:.1} per lane",
        m.samples.len()
    );
}

/// A lane not in the registry that expires leaves the exposition, but its passages stay
/// in its direction's sums: a counter that went down would read as a reset to
/// Prometheus (and `rate` would count the whole total again).
#[test]
fn an_expired_lane_leaves_its_direction_sums_whole() {
    let config = Config::from_texts("", DEFAULT_REGISTRY_TOML).expect("defaults");
    let mut pipeline = Pipeline::new(&config);
    let t0 = 1_764_108_000_000i64;
    // Two lanes of a checkpoint the registry does not know; lane 02 goes on 2 h longer.
    let mut n = 0;
    let mut send = |p: &mut Pipeline<()>, lane: &str, departed: i64| {
        n += 1;
        let event = format!(
            "{{\"event_id\":\"x{n}\",\"checkpoint\":\"newcp\",\"direction\":\"inbound\",\"lane\":\"{lane}\",\"arrived_at\":{},\"inspection_started_at\":{},\"departed_at\":{departed}}}",
            departed - 90_000,
            departed - 40_000
        );
        p.apply(event.as_bytes(), None);
    };
    for i in 0..10 {
        send(&mut pipeline, "01", t0 + i * 30_000);
        send(&mut pipeline, "02", t0 + i * 30_000 + 1);
    }
    let later = t0 + 2 * 3_600_000;
    for i in 0..5 {
        send(&mut pipeline, "02", later + i * 30_000);
    }
    let dir = [("checkpoint", "newcp"), ("direction", "inbound")];
    let count = |p: &Pipeline<()>| {
        let m = Metrics::parse(&lanewatch::export::metrics::text_of(p));
        (
            m.get("lanewatch_queue_wait_seconds_count", &dir),
            m.get(
                "lanewatch_passages_total",
                &[dir[0], dir[1], ("lane", "01")],
            ),
        )
    };
    assert_eq!(count(&pipeline), (Some(25.0), Some(10.0)));
    pipeline.expire_dynamic(later + 5 * 30_000);
    // Lane 01 is gone; the direction still counts its ten.
    assert_eq!(count(&pipeline), (Some(25.0), None));
    // And keeps counting on.
    send(&mut pipeline, "02", later + 10 * 30_000);
    assert_eq!(count(&pipeline).0, Some(26.0));
}
