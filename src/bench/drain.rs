//! `bench drain`: the live service started in this process on a fresh consumer group
//! drains a pre-loaded topic. Figures: wall time from start to the `n`th event applied
//! (and from the first), process CPU seconds per million events, and the RSS sampled
//! every second from the first event on (first/mid/last/max) with the peak (`VmHWM`).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::BenchError;
use super::live::{self, LiveArgs};
use super::proc::{self, RssSampler};

#[derive(Debug, Clone, clap::Args)]
pub struct DrainArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Events in the topic: the run ends when this many were applied.
    #[arg(long)]
    pub events: u64,
}

pub async fn run(a: DrainArgs, shutdown: CancellationToken) -> Result<(), BenchError> {
    let cpu0 = proc::cpu_seconds();
    let t0 = Instant::now();
    let stop = shutdown.child_token();
    let (running, progress) = live::start(&a.live, stop.clone()).await?;
    let addr = running.addr;
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
    // The counter the live service exports agrees with what the observer saw.
    let (_, body) = live::get(addr, "/metrics").await?;
    let received = live::sample(&body, "lanewatch_events_received_total", &[]).unwrap_or(f64::NAN);
    let peak = proc::peak_rss_mib();
    stop.cancel();
    let (summary, _) = running.wait().await?;
    let n = a.events as f64;
    let total = (end - t0).as_secs_f64();
    let steady = (end - first).as_secs_f64();
    println!(
        "bench=drain topic={} lanes={} events={} received_total={received} seconds={total:.3} events_per_second={:.0} \
         seconds_from_first={steady:.3} events_per_second_from_first={:.0} cpu_seconds={:.2} cpu_seconds_per_million={:.3} \
         rss_samples={} rss_first_mib={:.1} rss_mid_mib={:.1} rss_last_mib={:.1} rss_max_mib={:.1} peak_rss_mib={peak:.1} \
         final_commit_ok={}",
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
        summary.final_commit_ok
    );
    Ok(())
}
