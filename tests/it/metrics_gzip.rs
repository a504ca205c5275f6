//! `/metrics` gzipped when the scraper asks (Prometheus sends `Accept-Encoding: gzip`):
//! the body decompresses to the same exposition as the plain one, several times
//! smaller (a real Prometheus, which asks for gzip, scrapes it in tests/it/e2e_alerts/),
//! and a region's body, gzipped in two members on two threads, is read whole by a real
//! Prometheus.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use lanewatch::Config;
use lanewatch::export::http::HttpServer;
use lanewatch::export::metrics::Metrics;
use lanewatch::health::Health;
use lanewatch::pipeline::Pipeline;
use tokio_util::sync::CancellationToken;

/// `GET /metrics` with these extra request headers (`Name: value\r\n` lines): (status
/// line + headers, lower case; body bytes as sent).
async fn get(addr: std::net::SocketAddr, extra: &str) -> (String, Vec<u8>) {
    let headers: Vec<(&str, &str)> = extra
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let (head, body) = crate::support::http::http_get_with(addr, "/metrics", &headers).await;
    (head.to_ascii_lowercase(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_gzipped_when_asked_and_decompress_to_the_plain_exposition() {
    // The shipped registry's lanes with a few passages: a body of realistic shape.
    let config = Config::shipped();
    let mut pipeline = Pipeline::new(&config);
    for i in 0..200 {
        let ev = format!(
            r#"{{"event_id":"e{i}","checkpoint":"baimiao","direction":"inbound","lane":"0{}","arrived_at":{},"inspection_started_at":{},"departed_at":{}}}"#,
            1 + i % 4,
            1_000_000 + i * 10_000,
            1_060_000 + i * 10_000,
            1_090_000 + i * 10_000
        );
        pipeline.apply(ev.as_bytes(), None);
    }
    let metrics = Metrics::new();
    metrics.register(lanewatch::export::engine::collectors(&pipeline));
    metrics.add_lanes(pipeline.lane_series());
    let mut http = config.http.clone();
    http.listen = "127.0.0.1:0".parse().unwrap();
    let server = HttpServer::bind(&http, metrics, Arc::new(Health::default()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));

    let (plain_head, plain) = get(addr, "").await;
    assert!(plain_head.starts_with("http/1.1 200"), "{plain_head}");
    assert!(!plain_head.contains("content-encoding"), "{plain_head}");
    assert!(plain_head.contains("vary: accept-encoding"), "{plain_head}");

    // As Prometheus asks.
    let (gz_head, gz) = get(addr, "Accept-Encoding: gzip\r\n").await;
    assert!(gz_head.contains("content-encoding: gzip"), "{gz_head}");
    let mut unzipped = String::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_string(&mut unzipped)
        .expect("a valid gzip stream");
    // Nothing moves between the two scrapes but the wall-clock gauges.
    let stable = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("lanewatch_newest_event_age_seconds"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        stable(&unzipped),
        stable(&String::from_utf8(plain.clone()).unwrap())
    );
    assert!(
        gz.len() * 5 < plain.len(),
        "gzip {} bytes vs plain {}",
        gz.len(),
        plain.len()
    );
    eprintln!(
        "/metrics: {} bytes plain, {} gzipped",
        plain.len(),
        gz.len()
    );

    // Refused or not offered: plain.
    for refuse in ["Accept-Encoding: gzip;q=0\r\n", "Accept-Encoding: br\r\n"] {
        let (head, body) = get(addr, refuse).await;
        assert!(!head.contains("content-encoding"), "{refuse}: {head}");
        assert!(body.starts_with(b"# HELP"), "{refuse}");
    }
    stop.cancel();
    let _ = task.await;
}

/// A region's exposition (over a megabyte) is gzipped in two halves at once, as two
/// gzip members: a real Prometheus scraping it (asking for gzip) stores every sample,
/// and a decoder of concatenated members gives back the plain exposition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_gzipped_in_two_members_is_scraped_whole_by_prometheus() {
    let mut config = Config::shipped();
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    let lanes = 1000;
    let metrics = crate::support::metrics_of_lanes(&config, lanes, 8);
    let server = HttpServer::bind(&config.http, metrics, Arc::new(Health::default()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));

    let (_, plain) = get(addr, "").await;
    assert!(plain.len() > 1 << 20, "a body of {} bytes", plain.len());
    let (head, gz) = get(addr, "Accept-Encoding: gzip\r\n").await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let members = gz.windows(3).filter(|w| *w == [0x1f, 0x8b, 0x08]).count();
    assert!(members >= 2, "{members} gzip member(s)");
    let mut unzipped = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .expect("a valid gzip stream");
    assert!(
        unzipped == plain,
        "the members decompress to the plain exposition"
    );
    let samples = plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .count();

    let dir = tempfile::tempdir().unwrap();
    let target = addr.to_string();
    let prom = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || crate::support::prometheus::Prometheus::scraping(&dir, &target)
    })
    .await
    .unwrap();
    let scraped = crate::support::eventually(Duration::from_secs(30), "a scrape", || async {
        let up = prom.value("up{job=\"lanewatch\"}").await?;
        (up == 1.0).then_some(())?;
        prom.value("scrape_samples_scraped{job=\"lanewatch\"}")
            .await
    })
    .await;
    assert_eq!(
        scraped, samples as f64,
        "samples Prometheus read of the gzipped body"
    );
    let lanes_seen = prom.value("count(lanewatch_passages_total)").await;
    assert_eq!(lanes_seen, Some(lanes as f64));
    drop(prom);
    stop.cancel();
    let _ = task.await;
}
