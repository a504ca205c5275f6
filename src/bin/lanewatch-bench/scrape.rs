//! `lanewatch-bench scrape`: the live service drains a topic whose events touched every
//! lane, then `/metrics` is fetched over real HTTP (a new connection each time, as a
//! Prometheus restart or a `curl` would) `--scrapes` times. Figures: median and p99
//! scrape time, body size, series count, and the resident memory with that many lanes
//! (before the scrapes, and the peak, which includes the bench's own copy of a body).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::BenchError;
use crate::live::{self, LiveArgs};
use crate::proc;

#[derive(Debug, Clone, clap::Args)]
pub struct ScrapeArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Events in the topic (each lane at least once): scrapes start once all are in.
    #[arg(long)]
    pub events: u64,
    #[arg(long, default_value_t = 50)]
    pub scrapes: usize,
    /// Ask for gzip, as Prometheus does (`Accept-Encoding: gzip`).
    #[arg(long)]
    pub gzip: bool,
    /// Ask for the protobuf exposition, as Prometheus does with native histograms
    /// (`--native-histograms` makes the service serve it).
    #[arg(long)]
    pub protobuf: bool,
}

pub async fn run(a: ScrapeArgs, shutdown: CancellationToken) -> Result<(), BenchError> {
    let stop = shutdown.child_token();
    let (running, progress) = live::start(&a.live, stop.clone()).await?;
    let addr = running.addr;
    let result = async {
        live::wait_applied(&progress, a.events, Duration::from_secs(60)).await?;
        let rss_lanes = proc::rss_mib();
        let (_, body) = live::get(addr, "/metrics").await?; // warm-up
        let lanes_exported = body
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"lanewatch_passages_total{"))
            .count();
        let series = body.split(|&b| b == b'\n').filter(|l| !l.is_empty() && l[0] != b'#').count();
        let mut ms = Vec::with_capacity(a.scrapes);
        // One buffer for every response, sized for the body: the time is the server's
        // and the socket's, not the client's reallocations.
        let mut buf = Vec::with_capacity(body.len() + body.len() / 4 + (1 << 16));
        let mut wire = 0;
        let mut headers = String::new();
        if a.gzip {
            headers.push_str("Accept-Encoding: gzip\r\n");
        }
        if a.protobuf {
            headers.push_str(concat!(
                "Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;",
                "encoding=delimited,text/plain;version=0.0.4;q=0.5\r\n"
            ));
        }
        for _ in 0..a.scrapes {
            let t = Instant::now();
            let status = live::get_into(addr, "/metrics", &headers, &mut buf).await?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            if status != 200 {
                return Err(BenchError::Http(format!("/metrics answered {status}")));
            }
            wire = buf.len();
        }
        let protobuf = memchr::memmem::find(&buf, b"vnd.google.protobuf").is_some();
        if a.protobuf && !protobuf {
            return Err(BenchError::Http("asked for protobuf, got text".into()));
        }
        let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
        println!(
            "bench=scrape lanes={} lanes_exported={lanes_exported} series={series} body_bytes={} gzip={} protobuf={protobuf} native={} wire_bytes={wire} scrapes={} \
             scrape_ms_p50={:.2} scrape_ms_p99={:.2} scrape_ms_mean={mean:.2} rss_mib={rss_lanes:.1} peak_rss_mib={:.1}",
            a.live.lanes,
            body.len(),
            a.gzip,
            a.live.native_histograms,
            a.scrapes,
            proc::quantile(&mut ms, 0.5),
            proc::quantile(&mut ms, 0.99),
            proc::peak_rss_mib()
        );
        Ok(())
    }
    .await;
    stop.cancel();
    running.wait().await?;
    result
}
