//! `lanewatch-bench drain`: the live service started in this process on a fresh
//! consumer group drains a pre-loaded topic. Figures: wall time from start to the `n`th
//! event applied (and from the first), process CPU seconds per million events, and the
//! RSS sampled every second from the first event on (first/mid/last/max) with the peak
//! (`VmHWM`).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::BenchError;
use crate::live::{self, LiveArgs};
use crate::proc::{self, RssSampler};

#[derive(Debug, Clone, clap::Args)]
pub struct DrainArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Events in the topic: the run ends when this many were applied.
    #[arg(long)]
    pub events: u64,
    /// Meanwhile, this many clients send `/metrics` requests with a wrong password (a
    /// bcrypt user is configured): the pipeline's throughput under that flood.
    #[arg(long, default_value_t = 0)]
    pub flood_wrong_passwords: usize,
}

pub async fn run(a: DrainArgs, shutdown: CancellationToken) -> Result<(), BenchError> {
    let cpu0 = proc::cpu_seconds();
    let t0 = Instant::now();
    let stop = shutdown.child_token();
    let web = tempfile_web_config(a.flood_wrong_passwords > 0)?;
    let mut live_args = a.live.clone();
    live_args.web_config = web.as_ref().map(|(_, p)| p.clone());
    let (running, progress) = live::start(&live_args, stop.clone()).await?;
    let addr = running.addr;
    let flood = Flood::start(addr, a.flood_wrong_passwords);
    // Group join and metadata come first: start sampling with the first event.
    let (first, _) = live::wait_applied(&progress, 1, Duration::from_secs(60)).await?;
    let sampler = RssSampler::start();
    let waited = live::wait_applied(&progress, a.events, Duration::from_secs(30)).await;
    let cpu1 = proc::cpu_seconds();
    let rss = sampler.finish();
    let end = match waited {
        Ok((_, end)) => end,
        Err(e) => {
            stop.cancel();
            let _ = running.wait().await;
            return Err(e);
        }
    };
    let (flood_401, flood_429) = flood.stop().await;
    // Before this process's own `/metrics` request below: the client's buffers are
    // the benchmark's, not the service's.
    let peak = proc::peak_rss_mib();
    // The counter the live service exports agrees with what the observer saw.
    let received = if web.is_some() {
        f64::NAN // /metrics needs the password: not fetched
    } else {
        let (_, body) = live::get(addr, "/metrics").await?;
        live::sample(&body, "lanewatch_events_received_total", &[]).unwrap_or(f64::NAN)
    };
    stop.cancel();
    let (summary, _) = running.wait().await?;
    let n = a.events as f64;
    let total = (end - t0).as_secs_f64();
    let steady = (end - first).as_secs_f64();
    println!(
        "bench=drain topic={} lanes={} events={} received_total={received} seconds={total:.3} events_per_second={:.0} \
         seconds_from_first={steady:.3} events_per_second_from_first={:.0} cpu_seconds={:.2} cpu_seconds_per_million={:.3} \
         rss_samples={} rss_first_mib={:.1} rss_mid_mib={:.1} rss_last_mib={:.1} rss_max_mib={:.1} peak_rss_mib={peak:.1} \
         final_commit_ok={} flood_clients={} flood_401={flood_401} flood_429={flood_429}",
        a.live.topic,
        a.live.lanes,
        a.events,
        n / total,
        n / steady,
        cpu1 - cpu0,
        (cpu1 - cpu0) / n * 1e6,
        rss.samples,
        rss.first,
        rss.mid,
        rss.last,
        rss.max,
        summary.final_commit_ok,
        a.flood_wrong_passwords,
    );
    drop(web);
    Ok(())
}

/// A web config with one bcrypt user (cost 10, as `htpasswd -B` makes), in a temporary
/// directory that lives as long as the returned value.
fn tempfile_web_config(wanted: bool) -> Result<Option<(TempDir, std::path::PathBuf)>, BenchError> {
    if !wanted {
        return Ok(None);
    }
    let io = |source| BenchError::HttpIo {
        what: "web config".into(),
        source,
    };
    let dir = TempDir::new()?;
    let hash = bcrypt::hash("right-password", 10).map_err(BenchError::Bcrypt)?;
    let path = dir.0.join("web.yml");
    std::fs::write(&path, format!("basic_auth_users:\n  prometheus: {hash}\n")).map_err(io)?;
    Ok(Some((dir, path)))
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Result<Self, BenchError> {
        let p = std::env::temp_dir().join(format!(
            "lanewatch-bench-{}-{}",
            std::process::id(),
            lanewatch::time::now_ms()
        ));
        std::fs::create_dir_all(&p).map_err(|source| BenchError::HttpIo {
            what: p.display().to_string(),
            source,
        })?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Clients sending `/metrics` requests with a wrong password as fast as answered.
struct Flood {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<(u64, u64)>>,
}

impl Flood {
    fn start(addr: std::net::SocketAddr, clients: usize) -> Flood {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stop = CancellationToken::new();
        let tasks = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    // base64("prometheus:wrong")
                    let req = format!(
                        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic cHJvbWV0aGV1czp3cm9uZw==\r\nConnection: close\r\n\r\n"
                    );
                    let (mut denied, mut throttled) = (0, 0);
                    while !stop.is_cancelled() {
                        let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                            continue;
                        };
                        if s.write_all(req.as_bytes()).await.is_err() {
                            continue;
                        }
                        let mut buf = Vec::new();
                        let _ = s.read_to_end(&mut buf).await;
                        match buf.get(9..12) {
                            Some(b"401") => denied += 1,
                            Some(b"429") => throttled += 1,
                            _ => {}
                        }
                    }
                    (denied, throttled)
                })
            })
            .collect();
        Flood { stop, tasks }
    }

    async fn stop(self) -> (u64, u64) {
        self.stop.cancel();
        let mut total = (0, 0);
        for t in self.tasks {
            if let Ok((d, th)) = t.await {
                total = (total.0 + d, total.1 + th);
            }
        }
        total
    }
}
