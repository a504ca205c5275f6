//! The live pipeline against a real Apache Kafka broker: exact per-lane counts,
//! histogram buckets, rejects by reason and dead letters; offsets committed at the end.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use lanewatch::config::DEFAULT_PASSAGE_BUCKETS;
use support::*;
use tokio_util::sync::CancellationToken;

const REGISTRY: &str = r#"
[[checkpoint]]
id = "cpa"
[[checkpoint.lane]]
direction = "inbound"
ids = ["01", "02"]
[[checkpoint.lane]]
direction = "outbound"
ids = ["01"]

[[checkpoint]]
id = "cpb"
[[checkpoint.lane]]
direction = "inbound"
ids = ["01", "idle"]
"#;

/// Known passages: four lanes (one unregistered), passage times spread over the
/// buckets, some adjacent pairs swapped (out of order within the lateness).
fn passages(base: i64) -> Vec<Passage> {
    let lanes = [
        ("cpa", "inbound", "01"),
        ("cpa", "inbound", "02"),
        ("cpa", "outbound", "01"),
        ("cpb", "inbound", "01"),
        ("cpb", "outbound", "X9"),
    ];
    let mut out = Vec::new();
    let mut seed: u64 = 7;
    for (li, (cp, dir, lane)) in lanes.into_iter().enumerate() {
        let mut lane_events = Vec::new();
        for i in 0..40i64 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Passage times from 1 s to ~40 min, in whole milliseconds.
            let passage = 1_000 + ((seed >> 33) % 2_400_000) as i64;
            let departed = base + i * 20_000 + li as i64 * 3_000;
            let arrived = departed - passage;
            let inspection = (i % 3 != 0).then(|| departed - passage / 5);
            lane_events.push(Passage {
                id: format!("{cp}-{dir}-{lane}-{i}"),
                cp,
                dir,
                lane,
                arrived,
                inspection,
                departed,
            });
        }
        // Swap pairs 5↔6 and 20↔21: the later departure is sent first (10-20 s apart).
        lane_events.swap(5, 6);
        lane_events.swap(20, 21);
        // Lanes interleave in send order as they would on the wire: by position.
        out.extend(
            lane_events
                .into_iter()
                .enumerate()
                .map(|(i, p)| (i as i64 * 20_000 + li as i64 * 3_000, p)),
        );
    }
    out.sort_by_key(|(send_at, _)| *send_at);
    out.into_iter().map(|(_, p)| p).collect()
}

fn malformed(now: i64, base: i64) -> Vec<(&'static str, Vec<u8>)> {
    let p = |arrived, insp, departed| {
        event_json("bad-x", "cpa", "inbound", "01", arrived, insp, departed)
    };
    vec![
        (
            "too_large",
            format!("{{\"pad\":\"{}\"}}", "x".repeat(3000)).into_bytes(),
        ),
        ("not_utf8", vec![b'{', 0xff, 0xfe, b'}']),
        ("invalid_json", b"{\"event_id\": \"truncated".to_vec()),
        (
            "missing_field",
            p(base, None, base + 1000)
                .replace(",\"lane\":\"01\"", "")
                .into_bytes(),
        ),
        (
            "invalid_field",
            p(base, None, base + 1000)
                .replace("inbound", "north")
                .into_bytes(),
        ),
        (
            "departed_before_arrived",
            p(base, None, base - 1000).into_bytes(),
        ),
        (
            "inspection_out_of_range",
            p(base, Some(base + 5000), base + 1000).into_bytes(),
        ),
        (
            "passage_too_long",
            p(base - 7 * 3_600_000, None, base).into_bytes(),
        ),
        (
            "future_event",
            p(now + 3_600_000, None, now + 3_600_500).into_bytes(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_events_give_exact_counts_buckets_rejects_and_dead_letters() {
    let kafka = kafka!(Need::Tool("promtool"));
    let topic = kafka.fresh_topic("passages", 1).await;
    let dlq = kafka.fresh_topic("dlq", 1).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let config = kafka.config(
        dir.path(),
        &topic,
        &group,
        &dlq,
        REGISTRY,
        // Every histogram per lane, so that each lane's are checked (the default sums
        // three of them per direction: tests/it/lane_series.rs).
        "[events]\nmax_event_bytes = 2048\n[buckets]\nper_lane = [\"passage_duration_seconds\", \"queue_wait_seconds\", \"inspection_duration_seconds\", \"departure_headway_seconds\"]\n",
    );

    let now = now_ms();
    let base = now - 2 * 3_600_000;
    let valid = passages(base);
    let mut messages: Vec<(String, Vec<u8>)> = valid
        .iter()
        .map(|p| (p.key(), p.json().into_bytes()))
        .collect();
    // Five sensor re-sends of already-sent events.
    let dups: Vec<&Passage> = valid.iter().step_by(37).take(5).collect();
    messages.extend(dups.iter().map(|p| (p.key(), p.json().into_bytes())));
    // One event 10 minutes older than cpa's newest: beyond the 2-minute lateness.
    let cpa_max = valid
        .iter()
        .filter(|p| p.cp == "cpa")
        .map(|p| p.departed)
        .max()
        .unwrap();
    let late = Passage {
        id: "cpa-late-1".into(),
        cp: "cpa",
        dir: "inbound",
        lane: "02",
        arrived: cpa_max - 600_000 - 30_000,
        inspection: None,
        departed: cpa_max - 600_000,
    };
    messages.push((late.key(), late.json().into_bytes()));
    let bad = malformed(now, base);
    let first_bad_offset = messages.len() as i64;
    messages.extend(
        bad.iter()
            .map(|(_, b)| ("cpa/inbound/01".to_string(), b.clone())),
    );
    kafka.produce(&topic, &messages);

    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone())
        .await
        .expect("service starts");
    let addr = running.addr;

    let total = messages.len() as f64;
    let m = eventually(Duration::from_secs(60), "all messages received", || async {
        let m = scrape(addr).await;
        (m.get("lanewatch_events_received_total", &[]) == Some(total)).then_some(m)
    })
    .await;

    // Per lane: passages, histogram buckets, queue wait, headways.
    let mut accepted = valid.clone();
    accepted.push(late.clone());
    let mut by_lane: BTreeMap<(&str, &str, &str), Vec<&Passage>> = BTreeMap::new();
    for p in &accepted {
        by_lane.entry((p.cp, p.dir, p.lane)).or_default().push(p);
    }
    for ((cp, dir, lane), ps) in &by_lane {
        let l = [("checkpoint", *cp), ("direction", *dir), ("lane", *lane)];
        assert_eq!(
            m.get("lanewatch_passages_total", &l),
            Some(ps.len() as f64),
            "{cp}/{dir}/{lane}"
        );
        for &le in DEFAULT_PASSAGE_BUCKETS {
            let want = ps
                .iter()
                .filter(|p| (p.departed - p.arrived) as f64 / 1000.0 <= le)
                .count() as f64;
            let les = le.to_string();
            let mut lb = l.to_vec();
            lb.push(("le", &les));
            assert_eq!(
                m.get("lanewatch_passage_duration_seconds_bucket", &lb),
                Some(want),
                "{cp}/{dir}/{lane} le={le}"
            );
        }
        let sum: f64 = ps
            .iter()
            .map(|p| (p.departed - p.arrived) as f64 / 1000.0)
            .sum();
        let got_sum = m.get("lanewatch_passage_duration_seconds_sum", &l).unwrap();
        assert!((got_sum - sum).abs() < 1e-6 * sum, "sum {got_sum} vs {sum}");
        let with_insp = ps.iter().filter(|p| p.inspection.is_some()).count() as f64;
        assert_eq!(
            m.get("lanewatch_queue_wait_seconds_count", &l),
            Some(with_insp)
        );
        assert_eq!(
            m.get("lanewatch_inspection_duration_seconds_count", &l),
            Some(with_insp)
        );
        // Headways: consecutive departures in arrival order; an event departing before
        // the newest departure seen on its lane gives none.
        let mut newest = i64::MIN;
        let mut headways = 0.0;
        for p in ps {
            if newest != i64::MIN && p.departed >= newest {
                headways += 1.0;
            }
            newest = newest.max(p.departed);
        }
        assert_eq!(
            m.get("lanewatch_departure_headway_seconds_count", &l),
            Some(headways),
            "{cp}/{dir}/{lane}"
        );
        let last = ps.iter().map(|p| p.departed).max().unwrap() as f64 / 1000.0;
        assert_eq!(
            m.get("lanewatch_lane_last_departure_timestamp_seconds", &l),
            Some(last)
        );
    }
    // The registered lane that saw nothing is exported at zero, windows included.
    let idle = [
        ("checkpoint", "cpb"),
        ("direction", "inbound"),
        ("lane", "idle"),
    ];
    assert_eq!(m.get("lanewatch_passages_total", &idle), Some(0.0));
    assert_eq!(
        m.get("lanewatch_passage_duration_seconds_count", &idle),
        Some(0.0)
    );
    for w in ["1m", "5m", "15m"] {
        let mut l = idle.to_vec();
        l.push(("window", w));
        assert!(
            m.get("lanewatch_lane_throughput_per_minute", &l).is_some(),
            "idle lane window {w}"
        );
    }
    assert_eq!(m.get("lanewatch_lanes_dynamic", &[]), Some(1.0));

    // Pipeline counters.
    assert_eq!(
        m.get("lanewatch_events_duplicate_total", &[]),
        Some(dups.len() as f64)
    );
    assert_eq!(m.get("lanewatch_events_late_total", &[]), Some(1.0));
    for (reason, _) in &bad {
        assert_eq!(
            m.get("lanewatch_events_rejected_total", &[("reason", reason)]),
            Some(1.0),
            "{reason}"
        );
    }
    assert_eq!(
        m.sum("lanewatch_events_rejected_total", &[]),
        bad.len() as f64
    );

    // The exposition passes `promtool check metrics` without a warning; window
    // quantiles are a summary (issue #15).
    let (_, text) = http_get(addr, "/metrics").await;
    assert!(text.contains("# TYPE lanewatch_lane_passage_quantile_seconds summary"));
    promtool_check_metrics(text.as_bytes());

    // The dead-letter topic holds exactly the malformed messages, with context headers.
    let dead = kafka.read_all(&dlq, bad.len(), Duration::from_secs(30));
    assert_eq!(dead.len(), bad.len(), "dead letters: {dead:?}");
    for (i, (reason, bytes)) in bad.iter().enumerate() {
        let d = dead
            .iter()
            .find(|d| d.headers.get("lanewatch.reason").map(String::as_str) == Some(reason))
            .unwrap_or_else(|| panic!("no dead letter for {reason}"));
        assert_eq!(&d.payload, bytes, "{reason}: original bytes");
        assert_eq!(d.key.as_deref(), Some(b"cpa/inbound/01".as_slice()));
        assert_eq!(d.headers["lanewatch.source.topic"], topic);
        assert_eq!(d.headers["lanewatch.source.partition"], "0");
        assert_eq!(
            d.headers["lanewatch.source.offset"],
            (first_bad_offset + i as i64).to_string()
        );
        assert!(!d.headers["lanewatch.detail"].is_empty());
    }

    // Health endpoints.
    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    eventually(Duration::from_secs(20), "/readyz 200", || async {
        (http_get(addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;

    // Graceful stop commits everything: the group's offset is the end of the topic.
    shutdown.cancel();
    let (summary, _) = running.wait().await.expect("clean stop");
    assert!(summary.final_commit_ok);
    assert_eq!(
        kafka.committed(&topic, &group, 1),
        kafka.high_watermarks(&topic, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_until_the_group_assigns_partitions() {
    let dir = tempfile::tempdir().unwrap();
    // A broker address nobody listens on: never connected, never ready, still alive.
    let topic = unique("nowhere");
    let text = Kafka::own("127.0.0.1:1").config_toml(dir.path(), &topic, "g", "", REGISTRY, "");
    let path = dir.path().join("lanewatch.toml");
    std::fs::write(&path, text).unwrap();
    let config = lanewatch::Config::load(&path).unwrap();
    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = http_get(running.addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not ready"), "{body}");
    assert_eq!(http_get(running.addr, "/healthz").await.0, 200);
    let m = scrape(running.addr).await;
    assert_eq!(m.get("lanewatch_broker_connected", &[]), Some(0.0));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), running.wait())
        .await
        .expect("stops in time")
        .expect("clean stop");
}
