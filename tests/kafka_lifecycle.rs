//! Lifecycle against a real Apache Kafka broker: SIGTERM mid-stream and restart (no
//! loss, no double count, nothing committed re-read), and two instances in one group.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
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

/// The `lanewatch run` binary as a child process; its `/metrics` address is read from
/// its JSON log.
struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Service {
    fn start(config: &std::path::Path) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
            .args(["run", "--config"])
            .arg(config)
            .args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("lanewatch starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("serving /metrics")
                    && let Some(t) = tx.take()
                {
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                    let _ = t.send(
                        v["fields"]["addr"]
                            .as_str()
                            .unwrap()
                            .parse::<SocketAddr>()
                            .unwrap(),
                    );
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("lanewatch logs its address");
        Service { child, addr }
    }

    fn sigterm(&self) {
        let rc = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(rc.success());
    }

    /// Wait for exit; returns the status and how long it took.
    fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s, t.elapsed());
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                panic!("lanewatch did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_commits_and_restart_rereads_nothing() {
    let partitions = 4;
    let topic = fresh_topic("lifecycle", partitions).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let text = config_toml(dir.path(), &topic, &group, "", EMPTY_REGISTRY, "");
    let path = dir.path().join("lanewatch.toml");
    std::fs::write(&path, text).unwrap();

    let total = 60_000;
    produce(&topic, &traffic("life", total, 24));

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
    first.sigterm();
    let (status, took) = first.wait(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");

    let after_first: i64 = committed(&topic, &group, partitions)
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
    second.sigterm();
    let (status, _) = second.wait(Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(
        committed(&topic, &group, partitions),
        high_watermarks(&topic, partitions)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_partitions_and_sum_to_the_totals() {
    let partitions = 4;
    let topic = fresh_topic("split", partitions).await;
    let group = unique("group");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ca = config(da.path(), &topic, &group, "", EMPTY_REGISTRY, "");
    let cb = config(db.path(), &topic, &group, "", EMPTY_REGISTRY, "");
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
    produce(&topic, &events);
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
        committed(&topic, &group, partitions),
        high_watermarks(&topic, partitions)
    );
}
