//! `lanewatch replay --openmetrics`: the file is accepted by
//! `promtool tsdb create-blocks-from openmetrics`, and a real Prometheus started on the
//! blocks answers a query for a lane's passage count with the replayed number.
//! Samples from the last 3 hours are left out.

use crate::support;
use crate::support::Need;
use crate::support::replay as helpers;

use std::time::Duration;

use helpers::{Line, Passage, dataset, expect, jsonl, replay_json};

fn query(base: &str, q: &str, at_s: i64) -> Option<f64> {
    let body = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", q), ("time", &at_s.to_string())])
        .send()
        .and_then(|r| r.text())
        .expect("query prometheus");
    let r: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(r["status"], "success", "{r}");
    let res = r["data"]["result"].as_array()?;
    res.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_answers_with_the_replayed_counts() {
    require!(Need::Tool("promtool"), Need::Tool("prometheus"));
    let _alone = crate::support::heavy();
    let now = lanewatch::time::now_ms();
    let t0 = (now - 30 * 3_600_000).div_euclid(3_600_000) * 3_600_000;
    let mut lines = dataset(11, t0, 3 * 3_600_000, 300, 0);
    // Two passages one hour ago: inside Prometheus's head-block range, left out.
    for k in 0..2 {
        let departed = now - 3_600_000 + k;
        lines.push(Line::Valid(Passage {
            id: format!("recent-{k}"),
            cp: "baimiao",
            dir: "inbound",
            lane: "01",
            arrived: departed - 60_000,
            inspection: None,
            departed,
        }));
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("e.jsonl");
    std::fs::write(&input, jsonl(&lines)).unwrap();
    let om = dir.path().join("lanes.om");
    let (_, j) = replay_json(
        dir.path(),
        "r.json",
        &[
            "--input",
            input.to_str().unwrap(),
            "--openmetrics",
            om.to_str().unwrap(),
        ],
    );
    let x = expect(&lines, i64::MIN, i64::MAX, 300_000, 120_000);
    assert_eq!(j["events"]["accepted"], x.accepted);

    let text = std::fs::read_to_string(&om).unwrap();
    assert!(text.ends_with("# EOF\n"));
    let cutoff_s = (now - 3 * 3_600_000) / 1000 + 60;
    let newest = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert!(
        newest <= cutoff_s,
        "a sample from the last 3 hours was written ({newest})"
    );

    // promtool lints it without a warning (issue #15), and it carries every family of
    // the traffic that the recording and alert rules read.
    support::promtool_check_metrics(text.as_bytes());
    let missing = families_the_rules_read_missing_from(&text);
    assert!(missing.is_empty(), "backfill lacks {missing:?}");

    let tsdb = dir.path().join("tsdb");
    crate::support::prometheus::create_blocks(&om, &tsdb);

    let prom = crate::support::prometheus::Prometheus::on_tsdb(
        dir.path(),
        &tsdb,
        "30d",
        Duration::from_secs(60),
    );
    let base = prom.base.clone();

    // At several window ends, the passage count of each lane is the number of its
    // accepted events that departed before then, and so is a passage bucket's: the
    // default bound nearest five minutes (262 s, the level-of-service C/D edge).
    let le_s = *lanewatch::config::DEFAULT_PASSAGE_BUCKETS
        .iter()
        .min_by(|a, b| (*a - 300.0).abs().total_cmp(&(*b - 300.0).abs()))
        .expect("default passage buckets");
    let le_ms = (le_s * 1000.0) as i64;
    for (cp, d, lane) in x.lanes.keys() {
        let evs = &x.lanes[&(cp.clone(), d.clone(), lane.to_string())];
        for hours in [1, 2, 3] {
            let at = t0 + hours * 3_600_000 - 600_000;
            let want = evs.iter().filter(|e| e.departed < at).count() as f64;
            let sel = format!("{{checkpoint=\"{cp}\",direction=\"{d}\",lane=\"{lane}\"}}");
            let got = query(&base, &format!("lanewatch_passages_total{sel}"), at / 1000);
            assert_eq!(got, Some(want), "passages of {cp} {d} {lane} at {at}");
            let le = query(
                &base,
                &format!(
                    "lanewatch_passage_duration_seconds_bucket{{checkpoint=\"{cp}\",direction=\"{d}\",lane=\"{lane}\",le=\"{le_s}\"}}"
                ),
                at / 1000,
            );
            let want_le = evs
                .iter()
                .filter(|e| e.departed < at && e.departed - e.arrived <= le_ms)
                .count() as f64;
            assert_eq!(
                le,
                Some(want_le),
                "bucket le={le_s} of {cp} {d} {lane} at {at}"
            );
        }
    }
}

/// Metrics of the live process itself, not of the traffic: a replay has no consumer,
/// broker, rebalance or received-message count to backfill.
const PROCESS_ONLY: [&str; 8] = [
    "lanewatch_broker_connected",
    "lanewatch_checkpoint_partitions",
    "lanewatch_consumer_lag_messages",
    "lanewatch_consumer_lag_seconds",
    "lanewatch_events_received_total",
    "lanewatch_events_rejected_total",
    "lanewatch_rebalances_total",
    "lanewatch_ready",
];

/// `lanewatch_*` series the shipped recording and alert rules read that no sample of
/// the backfill `text` carries (histogram suffixes matched to their family).
fn families_the_rules_read_missing_from(text: &str) -> Vec<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut wanted = std::collections::BTreeSet::new();
    for f in ["recording.yml", "alerts.yml"] {
        let y: serde_json::Value = serde_norway::from_str(
            &std::fs::read_to_string(format!("{root}/deploy/prometheus/{f}")).unwrap(),
        )
        .unwrap();
        for g in y["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                let expr = r["expr"].as_str().unwrap();
                // Metric names: `lanewatch_…` not part of a recorded name (`a:b:c`).
                let b = expr.as_bytes();
                let mut i = 0;
                while let Some(p) = expr[i..].find("lanewatch_") {
                    let s = i + p;
                    let mut e = s;
                    while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'_') {
                        e += 1;
                    }
                    let recorded = (s > 0
                        && (b[s - 1] == b':'
                            || b[s - 1].is_ascii_alphanumeric()
                            || b[s - 1] == b'_'))
                        || b.get(e) == Some(&b':');
                    if !recorded {
                        wanted.insert(expr[s..e].to_string());
                    }
                    i = e;
                }
            }
        }
    }
    assert!(
        wanted.contains("lanewatch_lane_level_of_service") && wanted.len() >= 10,
        "the rules' metric names were not found: {wanted:?}"
    );
    let present: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("lanewatch_"))
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    wanted
        .into_iter()
        .filter(|n| !PROCESS_ONLY.contains(&n.as_str()))
        .filter(|n| {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(n);
            !present.contains(n.as_str())
                && !["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| present.contains(format!("{family}{s}").as_str()))
        })
        .collect()
}
