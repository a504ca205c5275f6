//! The metrics endpoint under slow readers and a reconnect loop, in a process of its
//! own (the test binary re-run for this one test, `support::in_own_process`): it
//! measures the process's resident memory, which other tests running in parallel
//! threads would disturb.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanewatch::export::http::HttpServer;
use lanewatch::health::Health;
use tokio_util::sync::CancellationToken;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// The issue #14 attack on a large exposition (2,700 lanes, about 10 MB: a region's
/// thousand lanes with room to spare at the default 39 series per lane):
/// 64 connections that request `/metrics` and never read, plus a reconnect loop.
/// `/healthz` and an authenticated scrape are still answered, the slow readers share
/// the few bodies they pin instead of holding a copy each, and they are cut once their
/// writes stall for `http.write_timeout`.
#[test]
fn slow_readers_and_a_reconnect_loop_leave_probes_and_scrapes_answered() {
    let _alone = support::heavy();
    if support::in_own_process(
        "http_slow_readers::slow_readers_and_a_reconnect_loop_leave_probes_and_scrapes_answered",
    ) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(slow_readers_and_a_reconnect_loop());
    }
}

async fn slow_readers_and_a_reconnect_loop() {
    use base64::Engine;
    let hash = bcrypt::hash("pw", 4).unwrap();
    let (_dir, config) = support::web_config(
        &format!("basic_auth_users:\n  prom: {hash}\n"),
        "write_timeout = \"2s\"\n",
    );
    let metrics = support::metrics_of_lanes(&config, 2700, 10);
    let size = metrics.encode().len();
    let server = HttpServer::bind(&config.http, metrics, Arc::new(Health::default()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("prom:pw")
    );
    let rss_before = rss_mib();
    let (healthz, scrapes, rss, cut, pinned) = tokio::task::spawn_blocking(move || {
        let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n");
        let slow: Vec<TcpStream> = (0..64)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(request.as_bytes()).unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let pinned = rss_mib();
        let start = Instant::now();
        let reconnect = std::thread::spawn(move || {
            while start.elapsed() < Duration::from_secs(4) {
                drop(TcpStream::connect(addr));
                std::thread::sleep(Duration::from_millis(75));
            }
        });
        let client = reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let (mut healthz, mut scrapes, mut rss) = (Vec::new(), Vec::new(), 0f64);
        while start.elapsed() < Duration::from_secs(4) {
            let t = Instant::now();
            let r = client.get(format!("http://{addr}/healthz")).send().unwrap();
            assert_eq!(r.status(), 200);
            healthz.push(t.elapsed());
            let t = Instant::now();
            let mut r = client
                .get(format!("http://{addr}/metrics"))
                .header("authorization", &auth)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            let n = r.copy_to(&mut std::io::sink()).unwrap();
            assert!(n as usize > size / 2);
            scrapes.push(t.elapsed());
            rss = rss.max(rss_mib());
            std::thread::sleep(Duration::from_millis(200));
        }
        reconnect.join().unwrap();
        // The slow readers are cut: reading what the server sent ends (EOF or reset).
        let cut = slow
            .into_iter()
            .filter(|s| {
                let mut s = s.try_clone().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => return true,
                        Ok(_) => continue,
                        Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock,
                    }
                }
            })
            .count();
        (healthz, scrapes, rss.max(pinned), cut, pinned)
    })
    .await
    .unwrap();
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    eprintln!(
        "exposition {:.1} MB; under 64 slow readers and a reconnect loop: /healthz max {:?} ({} probes), authenticated scrape max {:?} ({}); RSS {rss_before:.0} MiB, {pinned:.0} with the slow readers served, max {rss:.0} with scrapes too; {cut} of 64 slow readers cut",
        size as f64 / 1e6,
        max(&healthz),
        healthz.len(),
        max(&scrapes),
        scrapes.len()
    );
    assert!(size > 9_000_000, "exposition of {size} bytes");
    assert!(max(&healthz) < Duration::from_secs(1));
    assert!(max(&scrapes) < Duration::from_secs(3));
    // Before, every slow reader held a copy of the body (64 × 10 MB).
    assert!(
        pinned - rss_before < 4.0 * size as f64 / (1 << 20) as f64,
        "the slow readers took {:.0} MiB",
        pinned - rss_before
    );
    assert!(rss < 128.0, "RSS {rss:.0} MiB");
    assert_eq!(cut, 64, "slow readers still connected");
    stop.cancel();
    task.await.unwrap();
}
