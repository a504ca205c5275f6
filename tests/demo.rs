//! `lanewatch demo` as a newcomer runs it: a child process with nothing installed;
//! registered lanes show passages within seconds; Ctrl-C (SIGINT) exits 0 promptly.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shows_live_lane_metrics_and_stops_cleanly_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lanewatch demo starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("metrics  http://")
                && let Some(t) = tx.take()
            {
                let _ = t.send(
                    rest.trim_end_matches("/metrics")
                        .parse::<SocketAddr>()
                        .unwrap(),
                );
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the demo prints where /metrics is");
    let started = Instant::now();
    let m = eventually(
        Duration::from_secs(60),
        "registered lanes show passages",
        || async {
            let m = scrape(addr).await;
            let baimiao = m.sum(
                "lanewatch_passages_total",
                &[("checkpoint", "baimiao"), ("direction", "inbound")],
            );
            (baimiao > 0.0 && m.get("lanewatch_events_received_total", &[]).unwrap_or(0.0) > 50.0)
                .then_some(m)
        },
    )
    .await;
    eprintln!(
        "demo: lane metrics moving {:?} after start",
        started.elapsed()
    );
    // Histograms and windowed gauges of a registered lane move too.
    let lane = [("checkpoint", "baimiao"), ("direction", "inbound")];
    assert!(m.sum("lanewatch_passage_duration_seconds_count", &lane) > 0.0);
    eventually(
        Duration::from_secs(60),
        "a 1m window closed with throughput",
        || async {
            let m = scrape(addr).await;
            let t = m.sum(
                "lanewatch_lane_throughput_per_minute",
                &[
                    ("checkpoint", "baimiao"),
                    ("direction", "inbound"),
                    ("window", "1m"),
                ],
            );
            (t > 0.0).then_some(())
        },
    )
    .await;
    let rc = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "demo did not stop within 10 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "demo exit status {status:?}");
}
