//! The live service as the benchmarks run it: `lanewatch::run::start_with` in this
//! process, on a fresh consumer group, with an observer that publishes how many events
//! were applied (one relaxed store per event) so a run can end the moment the last one
//! is in; plus a plain HTTP/1.1 client for `/metrics` and `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::BenchError;
use lanewatch::config::{Config, Registry};
use lanewatch::event::Event;
use lanewatch::pipeline::Observer;
use lanewatch::run::Running;

/// Connection flags shared by the live benchmarks.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    #[arg(long)]
    pub brokers: String,
    #[arg(long)]
    pub topic: String,
    /// Consumer group (default: a fresh one, so the topic is read from the start).
    #[arg(long)]
    pub group: Option<String>,
    /// Lanes in the data (the dynamic-lane cap is raised to this).
    #[arg(long, default_value_t = 1_000)]
    pub lanes: usize,
    /// `source.queued_max_messages_kbytes` (default: the configuration's default).
    #[arg(long)]
    pub queued_max_kbytes: Option<u32>,
    /// `source.max_partition_drift` (default: the configuration's default).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_partition_drift: Option<std::time::Duration>,
    /// Keep native histograms too (`buckets.native_histograms`, default schema).
    #[arg(long)]
    pub native_histograms: bool,
    /// An exporter-toolkit web config for the HTTP endpoints (TLS, basic auth).
    #[arg(skip)]
    pub web_config: Option<std::path::PathBuf>,
}

/// Counts the events the pipeline applied, readable from other threads.
#[derive(Clone, Default)]
pub struct Progress(Arc<AtomicU64>, u64);

impl Progress {
    pub fn applied(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl lanewatch::lanes::Observer for Progress {
    fn accepted(&mut self, _lane: u32, _ev: &Event<'_>, _late: bool) {
        self.1 += 1;
        self.0.store(self.1, Ordering::Relaxed);
    }
}

impl Observer for Progress {}

/// The configuration of a live benchmark: built-in defaults, no registry, every lane
/// dynamic, HTTP on a free loopback port, dead letters to `<topic>.dlq`.
pub fn config(a: &LiveArgs) -> Config {
    let mut c = Config::with_registry(Registry::default());
    c.source.brokers = a.brokers.clone();
    c.source.topic = a.topic.clone();
    c.source.group_id = a.group.clone().unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("lanewatch-bench-{}-{nanos}", std::process::id())
    });
    c.source.dead_letter_topic = Some(format!("{}.dlq", a.topic));
    if let Some(k) = a.queued_max_kbytes {
        c.source.queued_max_messages_kbytes = k;
    }
    if let Some(d) = a.max_partition_drift {
        c.source.max_partition_drift = d;
    }
    c.max_dynamic_lanes = a.lanes.max(c.max_dynamic_lanes);
    c.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.http.web_config_file = a.web_config.clone();
    if a.native_histograms {
        c.buckets.native_schema = Some(lanewatch::config::DEFAULT_NATIVE_SCHEMA);
    }
    c
}

/// Start the live service with a [`Progress`] observer.
pub async fn start(
    a: &LiveArgs,
    shutdown: CancellationToken,
) -> Result<(Running<Progress>, Progress), BenchError> {
    let progress = Progress::default();
    let running = lanewatch::run::start_with(&config(a), progress.clone(), shutdown).await?;
    Ok((running, progress))
}

/// Wait until `progress` reaches `n` (polled every millisecond); `Err` after `timeout`
/// without progress. Returns when the first event was applied and when the `n`th was.
pub async fn wait_applied(
    progress: &Progress,
    n: u64,
    stall_timeout: Duration,
) -> Result<(Instant, Instant), BenchError> {
    let mut first = None;
    let mut last_seen = (0, Instant::now());
    loop {
        let now = Instant::now();
        let got = progress.applied();
        if got > 0 && first.is_none() {
            first = Some(now);
        }
        if got >= n {
            return Ok((first.unwrap_or(now), now));
        }
        if got != last_seen.0 {
            last_seen = (got, now);
        } else if now - last_seen.1 > stall_timeout {
            return Err(BenchError::Incomplete(format!(
                "{got} of {n} events applied, none for {stall_timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Wait until `/readyz` answers 200.
pub async fn wait_ready(addr: SocketAddr, timeout: Duration) -> Result<(), BenchError> {
    let deadline = Instant::now() + timeout;
    loop {
        if get(addr, "/readyz").await?.0 == 200 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Incomplete(format!(
                "not ready within {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET path` over HTTP/1.1 on a new connection, as a scraper reads it: the response
/// (head and body, as sent) into `buf`, which keeps its capacity from one call to the
/// next, so the timing is the server's and the socket's, not this client's copies.
/// `headers`: more request headers (`Name: value\r\n` lines), e.g. to ask for gzip
/// as Prometheus does. Returns the status code.
pub async fn get_into(
    addr: SocketAddr,
    path: &str,
    headers: &str,
    buf: &mut Vec<u8>,
) -> Result<u16, BenchError> {
    let io = |source| BenchError::HttpIo {
        what: format!("GET http://{addr}{path}"),
        source,
    };
    let mut s = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    s.set_nodelay(true).map_err(io)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.map_err(io)?;
    buf.clear();
    s.read_to_end(buf).await.map_err(io)?;
    let status = buf
        .get(9..12)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(status)
}

/// `GET path` over HTTP/1.1 on a new connection; the status code and the body.
pub async fn get(addr: SocketAddr, path: &str) -> Result<(u16, Vec<u8>), BenchError> {
    let io = |source| BenchError::HttpIo {
        what: format!("GET http://{addr}{path}"),
        source,
    };
    let mut s = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    s.set_nodelay(true).map_err(io)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.map_err(io)?;
    let mut buf = Vec::with_capacity(1 << 16);
    s.read_to_end(&mut buf).await.map_err(io)?;
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| BenchError::Http(format!("GET {path}: no header end")))?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf.split_off(end + 4);
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&body)
    } else {
        body
    };
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let n = std::str::from_utf8(&b[..nl])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        let data = &b[nl + 2..];
        out.extend_from_slice(&data[..n.min(data.len())]);
        b = data.get(n + 2..).unwrap_or_default();
    }
    out
}

/// The value of the first sample of `name` whose label set contains every `labels`
/// pair (`key="value"`), in a text exposition.
pub fn sample(body: &[u8], name: &str, labels: &[&str]) -> Option<f64> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .find(|l| labels.iter().all(|kv| l.contains(kv)))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}
