//! Scale-out on a real Apache Kafka broker (DESIGN §2): a checkpoint direction is
//! analysed as one pool whatever the number of instances. Producers key by
//! `<checkpoint>/<direction>`, so a direction lives in one partition and is read by one
//! instance; one instance and three in one group give the same analysis of every
//! window, and the same checkpoint-level numbers after the aggregations the recording
//! rules apply across instances.

use crate::support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use lanewatch::config::DEFAULT_REGISTRY_TOML;
use lanewatch::congestion::CheckpointWindow;
use lanewatch::event::Direction;
use lanewatch::pipeline::Observer;
use lanewatch::simulate::{SimOptions, Simulator};
use support::*;
use tokio_util::sync::CancellationToken;

/// Every analysis an instance gave, by (checkpoint, direction, window start).
#[derive(Default)]
struct Analyses(BTreeMap<(String, Direction, i64), CheckpointWindow>);

impl lanewatch::lanes::Observer for Analyses {}

impl Observer for Analyses {
    fn checkpoint_window(&mut self, w: &CheckpointWindow) {
        // When it was published depends on how partitions interleave; what it says
        // must not.
        let mut w = w.clone();
        w.closed_at_ms = 0;
        w.advised_at_ms = 0;
        let prev = self
            .0
            .insert((w.checkpoint.clone(), w.direction, w.start_ms), w.clone());
        assert!(prev.is_none(), "window analysed twice: {w:?}");
    }
}

/// The configuration of one instance: its own HTTP port, the shared group. The
/// silent-checkpoint rule is off (1 h) so that the last windows are closed by the
/// watermark alone and the gauges show busy windows when compared.
fn instance_config(
    kafka: &Kafka,
    dir: &std::path::Path,
    topic: &str,
    group: &str,
) -> lanewatch::Config {
    kafka.config(
        dir,
        topic,
        group,
        "",
        DEFAULT_REGISTRY_TOML,
        "[windows]\nidle_timeout = \"1h\"\n",
    )
}

/// Checkpoint-direction series of every instance, aggregated as the recording rules do
/// (`sum by` for counts and rates, `max by` for flags and p95).
fn aggregate(scrapes: &[Metrics]) -> BTreeMap<(String, String, String), f64> {
    let summed = [
        "lanewatch_checkpoint_arrival_rate_per_minute",
        "lanewatch_checkpoint_open_lanes",
        "lanewatch_checkpoint_recommended_lanes",
        "lanewatch_checkpoint_partitions",
    ];
    let maxed = [
        "lanewatch_checkpoint_congested",
        "lanewatch_checkpoint_capacity_exceeded",
        "lanewatch_checkpoint_passage_p95_seconds",
        "lanewatch_checkpoint_level_of_service",
    ];
    let mut out: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for m in scrapes {
        for (name, labels, v) in &m.samples {
            let key = (
                name.clone(),
                labels.get("checkpoint").cloned().unwrap_or_default(),
                labels.get("direction").cloned().unwrap_or_default(),
            );
            if summed.contains(&name.as_str()) {
                *out.entry(key).or_insert(0.0) += v;
            } else if maxed.contains(&name.as_str()) && !v.is_nan() {
                // Prometheus' max ignores NaN unless every value is NaN.
                let e = out.entry(key).or_insert(f64::NEG_INFINITY);
                *e = e.max(*v);
            }
        }
    }
    out
}

async fn received(addr: SocketAddr) -> f64 {
    scrape(addr)
        .await
        .sum("lanewatch_events_received_total", &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_and_three_give_the_same_checkpoint_numbers() {
    let kafka = kafka!();
    const PARTITIONS: i32 = 6;
    let topic = kafka.fresh_topic("scaleout", PARTITIONS).await;
    let reg = lanewatch::Config::shipped().registry;
    let t0 = lanewatch::time::parse_timestamp("2026-11-26T05:00:00+08:00").unwrap();
    let mut opts = SimOptions::new(t0, t0 + 4 * 3_600_000);
    opts.seed = 5;
    let messages: Vec<(String, Vec<u8>)> = Simulator::new(&reg, opts)
        .unwrap()
        .map(|e| (e.key, e.payload))
        .collect();
    assert!(
        messages[0].0.split('/').count() == 2,
        "keyed by checkpoint/direction"
    );
    let n = messages.len() as f64;

    // Three instances in one group, settled before the traffic arrives (no rebalance
    // during the drain).
    let three_group = unique("three");
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let shutdown = CancellationToken::new();
    let mut three = Vec::new();
    for d in &dirs[..3] {
        let c = instance_config(&kafka, d.path(), &topic, &three_group);
        three.push(
            lanewatch::run::start_with(&c, Analyses::default(), shutdown.clone())
                .await
                .expect("instance starts"),
        );
    }
    let addrs: Vec<SocketAddr> = three.iter().map(|r| r.addr).collect();
    eventually(
        Duration::from_secs(90),
        "the three instances share the partitions",
        || {
            let addrs = addrs.clone();
            async move {
                let mut total = 0.0;
                for a in &addrs {
                    let m = scrape(*a).await;
                    let p = m.sum("lanewatch_assigned_partitions", &[]);
                    if p == 0.0 || http_get(*a, "/readyz").await.0 != 200 {
                        return None;
                    }
                    total += p;
                }
                (total == f64::from(PARTITIONS)).then_some(())
            }
        },
    )
    .await;
    kafka.produce(&topic, &messages);
    // One instance alone in its own group.
    let one = lanewatch::run::start_with(
        &instance_config(&kafka, dirs[3].path(), &topic, &unique("one")),
        Analyses::default(),
        shutdown.clone(),
    )
    .await
    .expect("instance starts");

    // Drained by both; then the gauges as the recording rules aggregate them.
    let one_addr = one.addr;
    let (a, b) = eventually(Duration::from_secs(120), "both drained and settled", || {
        let addrs = addrs.clone();
        async move {
            let mut sum = 0.0;
            for a in &addrs {
                sum += received(*a).await;
            }
            if sum != n || received(one_addr).await != n {
                return None;
            }
            // The last windows close once every partition is known to be read.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut ms = Vec::new();
            for a in &addrs {
                ms.push(scrape(*a).await);
            }
            let b = aggregate(&ms);
            let a = aggregate(&[scrape(one_addr).await]);
            (a == b).then_some((a, b))
        }
    })
    .await;
    assert!(
        a.keys()
            .filter(|k| k.0 == "lanewatch_checkpoint_recommended_lanes")
            .count()
            >= 6,
        "{a:?}"
    );
    assert!(
        a.iter()
            .filter(|(k, _)| k.0 == "lanewatch_checkpoint_partitions")
            .all(|(_, v)| *v <= 1.0),
        "a direction read from two partitions: {a:?}"
    );
    assert_eq!(a, b);
    shutdown.cancel();
    let (_, alone) = one.wait().await.expect("stops");
    let mut union: BTreeMap<(String, Direction, i64), CheckpointWindow> = BTreeMap::new();
    for r in three {
        let (_, p) = r.wait().await.expect("stops");
        for (k, w) in p.observer.0 {
            assert!(
                union.insert(k.clone(), w).is_none(),
                "{k:?} analysed by two instances"
            );
        }
    }
    let alone = alone.observer.0;
    assert!(alone.len() > 100, "{} analyses", alone.len());
    assert_eq!(
        alone.keys().collect::<Vec<_>>(),
        union.keys().collect::<Vec<_>>(),
        "the same windows analysed"
    );
    for (k, w) in &alone {
        assert_eq!(Some(w), union.get(k), "{k:?}");
    }
}
