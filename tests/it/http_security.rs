//! The metrics endpoint under TLS with basic auth (real TLS client: curl), and against
//! slow or hostile clients while a real Kafka feed keeps being ingested.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanewatch::config::Config;
use lanewatch::export::http::HttpServer;
use lanewatch::export::metrics::Metrics;
use lanewatch::health::Health;
use support::http::curl;
use support::own::make_certs;
use support::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_with_an_exporter_toolkit_web_config() {
    require!(Need::Tool("curl"), Need::Tool("openssl"));
    let dir = tempfile::tempdir().unwrap();
    let config = support::own::tls_basic_auth_config(
        dir.path(),
        "prometheus",
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
    );
    let server = HttpServer::bind(&config.http, Metrics::new(), Arc::new(Health::default()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));
    let url = format!("https://127.0.0.1:{}/metrics", addr.port());
    let ca = dir.path().join("ca.crt");
    let ca = ca.to_str().unwrap();
    let (url2, ca2) = (url.clone(), ca.to_string());
    let results = tokio::task::spawn_blocking(move || {
        (
            curl(&["--cacert", &ca2, "-u", "prometheus:s3cret-pass", &url2]),
            curl(&["--cacert", &ca2, "-u", "prometheus:wrong", &url2]),
            curl(&["--cacert", &ca2, &url2]),
            curl(&["--cacert", &ca2, "-u", "nobody:s3cret-pass", &url2]),
            curl(&["--cacert", &ca2, &url2.replace("/metrics", "/healthz")]),
            // Plain HTTP against the TLS port is refused.
            curl(&[&url2.replace("https", "http")]),
        )
    })
    .await
    .unwrap();
    let _ = ca;
    let (ok, wrong, none, nobody, health, plain) = results;
    assert_eq!(ok.status, "200", "right credentials: {}", ok.body);
    assert!(
        ok.body.contains("lanewatch_build_info"),
        "metrics body over TLS"
    );
    assert_eq!(wrong.status, "401");
    assert_eq!(none.status, "401");
    assert_eq!(nobody.status, "401");
    assert_eq!(health.status, "200", "health endpoints need no credentials");
    assert_ne!(plain.status, "200");
    // The configured extra header is served.
    assert!(
        ok.headers
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{}",
        ok.headers
    );
    stop.cancel();
    task.await.unwrap();
}

#[test]
fn a_bad_web_config_names_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        "basic_auth_users:\n  admin: plaintext-password\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("lanewatch.toml"),
        "[http]\nweb_config_file = \"web.yml\"\n",
    )
    .unwrap();
    let err = Config::load(&dir.path().join("lanewatch.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("http.web_config_file")
            && err.contains("basic_auth_users.admin")
            && err.contains("bcrypt"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("web.yml"),
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
    )
    .unwrap();
    let err = Config::load(&dir.path().join("lanewatch.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cert_file") && err.contains("missing.crt"),
        "{err}"
    );
}

fn raw_request(addr: std::net::SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_scrapers_are_bounded_and_ingestion_is_unaffected() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("hostile", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = kafka.config(
        dir.path(),
        &topic,
        &unique("group"),
        "",
        "",
        "max_connections = 16\nheader_read_timeout = \"1s\"\nmax_header_bytes = 8192\n",
    );
    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone()).await.unwrap();
    let addr = running.addr;

    // Slowloris: 40 connections that send half a request line and stall.
    let stallers: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
            s
        })
        .collect();
    // Ingestion goes on meanwhile.
    let base = now_ms() - 600_000;
    let events: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|i| {
            let lane = format!("H{}", i % 6);
            let d = base + i * 100;
            (
                format!("hq/inbound/{lane}"),
                event_json(
                    &format!("h-{i}"),
                    "hq",
                    "inbound",
                    &lane,
                    d - 30_000,
                    None,
                    d,
                )
                .into_bytes(),
            )
        })
        .collect();
    kafka.produce(&topic, &events);
    // Over the connection cap: a fast 503, not a hang.
    let t = Instant::now();
    let busy = tokio::task::spawn_blocking(move || {
        raw_request(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    })
    .await
    .unwrap();
    assert!(busy.starts_with("HTTP/1.1 503"), "over the cap: {busy:.80}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        t.elapsed()
    );
    // The stalled connections are cut by the header-read timeout.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let closed = tokio::task::spawn_blocking(move || {
        stallers
            .into_iter()
            .filter(|s| {
                let mut s = s.try_clone().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = [0u8; 512];
                s.read(&mut buf).is_ok()
            })
            .count()
    })
    .await
    .unwrap();
    assert_eq!(
        closed, 40,
        "every stalled connection was answered or closed"
    );
    // Oversized headers: 431. Wrong method: 405.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let r = tokio::task::spawn_blocking(move || raw_request(addr, big.as_bytes()))
        .await
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 431"), "{r:.80}");
    let r = tokio::task::spawn_blocking(move || {
        raw_request(
            addr,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 405"), "{r:.80}");
    let r = tokio::task::spawn_blocking(move || {
        raw_request(
            addr,
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 404"), "{r:.80}");
    // Many concurrent scrapes all succeed (within the cap) and ingestion completed.
    let scrapes: Vec<_> = (0..12)
        .map(|_| tokio::spawn(async move { http_get(addr, "/metrics").await.0 }))
        .collect();
    for s in scrapes {
        assert_eq!(s.await.unwrap(), 200);
    }
    eventually(Duration::from_secs(30), "all events ingested", || async {
        (scrape(addr)
            .await
            .get("lanewatch_events_received_total", &[])
            == Some(3000.0))
        .then_some(())
    })
    .await;
    shutdown.cancel();
    running.wait().await.unwrap();
}

/// Basic auth under a flood of wrong credentials (issue #14): an unknown user costs a
/// bcrypt check like a wrong password (no user enumeration by timing); bcrypt work is
/// bounded to `BCRYPT_SHARE` per second (beyond: 429 Retry-After), so the flood cannot
/// take the CPU; a scraper whose credentials were verified is never refused; and the
/// scheme is case-insensitive (RFC 7617).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_passwords_takes_bounded_bcrypt_work_and_no_user_is_revealed() {
    use base64::Engine;
    let hash = bcrypt::hash("right-pass", 8).unwrap();
    let (_dir, config) = web_config(&format!("basic_auth_users:\n  admin: {hash}\n"), "");
    let server = HttpServer::bind(&config.http, Metrics::new(), Arc::new(Health::default()))
        .await
        .unwrap();
    let url = format!("http://{}/metrics", server.local_addr());
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));
    let basic = |scheme: &str, cred: &str| {
        format!(
            "{scheme} {}",
            base64::engine::general_purpose::STANDARD.encode(cred)
        )
    };
    let results = tokio::task::spawn_blocking(move || {
        let client = reqwest::blocking::Client::new();
        let get = |auth: &str| {
            let r = client
                .get(&url)
                .header("authorization", auth)
                .send()
                .unwrap();
            (r.status().as_u16(), r.text().unwrap_or_default())
        };
        let right = basic("basic", "admin:right-pass");
        let counter = |body: &str, name: &str| -> f64 {
            support::Metrics::parse(body).get(name, &[]).unwrap_or(0.0)
        };
        let bcrypt_s = |get: &dyn Fn(&str) -> (u16, String)| {
            let (code, body) = get(&right);
            assert_eq!(code, 200);
            counter(&body, "lanewatch_http_auth_bcrypt_seconds_total")
        };
        // Lower-case scheme: verified (and so cached) once.
        let (code, _) = get(&right);
        assert_eq!(code, 200, "`basic` is the Basic scheme (RFC 7617)");
        std::thread::sleep(Duration::from_millis(1_100));
        // An unknown user costs a bcrypt check like a known user's wrong password.
        let before = bcrypt_s(&get);
        assert_eq!(get(&basic("Basic", "nobody:right-pass")).0, 401);
        let unknown = bcrypt_s(&get) - before;
        std::thread::sleep(Duration::from_millis(1_100));
        assert_eq!(get(&basic("Basic", "admin:wrong")).0, 401);
        let wrong = bcrypt_s(&get) - before - unknown;
        assert!(
            unknown > 0.3 * wrong && wrong > 0.3 * unknown,
            "an unknown user took {unknown:.4} s of bcrypt, a wrong password {wrong:.4} s"
        );
        // The flood: six clients sending wrong credentials for three seconds, while a
        // verified scraper keeps scraping.
        std::thread::sleep(Duration::from_millis(1_100));
        let before = bcrypt_s(&get);
        let start = Instant::now();
        let flood: Vec<_> = (0..6)
            .map(|i| {
                let url = url.clone();
                let auth = basic(
                    "Basic",
                    if i % 2 == 0 {
                        "admin:guess"
                    } else {
                        "root:guess"
                    },
                );
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    let mut codes = Vec::new();
                    while start.elapsed() < Duration::from_secs(3) {
                        let r = client.get(&url).header("authorization", &auth).send();
                        codes.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
                    }
                    codes
                })
            })
            .collect();
        let mut scraper = Vec::new();
        while start.elapsed() < Duration::from_secs(3) {
            scraper.push(get(&right).0);
            std::thread::sleep(Duration::from_millis(100));
        }
        let codes: Vec<u16> = flood.into_iter().flat_map(|t| t.join().unwrap()).collect();
        let elapsed = start.elapsed().as_secs_f64();
        let spent = bcrypt_s(&get) - before;
        (codes, scraper, elapsed, spent, wrong.max(unknown))
    })
    .await
    .unwrap();
    let (codes, scraper, elapsed, spent, one) = results;
    assert!(
        scraper.iter().all(|&c| c == 200),
        "verified scraper refused: {scraper:?}"
    );
    assert!(!codes.contains(&200), "a wrong password was let in");
    let throttled = codes.iter().filter(|&&c| c == 429).count();
    let denied = codes.iter().filter(|&&c| c == 401).count();
    assert!(
        throttled > 0 && denied > 0,
        "401: {denied}, 429: {throttled}"
    );
    eprintln!(
        "flood of {elapsed:.1} s: {denied} × 401, {throttled} × 429, bcrypt {spent:.3} s ({:.0}% of one core), {} verified scrapes all 200",
        100.0 * spent / elapsed,
        scraper.len()
    );
    // Per one-second window at most the budget plus the check that crossed it.
    let windows = elapsed.ceil() + 1.0;
    let bound = windows * (lanewatch::export::auth::BCRYPT_SHARE.as_secs_f64() + one);
    assert!(
        spent <= bound,
        "bcrypt took {spent:.3} s in {elapsed:.1} s of flood (bound {bound:.3} s; {denied} × 401, {throttled} × 429)"
    );
    stop.cancel();
    task.await.unwrap();
}

/// A TLS port under clients that hold connections (issue #14: with mTLS, plain TCP
/// connections that never handshake held every slot and the valid client failed 28 of
/// 28 times; the busy answer was a plaintext `HTTP/1.1 503` on the TLS port). Six
/// connections that never start a handshake hold no slot: a scrape still succeeds.
/// Over the cap (two established TLS connections idling in the two slots) the probe is
/// still answered and a scrape gets a valid 503, both over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_port_serves_despite_silent_connections_and_answers_over_the_cap() {
    require!(Need::Tool("curl"), Need::Tool("openssl"));
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "server");
    std::fs::write(
        dir.path().join("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("lanewatch.toml"),
        "[http]\nlisten = \"127.0.0.1:0\"\nweb_config_file = \"web.yml\"\nmax_connections = 2\nheader_read_timeout = \"20s\"\n",
    )
    .unwrap();
    let config = Config::load(&dir.path().join("lanewatch.toml")).unwrap();
    let server = HttpServer::bind(&config.http, Metrics::new(), Arc::new(Health::default()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));
    let ca = dir.path().join("ca.crt").to_str().unwrap().to_string();
    let base = format!("https://127.0.0.1:{}", addr.port());
    // Six connections that never start a handshake (fewer than the pool of 4 × 2
    // connections being shaken hands with or answered busy).
    let silent: Vec<TcpStream> = (0..6).map(|_| TcpStream::connect(addr).unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ca2, base2) = (ca.clone(), base.clone());
    let scrape =
        tokio::task::spawn_blocking(move || curl(&["--cacert", &ca2, &format!("{base2}/metrics")]))
            .await
            .unwrap();
    assert_eq!(
        scrape.status, "200",
        "scrape beside silent connections: {}",
        scrape.body
    );
    // Two established TLS connections, idle, take both slots.
    let holders: Vec<Kill> = (0..2)
        .map(|_| {
            Kill(
                Command::new("openssl")
                    .args(["s_client", "-quiet", "-CAfile", &ca, "-connect"])
                    .arg(addr.to_string())
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("openssl runs"),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (health, metrics) = tokio::task::spawn_blocking(move || {
        (
            curl(&["--cacert", &ca, &format!("{base}/healthz")]),
            curl(&["--cacert", &ca, &format!("{base}/metrics")]),
        )
    })
    .await
    .unwrap();
    assert_eq!(health.status, "200", "probe over the cap: {}", health.body);
    assert_eq!(
        metrics.status, "503",
        "scrape over the cap: {}",
        metrics.body
    );
    assert!(metrics.body.contains("busy"), "{}", metrics.body);
    drop((holders, silent));
    stop.cancel();
    task.await.unwrap();
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
