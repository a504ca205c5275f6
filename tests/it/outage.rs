//! A broker outage on a broker of this test's own (the shared one stays up): the
//! process stays up, `/readyz` turns 503 and back, the connectivity gauge follows,
//! consumption resumes and nothing is lost.

use crate::support;

use std::time::{Duration, Instant};

use support::own::{OwnBroker, kafka_sh_run, scratch};
use support::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_of_a_minute_is_survived_without_loss() {
    // A broker of its own, started with the jars and Java tests/run.sh provides.
    require!(Need::Kafka);
    let _alone = crate::support::heavy();
    let dir = scratch();
    let bdir = dir.path().join("broker");
    let broker = OwnBroker::start(&bdir, &[]);
    let bootstrap = broker.bootstrap();
    let kafka = Kafka::own(&bootstrap);

    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let topic = kafka.fresh_topic("outage", 3).await;
    let group = unique("group");
    let cdir = tempfile::tempdir().unwrap();
    let config = kafka.config(cdir.path(), &topic, &group, "", "", "");
    let base_ms = now_ms() - 3_600_000;
    let batch = |from: usize, n: usize| -> Vec<(String, Vec<u8>)> {
        (from..from + n)
            .map(|i| {
                let lane = format!("O{}", i % 9);
                let d = base_ms + i as i64 * 50;
                (
                    format!("oq/inbound/{lane}"),
                    event_json(
                        &format!("o-{i}"),
                        "oq",
                        "inbound",
                        &lane,
                        d - 20_000,
                        None,
                        d,
                    )
                    .into_bytes(),
                )
            })
            .collect()
    };
    kafka.produce(&topic, &batch(0, 5_000));
    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone()).await.unwrap();
    let a = running.addr;
    eventually(
        Duration::from_secs(60),
        "ready and first batch consumed",
        || async {
            let ready = http_get(a, "/readyz").await.0 == 200;
            let got = scrape(a).await.get("lanewatch_events_received_total", &[]) == Some(5_000.0);
            (ready && got).then_some(())
        },
    )
    .await;

    // The first batch is committed (every 500 ms) before the outage begins.
    let hw = kafka.high_watermarks(&topic, 3);
    eventually(Duration::from_secs(30), "first batch committed", || async {
        (kafka.committed(&topic, &group, 3) == hw).then_some(())
    })
    .await;

    // The broker's own shutdown can take up to kafka.sh's 20 s stop timeout on a busy
    // machine: the outage starts when it is gone.
    kafka_sh_run("stop", &bdir, &[]);
    let stopped_at = Instant::now();
    eventually(
        Duration::from_secs(60),
        "/readyz 503 and disconnected",
        || async {
            let not_ready = http_get(a, "/readyz").await.0 == 503;
            let down = scrape(a).await.get("lanewatch_broker_connected", &[]) == Some(0.0);
            (not_ready && down).then_some(())
        },
    )
    .await;
    let detected = stopped_at.elapsed();
    // A minute without a broker: the process stays up and keeps answering.
    while stopped_at.elapsed() < Duration::from_secs(60) {
        assert_eq!(http_get(a, "/healthz").await.0, 200);
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let restarted_at = Instant::now();
    kafka_sh_run("start", &bdir, &[]);
    kafka.produce(&topic, &batch(5_000, 5_000));
    // On a timeout, say what was seen last (readiness, counts, connectivity).
    let seen = std::sync::Mutex::new(String::new());
    let m = eventually_or(
        Duration::from_secs(120),
        "ready again and every event consumed",
        || seen.lock().unwrap().clone(),
        || async {
            let (status, body) = http_get(a, "/readyz").await;
            let m = scrape(a).await;
            let received = m.get("lanewatch_events_received_total", &[]);
            *seen.lock().unwrap() = format!(
                "/readyz {status} {body:?}, received {received:?}, duplicates {:?}, connected {:?}, rebalances {:?}/{:?}, commits ok {:?} error {:?}",
                m.get("lanewatch_events_duplicate_total", &[]),
                m.get("lanewatch_broker_connected", &[]),
                m.get("lanewatch_rebalances_total", &[("kind", "revoke")]),
                m.get("lanewatch_rebalances_total", &[("kind", "assign")]),
                m.get("lanewatch_offset_commits_total", &[("result", "ok")]),
                m.get("lanewatch_offset_commits_total", &[("result", "error")]),
            );
            (status == 200 && received == Some(10_000.0)).then_some(m)
        },
    )
    .await;
    let recovered = restarted_at.elapsed();
    assert_eq!(m.get("lanewatch_broker_connected", &[]), Some(1.0));
    assert_eq!(m.sum("lanewatch_passages_total", &[]), 10_000.0);
    assert_eq!(m.get("lanewatch_events_duplicate_total", &[]), Some(0.0));
    eprintln!(
        "outage: detected in {detected:?}, down 60 s, recovered (broker start + produce + drain) in {recovered:?}"
    );
    shutdown.cancel();
    running.wait().await.unwrap();
    assert_eq!(
        kafka.committed(&topic, &group, 3),
        kafka.high_watermarks(&topic, 3)
    );
    drop(broker);
}
