//! Lifecycle against a real Apache Kafka broker: SIGTERM mid-stream and restart (no
//! loss, no double count, nothing committed re-read), and two instances in one group.

use crate::support;

use std::time::Duration;

use support::service::Service;
use support::*;
use tokio_util::sync::CancellationToken;

/// `n` valid events spread over `lanes` unregistered lanes of checkpoint `cp`.
fn traffic(cp: &str, n: usize, lanes: usize) -> Vec<(String, Vec<u8>)> {
    let base = now_ms() - 3_600_000;
    (0..n)
        .map(|i| {
            let lane = format!("L{:02}", i % lanes);
            let departed = base + (i as i64) * 10;
            let json = event_json(
                &format!("{cp}-{i}"),
                cp,
                "inbound",
                &lane,
                departed - 45_000,
                None,
                departed,
            );
            (format!("{cp}/inbound/{lane}"), json.into_bytes())
        })
        .collect()
}

const EMPTY_REGISTRY: &str = "";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_commits_and_restart_rereads_nothing() {
    let kafka = kafka!();
    let partitions = 4;
    let topic = kafka.fresh_topic("lifecycle", partitions).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let text = kafka.config_toml(dir.path(), &topic, &group, "", EMPTY_REGISTRY, "");
    let path = dir.path().join("lanewatch.toml");
    std::fs::write(&path, text).unwrap();

    let total = 60_000;
    kafka.produce(&topic, &traffic("life", total, 24));

    let first = Service::start(&path);
    let addr = first.addr;
    // Stop it as soon as it is consuming: mid-stream.
    eventually(
        Duration::from_secs(60),
        "first instance consuming",
        || async {
            let m = scrape(addr).await;
            (m.get("lanewatch_events_received_total", &[]).unwrap_or(0.0) > 0.0).then_some(())
        },
    )
    .await;
    first.signal("TERM");
    let (status, took) = first.wait(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");

    let after_first: i64 = kafka
        .committed(&topic, &group, partitions)
        .iter()
        .map(|&o| o.max(0))
        .sum();
    assert!(
        after_first > 0,
        "the first instance committed what it applied"
    );
    assert!(
        after_first < total as i64,
        "stopped mid-stream ({after_first} of {total}); produce more if this machine is faster"
    );

    let second = Service::start(&path);
    let addr = second.addr;
    let rest = (total as i64 - after_first) as f64;
    let m = eventually(
        Duration::from_secs(120),
        "second instance drained the rest",
        || async {
            let m = scrape(addr).await;
            (m.get("lanewatch_events_received_total", &[]) == Some(rest)).then_some(m)
        },
    )
    .await;
    // Nothing re-read: exactly the uncommitted remainder arrives, each counted once.
    assert_eq!(m.sum("lanewatch_passages_total", &[]), rest);
    assert_eq!(m.get("lanewatch_events_duplicate_total", &[]), Some(0.0));
    second.signal("TERM");
    let (status, _) = second.wait(Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(
        kafka.committed(&topic, &group, partitions),
        kafka.high_watermarks(&topic, partitions)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_partitions_and_sum_to_the_totals() {
    let kafka = kafka!();
    let partitions = 4;
    let topic = kafka.fresh_topic("split", partitions).await;
    let group = unique("group");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ca = kafka.config(da.path(), &topic, &group, "", EMPTY_REGISTRY, "");
    let cb = kafka.config(db.path(), &topic, &group, "", EMPTY_REGISTRY, "");
    let shutdown = CancellationToken::new();
    let a = lanewatch::start(&ca, shutdown.clone()).await.unwrap();
    let b = lanewatch::start(&cb, shutdown.clone()).await.unwrap();
    let (aa, ab) = (a.addr, b.addr);
    eventually(
        Duration::from_secs(60),
        "partitions split across both instances",
        || async {
            let pa = scrape(aa)
                .await
                .get("lanewatch_assigned_partitions", &[])
                .unwrap_or(0.0);
            let pb = scrape(ab)
                .await
                .get("lanewatch_assigned_partitions", &[])
                .unwrap_or(0.0);
            (pa > 0.0 && pb > 0.0 && pa + pb == partitions as f64).then_some(())
        },
    )
    .await;

    let total = 20_000;
    let events = traffic("split", total, 32);
    kafka.produce(&topic, &events);
    let (ma, mb) = eventually(
        Duration::from_secs(90),
        "both instances drained the topic",
        || async {
            let (ma, mb) = (scrape(aa).await, scrape(ab).await);
            let got = ma
                .get("lanewatch_events_received_total", &[])
                .unwrap_or(0.0)
                + mb.get("lanewatch_events_received_total", &[])
                    .unwrap_or(0.0);
            (got == total as f64).then_some((ma, mb))
        },
    )
    .await;
    // Each lane lives in exactly one partition, so in exactly one instance.
    let lanes_a = ma.count("lanewatch_passages_total");
    let lanes_b = mb.count("lanewatch_passages_total");
    assert!(
        lanes_a > 0 && lanes_b > 0,
        "both instances own lanes ({lanes_a}, {lanes_b})"
    );
    assert_eq!(lanes_a + lanes_b, 32);
    let sum = ma.sum("lanewatch_passages_total", &[]) + mb.sum("lanewatch_passages_total", &[]);
    assert_eq!(sum, total as f64);
    // Histogram counts sum across instances too.
    let counts = ma.sum("lanewatch_passage_duration_seconds_count", &[])
        + mb.sum("lanewatch_passage_duration_seconds_count", &[]);
    assert_eq!(counts, total as f64);
    shutdown.cancel();
    a.wait().await.unwrap();
    b.wait().await.unwrap();
    assert_eq!(
        kafka.committed(&topic, &group, partitions),
        kafka.high_watermarks(&topic, partitions)
    );
}
